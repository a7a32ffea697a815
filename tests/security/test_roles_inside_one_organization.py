"""Inside one organization, every action reserved to owners or admins is refused to lower roles.

The list of those actions is read from the code, so a new one is covered without anyone
keeping a list: web pages decorated with `member_required(<role>)` (the decorator leaves the
role on the view as `required_role`), and REST API actions listed in a viewset's `roles`.
Each is sent with every method by each lower role of organization A — signed in for pages,
with A's API token of that role for the API — and must be refused (403, or 405 for a method
the view does not take), with a message on the API, and change nothing; the lowest role that
may do it is not refused (so the refusals are about the role, not a broken URL).

The rules that live in services rather than in decorators (organizations/services.py: only an owner
makes owners or touches an owner; api/services.py: a token has at most its creator's role;
only an owner revokes an owner token) are tested one by one at the end, as is the original
stack's API (/v1/), whose actions must never need less than their REST API counterparts.
"""

from __future__ import annotations

import re

import pytest

from api import compat
from api.viewsets import PushViewSet, RecordingViewSet, RoomViewSet
from organizations.models import ROLE_RANK, Invitation, Membership, Role

from . import probe
from .url_map import OF_A, OWN, build_path, entry_for, hijack, site_urls
from .world import ROLES, World, basic

SUITE = "roles"
NEW_TOKEN = re.compile(r"sst_[A-Za-z0-9_-]{40,}")  # a whole token; the list shows only their first characters


def _lower(role: str) -> list[str]:
    return [other for other in ROLES if ROLE_RANK[Role(other)] < ROLE_RANK[Role(role)]]


def ui_role_gated():
    """(URL, role) of every web page whose view is decorated with member_required(<role>)."""
    found = []
    for url in site_urls():
        role = getattr(url.callback, "required_role", None)
        if role is not None and _lower(role):
            found.append((url, role))
    return found


def api_role_gated():
    """(URL, method, action, role) of every REST API action a viewset's `roles` reserves."""
    found = []
    for url in site_urls():
        view_class, actions = getattr(url.callback, "cls", None), getattr(url.callback, "actions", None) or {}
        for method, action in actions.items():
            role = getattr(view_class, "roles", {}).get(action)
            if role is not None and _lower(role):
                found.append((url, method.upper(), action, role))
    return found


UI_GATED = ui_role_gated()
API_GATED = api_role_gated()


def test_the_reserved_actions_are_found_in_the_code():
    """The derivation must see the actions we know of, or the tests below would prove nothing."""
    ui = {url.key for url, _role in UI_GATED}
    assert {"rooms:create", "rooms:edit", "rooms:delete", "rooms:rotate_key", "rooms:embed_link_create"} <= ui
    assert {"rooms:embed_links_revoke", "member_role", "invitation_revoke", "api:tokens", "api:token_revoke"} <= ui
    api = {(url.key, method) for url, method, _action, _role in API_GATED}
    assert {("api:room-list", "POST"), ("api:room-detail", "PUT"), ("api:room-detail", "PATCH")} <= api
    assert {("api:room-detail", "DELETE"), ("api:room-rotate-stream-key", "POST")} <= api
    assert {("api:room-embed-links", "POST"), ("api:room-revoke-embed-links", "POST")} <= api


def _fills(url, world: World):
    entry = entry_for(url)
    return [
        fill
        for fill in entry.fills(world)
        if entry.expectation(fill) in (OF_A, OWN) and world.b.prefix not in build_path(url, fill)
    ]


@pytest.fixture
def members(world, db) -> dict[str, probe.Identity]:
    found = {}
    for role in ROLES:
        found[f"session:{role}"] = probe.session_identity(f"A's {role} (signed in)", world.a.members[role])
        found[f"token:{role}"] = probe.token_identity(f"A's {role} API token", world.a.tokens[role])
    return found


@pytest.mark.parametrize(("url", "role"), UI_GATED, ids=[f"{url.key}-{role}" for url, role in UI_GATED])
def test_a_page_reserved_to_a_role_refuses_every_lower_role(url, role, world, members, unthrottled):
    failures, allowed_answers = [], []
    fills = _fills(url, world)
    assert fills, f"the isolation map gives no way to fill {url.key} with A's objects"
    for fill in fills:
        path = build_path(url, fill)
        body = fill.body if fill.body is not None else hijack(world, path)
        for method in probe.METHODS:
            allowed = probe.send(world, members[f"session:{role}"], method, path, body, suite=SUITE)
            allowed_answers.append(allowed)
            for lower in _lower(role):
                outcome = probe.send(world, members[f"session:{lower}"], method, path, body, suite=SUITE)
                refused = outcome.status == 403 or (outcome.status == 405 and allowed.status == 405)
                if not refused or outcome.changes:
                    failures.append(f"{outcome} (changes in A: {outcome.changes or 'none'})")
    assert not failures, f"{url.key} needs the {role} role, yet:\n" + "\n".join(failures[:30])
    assert any(answer.status not in (403, 404, 405) for answer in allowed_answers), (
        f"even an {role} of A is refused everywhere on {url.key}: the refusals above prove nothing"
    )


