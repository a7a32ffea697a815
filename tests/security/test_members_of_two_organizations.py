"""A member of two organizations gets, on A's objects, exactly what their role in A allows.

The hole this closes: a streamer of A who owned another organization acted as an admin on A's
rooms, because the role was read in the organization selected in the session. Here people who
belong to A and B with different roles (streamer in A and owner in B, admin in A and streamer
in B, …), with either organization selected, send every method to every web page that names one
of A's objects (the isolation map's `of_a` entries; the APIs take a token of one organization,
and the admission webhook OME's signature, so a member's sessions do not reach them). Each answer — status, redirect and what
changed in A — must be the one a member of A alone with the same role gets. Pages about the
selected organization (`scope="selected"`: members, invitations, API tokens) may refuse them
while B is selected, never grant more.

Pairs with the same role in both organizations are left out: there the role in the wrong
organization would be the same role.
"""

from __future__ import annotations

import pytest

from organizations.models import Membership, User

from . import probe
from .url_map import OF_A, build_path, entry_for, hijack, site_urls
from .world import ROLES, Holdings, World

SUITE = "two organizations"
PAIRS = [(role_a, role_b) for role_a in ROLES for role_b in ROLES if role_a != role_b]


def _of_a_pages():
    """The web pages that name an object of A (the APIs take a token of one organization, not a member)."""
    return [
        url
        for url in site_urls()
        if (entry := entry_for(url)) is not None
        and entry.kind == OF_A
        and not url.route.startswith(("api/", "v1/", "ome/"))
    ]


PAGES = _of_a_pages()


@pytest.fixture(scope="module")
def people(world: World, django_db_blocker):
    """Members of A alone (one per role) and members of A and B (one per pair of different roles)."""
    with django_db_blocker.unblock():
        alone = {}
        for role in ROLES:
            alone[role] = User.objects.create_user(email=f"only-{role}@one.test")
            Membership.objects.create(user=alone[role], organization=world.a.organization, role=role)
        both = {}
        for role_a, role_b in PAIRS:
            user = User.objects.create_user(email=f"{role_a}-and-{role_b}@both.test")
            Membership.objects.create(user=user, organization=world.a.organization, role=role_a)
            Membership.objects.create(user=user, organization=world.b.organization, role=role_b)
            both[role_a, role_b] = user
        world.holdings = Holdings(world.a)  # A's baseline now includes its new members
    yield alone, both
    with django_db_blocker.unblock():
        User.objects.filter(pk__in=[user.pk for user in [*alone.values(), *both.values()]]).delete()


def _answer(outcome: probe.Outcome) -> tuple:
    return outcome.status, outcome.redirect_path, outcome.changes


def _describe(answer: tuple) -> str:
    status, location, changes = answer
    return f"{status}" + (f" → {location}" if location else "") + (f", changing A: {changes}" if changes else "")


@pytest.mark.parametrize("url", PAGES, ids=[url.key for url in PAGES])
def test_a_member_of_two_organizations_gets_exactly_their_role_in_a(url, world, people, unthrottled, db):
    alone, both = people
    entry = entry_for(url)
    a, b = world.a.organization.pk, world.b.organization.pk
    references = {role: probe.session_identity(f"A's {role} (member of A only)", alone[role]) for role in ROLES}
    duals = []
    for (role_a, role_b), user in both.items():
        for selected, organization_id in (("A", a), ("B", b)):
            label = f"{role_a} in A and {role_b} in B, {selected} selected"
            duals.append((role_a, selected, probe.session_identity(label, user, organization_id=organization_id)))
    failures = []
    # A's objects only (not B's room with A's destination in it), and not the public player pages
    # of A's public room, which are the same for everyone.
    fills = [
        fill
        for fill in entry.fills(world)
        if entry.expectation(fill) == OF_A and world.b.prefix not in build_path(url, fill) + str(fill.body)
    ]
    assert fills, f"the map fills {url.key} only with B's objects"
    for fill in fills:
        path = build_path(url, fill)
        body = fill.body if fill.body is not None else hijack(world, path)
        for method in probe.METHODS:
            expected = {
                role: _answer(probe.send(world, who, method, path, body, suite=SUITE))
                for role, who in references.items()
            }
            for role_a, selected, who in duals:
                outcome = probe.send(world, who, method, path, body, suite=SUITE)
                got = _answer(outcome)
                if got == expected[role_a]:
                    continue
                if entry.scope == "selected" and selected == "B" and outcome.is_refusal and not outcome.changes:
                    continue  # a page about the selected organization (B) that does not know A's object
                failures.append(
                    f"{who.label}: {method} {path} answered {_describe(got)}; "
                    f"a {role_a} of A alone gets {_describe(expected[role_a])}"
                )
    assert not failures, f"{len(failures)} answers differ from the role in A:\n" + "\n".join(failures[:30])
