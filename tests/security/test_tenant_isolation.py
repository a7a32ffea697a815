"""Organization B never reaches organization A, through any URL of the site.

Generated from the URL configuration: every pattern is looked up in the isolation map
(url_map.py) and filled with A's objects; then every method is sent by an anonymous visitor
and by B — on web pages as B's owner, admin and streamer signed in (and with B's owner token,
which pages must ignore); on the APIs with B's API token of each role, Bearer for /api/v1/ and
Basic base64(token) for the original /v1/ API (and B's owner signed in, which the APIs must
ignore); on Django admin as members who are not staff (B's owner, and A's own owner). Every
answer must refuse (404, 403, 401, 405 or the sign-in page), leave A exactly as it was (its
rows, keys, visibility, embed-link generation and recording files) and show none of A's
secrets; lists and pages of B's own must show nothing of A at all. A URL missing from the map
fails here, with what to add.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.urls import reverse

from . import probe
from .url_map import (
    KNOWN_SERVER_ERRORS,
    MAP,
    NAMESPACES,
    OF_A,
    OPEN,
    OWN,
    STAFF,
    Fill,
    admin_fills,
    build_path,
    entry_for,
    hijack,
    missing_message,
    resolves_to,
    site_urls,
)
from .world import World

SUITE = "isolation"
SITE_URLS = site_urls()


def _ids(urls) -> list[str]:
    seen: dict[str, int] = {}
    ids = []
    for url in urls:
        seen[url.key] = seen.get(url.key, 0) + 1
        ids.append(url.key if seen[url.key] == 1 else f"{url.key}#{seen[url.key]}")
    return ids


def test_every_url_of_the_site_is_in_the_isolation_map():
    missing = [url for url in SITE_URLS if entry_for(url) is None]
    assert not missing, missing_message(missing)


def test_the_isolation_map_names_no_url_that_is_gone():
    keys = {url.key for url in SITE_URLS}
    gone = sorted(set(MAP) - keys)
    assert not gone, f"The isolation map (tests/security/url_map.py) has entries for URLs that no longer exist: {gone}"
    namespaces = {url.name.split(":")[0] for url in SITE_URLS if url.name and ":" in url.name}
    assert set(NAMESPACES) <= namespaces


def test_a_page_added_later_without_an_entry_fails_with_what_to_add(settings):
    """The same walk over a URL configuration with two new pages: they are reported, by route."""
    settings.ROOT_URLCONF = "tests.urlconfs.with_schedule_page"
    missing = [url for url in site_urls() if entry_for(url) is None]
    assert [url.route for url in missing] == ["rooms/schedule/", "calendar/<str:public_id>"]
    message = missing_message(missing)
    assert "'calendar/<str:public_id>'" in message and "of_a(" in message and "tests/security/url_map.py" in message


def test_the_walk_really_finds_the_whole_site():
    """The generated suites are only as good as the walk: it must reach into every include."""
    keys = {url.key for url in SITE_URLS}
    assert {"rooms:edit", "broadcasts:push_stop", "recordings:file", "api:room-rotate-stream-key"} <= keys
    assert {"api:ome_app_action", "watch", "player_html", "admin:index", "ome_admission"} <= keys
    assert len(SITE_URLS) > 100


def judge(expect: str, outcome: probe.Outcome, world: World, *, may_show=(), known_error: bool = False) -> list[str]:
    """What is wrong with this answer, in words (nothing: an empty list)."""
    problems = []
    if outcome.status >= 500 and not known_error:
        problems.append("the server failed (5xx)")
    if outcome.changes:
        problems.append(f"it changed organization A: {outcome.changes}")
    for what, secret in world.a.secrets().items():
        if outcome.shows(secret) and not outcome.echoes(secret):
            problems.append(f"the answer shows A's {what}")
    if expect == OF_A and not outcome.is_refusal:
        problems.append("it was not refused")
    elif expect == STAFF and not (outcome.status == 302 and outcome.redirect_path == reverse("admin:login")):
        problems.append("a member who is not staff was not sent to the admin's sign-in page")
    elif expect in (OWN, OPEN):
        markers = world.a.markers() if expect == OWN else world.a.private_markers()
        visible = outcome.content + outcome.location.encode()
        for allowed in may_show:
            visible = visible.replace(allowed.encode(), b"")
        shown = [marker for marker in markers if marker.encode() in visible and not outcome.echoes(marker)]
        if shown:
            problems.append(f"the answer shows A's {shown}")
    return [f"{outcome}: {problem}" for problem in problems]


def who_tries(identities: dict[str, probe.Identity], kind: str, path: str) -> list[probe.Identity]:
    """Web pages ignore API tokens and the APIs ignore sessions: every role where it counts, one elsewhere."""
    pick = ["anonymous"]
    if kind == STAFF:
        pick += ["session:owner", "a-session:owner"]
    elif probe.family(path) == "ui":
        pick += ["session:owner", "session:admin", "session:streamer", "token:owner"]
    else:
        pick += ["session:owner", "token:owner", "token:admin", "token:streamer"]
    return [identities[name] for name in pick]


def same_as_for_no_such_object(outcome, url, fill: Fill, world: World, who, body, *, suite: str) -> probe.Outcome:
    """An answer that is word for word the one for an object that does not exist reveals nothing
    (DRF's OPTIONS describes the endpoint, not the object): such an answer counts as a refusal."""
    prefix = world.a.prefix
    twin = {
        name: value + 10**9 if isinstance(value, int) else str(value).replace(prefix, "zz-missing")
        for name, value in fill.kwargs.items()
    }
    back = {str(new): str(old) for old, new in zip(fill.kwargs.values(), twin.values(), strict=True)}
    path = build_path(url, replace(fill, kwargs=twin))
    other = probe.send(world, who, outcome.method, path, body, suite=suite)
    content = other.content
    for new, old in back.items():
        content = content.replace(new.encode(), old.encode())
    if other.status == outcome.status and content == outcome.content and not outcome.changes:
        return replace(outcome, status=404)  # judged as what it is: the answer for no such object
    return outcome


def probe_url(url, world: World, identities: dict[str, probe.Identity], suite: str = SUITE) -> list[str]:
    entry = entry_for(url)
    assert entry is not None, missing_message([url])
    fills = admin_fills(url, world) if entry.kind == STAFF else entry.fills(world)
    assert fills or entry.kind == STAFF, f"the map gives no way to fill {url.key}"
    failures = []
    for fill in fills:
        path = build_path(url, fill)
        assert resolves_to(url, path), f"the map fills {url.key} as {path}, which reaches another view"
        body = fill.body if fill.body is not None else hijack(world, path)
        for method in probe.METHODS:
            for who in who_tries(identities, entry.kind, path):
                outcome = probe.send(world, who, method, path, body, suite=suite)
                expect = entry.expectation(fill)
                if expect == OF_A and not outcome.is_refusal and fill.kwargs:
                    outcome = same_as_for_no_such_object(outcome, url, fill, world, who, body, suite=suite)
                known_error = (url.key, method) in KNOWN_SERVER_ERRORS
                failures += judge(expect, outcome, world, may_show=fill.may_show, known_error=known_error)
    return failures


@pytest.mark.parametrize("url", SITE_URLS, ids=_ids(SITE_URLS))
def test_organization_b_gets_nothing_of_organization_a_through(url, world, b_identities, unthrottled):
    failures = probe_url(url, world, b_identities)
    assert not failures, f"{len(failures)} answers let organization B reach A:\n" + "\n".join(failures[:30])


def test_a_staff_member_does_get_into_admin(world, db):
    """The admin's redirect above is the staff check, not an admin that is down for everyone."""
    from django.test import Client

    from organizations.models import User

    staff = User.objects.create_user(email="staff@example.com", password="x", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200
    assert client.get(f"/admin/rooms/room/{world.a.room.pk}/change/").status_code == 200


def test_organization_a_sees_its_own_objects_through_the_same_urls(world, db, unthrottled):
    """The refusals above are about B: A's own owner gets A's room, key, destination and file."""
    a = world.a
    owner = probe.session_identity("A's owner", a.members["owner"])
    token = probe.token_identity("A's owner token", a.tokens["owner"])
    checks = [
        (owner, "GET", f"/rooms/{a.private_room.public_id}/", 200),
        (owner, "POST", f"/rooms/{a.room.public_id}/stream-key", 200),
        (owner, "GET", f"/rooms/{a.room.public_id}/recordings/{a.recording.pk}/file", 200),
        (owner, "GET", f"/watch/{a.private_room.public_id}", 200),
        (token, "GET", f"/api/v1/destinations/{a.destination.pk}/", 200),
        (token, "POST", f"/api/v1/rooms/{a.room.public_id}/stream-key/", 200),
        (token, "GET", f"/api/v1/recordings/{a.recording.pk}/file/", 200),
        (token, "GET", "/v1/vhosts/default/apps/app/streams", 200),
    ]
    for who, method, path, status in checks:
        outcome = probe.send(world, who, method, path, suite=SUITE)
        assert outcome.status == status, f"{outcome}, expected {status}"
    key = probe.send(world, owner, "POST", f"/rooms/{a.room.public_id}/stream-key", suite=SUITE)
    assert key.shows(a.room.stream_key), "the secret check would not even see a key in an answer"


@pytest.mark.xfail(strict=True, reason="known server errors, listed in url_map.KNOWN_SERVER_ERRORS")
@pytest.mark.parametrize(("key", "method"), sorted(KNOWN_SERVER_ERRORS), ids=lambda v: str(v))
def test_known_server_errors_are_still_there(key, method, world, b_identities, unthrottled):
    """XPASS (a failure) once fixed: then take the entry off KNOWN_SERVER_ERRORS."""
    url = next(url for url in SITE_URLS if url.key == key)
    path = build_path(url, entry_for(url).fills(world)[0])
    outcome = probe.send(world, b_identities["anonymous"], method, path, suite=SUITE)
    assert outcome.status < 500, f"{outcome}: {KNOWN_SERVER_ERRORS[key, method]}"