@pytest.mark.parametrize(
    ("url", "method", "action", "role"),
    API_GATED,
    ids=[f"{url.key}-{method}-{role}" for url, method, _action, role in API_GATED],
)
def test_an_api_action_reserved_to_a_role_refuses_every_lower_tokens_role(
    url, method, action, role, world, members, unthrottled
):
    failures, allowed_answers = [], []
    for fill in _fills(url, world):
        path = build_path(url, fill)
        body = fill.body if fill.body is not None else hijack(world, path)
        allowed_answers.append(probe.send(world, members[f"token:{role}"], method, path, body, suite=SUITE))
        for lower in _lower(role):
            outcome = probe.send(world, members[f"token:{lower}"], method, path, body, suite=SUITE)
            if outcome.status != 403 or outcome.changes or b"role" not in outcome.content:
                failures.append(f"{outcome}: {outcome.content[:200]!r} (changes in A: {outcome.changes or 'none'})")
    assert allowed_answers, f"the isolation map gives no way to fill {url.key} with A's objects"
    assert not failures, f"{action} needs a token with the {role} role, yet:\n" + "\n".join(failures)
    assert any(answer.status not in (401, 403, 404, 405) for answer in allowed_answers), (
        f"even an {role} token of A is refused on {method} {url.key}: the refusals above prove nothing"
    )


# --- The original stack's API ------------------------------------------------------------------

# Each action of /v1/…/apps/app:ACTION and the REST API action that does the same thing.
COMPAT_COUNTERPARTS = {
    "startPush": (RoomViewSet, "pushes"),
    "stopPush": (PushViewSet, "stop"),
    "pushes": (PushViewSet, "list"),
    "startRecord": (RoomViewSet, "recordings"),
    "stopRecord": (RecordingViewSet, "stop"),
    "records": (RecordingViewSet, "list"),
}


def test_every_action_of_the_original_api_has_a_rest_counterpart_here():
    actions = {action for action, _method in compat._ACTIONS}
    assert actions == set(COMPAT_COUNTERPARTS), (
        "The original API's actions changed: map each to its REST API counterpart in COMPAT_COUNTERPARTS, "
        "so it needs the same role"
    )


@pytest.mark.parametrize("action", sorted(COMPAT_COUNTERPARTS))
def test_the_original_api_needs_the_same_role_as_the_rest_api(action, world, members, unthrottled):
    view_class, rest_action = COMPAT_COUNTERPARTS[action]
    role = view_class.roles.get(rest_action, Role.STREAMER)
    a = world.a
    bodies = {
        "startPush": {"id": "p1", "stream": {"name": a.room.public_id}, "url": "rtmp://live.example.com/app"},
        "stopPush": {"id": a.push.external_id},
        "startRecord": {"id": "r1", "stream": {"name": a.room.public_id}},
        "stopRecord": {"id": a.running_recording.external_id},
    }
    body = {"protocol": "rtmp", **bodies.get(action, {})}
    path = f"/v1/vhosts/default/apps/app:{action}"
    for token_role in ROLES:
        outcome = probe.send(world, members[f"token:{token_role}"], "POST", path, body, suite=SUITE)
        if ROLE_RANK[Role(token_role)] >= ROLE_RANK[Role(role)]:
            assert outcome.status == 200, f"{outcome}: {outcome.content[:300]!r}"
        else:
            assert outcome.status == 403 and not outcome.changes, f"{outcome}: a {token_role} token did {action}"


# --- Rules that live in the services -------------------------------------------------------------


def _send(world, who, method, path, body=None):
    return probe.send(world, who, method, path, body, suite=SUITE)


def _messages(outcome: probe.Outcome) -> str:
    return outcome.content.decode(errors="replace")


def test_a_streamer_cannot_invite_anyone(world, members):
    outcome = _send(
        world, members["session:streamer"], "POST", "/members/", {"email": "x@new.test", "role": "streamer"}
    )
    assert outcome.status == 403 and not outcome.changes


def test_an_admin_cannot_invite_an_owner_but_an_owner_can(world, members):
    body = {"email": "boss@new.test", "role": Role.OWNER}
    refused = _send(world, members["session:admin"], "POST", "/members/", body)
    assert refused.status == 400 and not refused.changes
    assert "Only an owner can make someone an owner." in _messages(refused)
    granted = _send(world, members["session:owner"], "POST", "/members/", body)
    assert granted.status == 302 and granted.changes[0][:2] == (Invitation._meta.label, "added")


def test_an_admin_can_invite_admins_and_streamers(world, members):
    for role in (Role.ADMIN, Role.STREAMER):
        outcome = _send(world, members["session:admin"], "POST", "/members/", {"email": "x@new.test", "role": role})
        assert outcome.status == 302 and outcome.changes, f"an admin could not invite a {role}"


def _role_change(world, who, target: str, role: str):
    membership = world.a.memberships[target]
    return _send(world, who, "POST", f"/members/{membership.pk}/role", {"role": role})


def test_an_admin_cannot_make_anyone_an_owner(world, members):
    outcome = _role_change(world, members["session:admin"], Role.STREAMER, Role.OWNER)
    assert not outcome.changes, "an admin made a streamer an owner"


def test_an_admin_cannot_change_an_owners_role(world, members):
    outcome = _role_change(world, members["session:admin"], Role.OWNER, Role.STREAMER)
    assert not outcome.changes, "an admin demoted an owner"


def test_an_owner_makes_owners_and_changes_other_owners_roles(world, members):
    promoted = _role_change(world, members["session:owner"], Role.STREAMER, Role.OWNER)
    assert (Membership._meta.label, "changed", world.a.memberships[Role.STREAMER].pk, ("role",)) in promoted.changes


def test_the_last_owner_cannot_be_demoted_or_removed(world, members):
    owner = world.a.memberships[Role.OWNER]
    demoted = _send(world, members["session:owner"], "POST", f"/members/{owner.pk}/role", {"role": Role.ADMIN})
    removed = _send(world, members["session:owner"], "POST", f"/members/{owner.pk}/remove")
    assert not demoted.changes and not removed.changes, "the organization lost its last owner"


@pytest.mark.parametrize(
    ("actor", "target"), [(Role.STREAMER, Role.ADMIN), (Role.STREAMER, Role.OWNER), (Role.ADMIN, Role.OWNER)]
)
def test_removing_someone_else_needs_a_higher_role(actor, target, world, members):
    membership = world.a.memberships[target]
    outcome = _send(world, members[f"session:{actor}"], "POST", f"/members/{membership.pk}/remove")
    assert not outcome.changes, f"a {actor} removed a {target}"


def test_an_admin_removes_a_streamer_and_anyone_may_leave(world, members):
    streamer = world.a.memberships[Role.STREAMER]
    removed = _send(world, members["session:admin"], "POST", f"/members/{streamer.pk}/remove")
    assert (Membership._meta.label, "removed", (streamer.pk,)) in removed.changes
    left = _send(world, members["session:streamer"], "POST", f"/members/{streamer.pk}/remove")
    assert (Membership._meta.label, "removed", (streamer.pk,)) in left.changes


def test_a_token_has_at_most_its_creators_role(world, members):
    body = {"name": "escalate", "role": Role.OWNER}
    refused = _send(world, members["session:admin"], "POST", "/api-tokens/", body)
    assert refused.status == 400 and not refused.changes
    assert not NEW_TOKEN.search(_messages(refused))
    granted = _send(world, members["session:owner"], "POST", "/api-tokens/", body)
    assert granted.status == 200 and NEW_TOKEN.search(_messages(granted))


def test_only_an_owner_revokes_an_owner_token(world, members):
    owner_token = world.a.token_rows[Role.OWNER]
    refused = _send(world, members["session:admin"], "POST", f"/api-tokens/{owner_token.pk}/revoke")
    assert not refused.changes, "an admin revoked an owner token"
    admin_token = world.a.token_rows[Role.ADMIN]
    revoked = _send(world, members["session:admin"], "POST", f"/api-tokens/{admin_token.pk}/revoke")
    assert revoked.changes, "an admin could not revoke an admin token"


def test_the_original_api_takes_a_token_only_as_basic_base64(world, members, unthrottled):
    """Basic base64(token) as the original stack's scripts send it; nothing else opens /v1/."""
    path = "/v1/vhosts/default/apps/app/streams"
    client = members["token:streamer"].client
    token = world.a.tokens[Role.STREAMER]
    assert client.get(path, HTTP_AUTHORIZATION=basic(token)).status_code == 200
    assert client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    assert client.get(path, HTTP_AUTHORIZATION=f"Basic {token}").status_code == 401
