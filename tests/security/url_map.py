"""THE MAP: every URL of the site, and how the isolation suites reach organization A through it.

The suites walk `django.urls.get_resolver()` and look each URL pattern up here, by its name
("rooms:edit", "api:room-detail") or, for a pattern without a name, by its route. A pattern
that is not here fails the suites: when you add a URL, add an entry saying either

- `of_a(...)`: the URL names an object of an organization (a room, a destination, a push, a
  recording, a live session, a membership, an invitation, an API token): fill its parameters
  with organization A's objects. Everyone outside A must be refused (404, 403, 405 for a method
  the view does not allow, or the sign-in page) and nothing of A may change or show. Say where
  the view reads the member's role: `scope="object"` (the object's organization, through
  `member_required(of=...)`) or `scope="selected"` (the organization selected in the session);
- `own(reason)`: the URL is about the caller's own organization (a list, a create form): it may
  answer, but with nothing of A in it;
- `open_to_anyone(reason)`: the URL is not tenant-scoped (sign-in, health, the player of a
  public room…): say why. It still must not change or show anything private of A;
- Django admin (`admin:…`) is for staff only: every member who is not staff is sent to the
  admin's sign-in page, whatever the method.

Each `Fill` is one way to fill the URL: its parameters, a query string, a body (by default the
"hijack" body below, which would change A's object if the view let it) and, when it differs
from the entry's, what is expected of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from organizations.models import Organization, Role, User
from rooms.models import Room

from .probe import family
from .world import World

OF_A = "refused"  # names an object of A: refused to everyone outside A
OWN = "own"  # the caller's own organization: answers, never with anything of A
OPEN = "open"  # not tenant-scoped: may answer anyone, never with anything private of A
STAFF = "staff"  # Django admin: members who are not staff go to the admin's sign-in page


@dataclass(frozen=True)
class Fill:
    kwargs: dict = field(default_factory=dict)
    query: str = ""
    body: dict | None = None
    expect: str | None = None
    path: str | None = None  # for a pattern that cannot be filled by its parameters' names
    may_show: tuple[str, ...] = ()  # what of A this answer may show, by design (said in the entry's reason)


@dataclass(frozen=True)
class Entry:
    kind: str
    reason: str
    fills: Callable[[World], list[Fill]]
    scope: str = "object"

    def expectation(self, fill: Fill) -> str:
        return fill.expect or self.kind


def of_a(fills: Callable[[World], list[Fill]], *, scope: str = "object", reason: str = "") -> Entry:
    assert scope in ("object", "selected")
    return Entry(OF_A, reason or "names an object of organization A", fills, scope)


def own(reason: str, fills: Callable[[World], list[Fill]] | None = None) -> Entry:
    return Entry(OWN, reason, fills or (lambda w: [Fill()]))


def open_to_anyone(reason: str, fills: Callable[[World], list[Fill]] | None = None) -> Entry:
    return Entry(OPEN, reason, fills or (lambda w: [Fill()]))


STAFF_ONLY = Entry(STAFF, "Django admin is for staff only", lambda w: [])  # fills come from the route

# --- How to fill a URL with A's objects --------------------------------------------------------------


def rooms(w: World) -> list[Fill]:
    return [Fill({"public_id": w.a.room.public_id}), Fill({"public_id": w.a.private_room.public_id})]


def destinations(w: World) -> list[Fill]:
    destination_id = w.a.destination.pk
    return [
        Fill({"public_id": w.a.room.public_id, "destination_id": destination_id}),
        # B's own room in the URL, A's destination after it: the destination is looked up in the room.
        Fill({"public_id": w.b.room.public_id, "destination_id": destination_id}),
    ]


def pushes(w: World) -> list[Fill]:
    return [
        Fill({"public_id": w.a.room.public_id, "push_id": w.a.push.pk}),
        Fill({"public_id": w.a.room.public_id, "push_id": w.a.failed_push.pk}),
        Fill({"public_id": w.b.room.public_id, "push_id": w.a.failed_push.pk}),
    ]


def recordings(w: World) -> list[Fill]:
    return [
        Fill({"public_id": w.a.room.public_id, "recording_id": w.a.recording.pk}),
        Fill({"public_id": w.a.private_room.public_id, "recording_id": w.a.running_recording.pk}),
        Fill({"public_id": w.b.room.public_id, "recording_id": w.a.recording.pk}),
    ]


def memberships(w: World) -> list[Fill]:
    return [Fill({"membership_id": w.a.memberships[role].pk}) for role in (Role.STREAMER, Role.OWNER, Role.ADMIN)]


def player(w: World) -> list[Fill]:
    """A's private room is refused to outsiders (also with a forged link); its public room plays for anyone."""
    return [
        Fill({"public_id": w.a.private_room.public_id}),
        Fill({"public_id": w.a.private_room.public_id}, query="link=forged.link"),
        Fill({"public_id": w.a.room.public_id}, expect=OPEN),
    ]


def api_rooms(w: World) -> list[Fill]:
    return [Fill({"id": w.a.room.public_id}), Fill({"id": w.a.private_room.public_id})]


def api_objects(*objects: Callable[[World], object]) -> Callable[[World], list[Fill]]:
    return lambda w: [Fill({"pk": obj(w).pk}) for obj in objects]


def api_list(*queries: Callable[[World], str]) -> Callable[[World], list[Fill]]:
    return lambda w: [Fill()] + [Fill(query=query(w)) for query in queries]


OME_APP = {"vhost": "default", "app": "app"}


def ome_actions(w: World) -> list[Fill]:
    a = w.a

    def action(name: str, body: dict, expect: str = OF_A) -> Fill:
        return Fill({**OME_APP, "app": f"app:{name}"}, body=body, expect=expect)

    attacker_push = {"id": "attacker-push", "url": "rtmp://attacker.example/app", "protocol": "rtmp"}
    return [
        action("startPush", {**attacker_push, "stream": {"name": a.room.public_id}}),
        action("startPush", {**attacker_push, "stream": {"name": f"{a.private_room.public_id}_youtube"}}),
        action("stopPush", {"id": a.push.external_id}),
        action("stopPush", {"id": a.push.ome_id}),
        action("startRecord", {"id": "attacker-rec", "stream": {"name": a.room.public_id}}),
        action("stopRecord", {"id": a.running_recording.external_id}),
        action("stopRecord", {"id": a.running_recording.ome_id}),
        action("pushes", {"id": a.push.external_id}, OWN),
        action("pushes", {}, OWN),
        action("records", {"id": a.running_recording.external_id}, OWN),
        action("records", {}, OWN),
        Fill(OME_APP, body={"id": a.push.external_id}),  # no action: OME's 404
    ]


def hijack(w: World, path: str) -> dict:
    """A body that would change A's object (or make A's secret) if the view let the caller act."""
    a = w.a
    if family(path) == "ome":
        return {
            "id": a.push.external_id,
            "stream": {"name": a.room.public_id},
            "url": "rtmp://attacker.example/app",
            "protocol": "rtmp",
            "streamKey": "attacker-key",
        }
    body = {
        "title": "Hijacked by B",
        "description": "hijacked",
        "visibility": "public",
        "name": "Hijacked",
        "platform": "custom",
        "url": "rtmp://attacker.example/app",
        "stream_key": "attacker-key",
        "lifetime": str(365 * 24 * 3600),
        "lifetime_seconds": 365 * 24 * 3600,
        "role": Role.OWNER,
        "email": "attacker@bravo.test",
        "organization": a.organization.pk,
        "external_id": "attacker-id",
    }
    if family(path) == "api":
        return {**body, "allowed_embed_origins": ["*"], "auto_record": True, "enabled": True, "auto_start": True}
    return {**body, "allowed_embed_origins": "*", "auto_record": "on", "enabled": "on", "auto_start": "on"}


# --- The map ---------------------------------------------------------------------------------------

ACCOUNT = "the caller's own account (sign-in, sign-up, password): nothing of an organization"

MAP: dict[str, Entry] = {
    # Site
    "home": of_a(
        lambda w: [
            # /?room=ID is the original stack's publisher URL: members of the room's organization only.
            Fill(query=f"room={w.a.room.public_id}"),
            Fill(query=f"room={w.a.private_room.public_id}"),
            Fill(expect=OPEN),  # the landing page lists public live rooms, never a private one
        ]
    ),
    "healthz": open_to_anyone("the load balancer's health check: says ok or unavailable, nothing else"),
    "metrics": open_to_anyone(
        "operators' Prometheus figures: totals across the site, no organization's rows or secrets "
        "(internal network only, METRICS_TOKEN when set)"
    ),
    "ome_admission": Entry(
        OF_A,
        "OME's admission webhook: authenticated by OME's HMAC signature, not by a member or a token; "
        "without the signature everyone is refused (its bodies are tested in test_admission_webhook_bad_input.py)",
        lambda w: [Fill(body={"client": {}, "request": {"url": f"rtmp://ome/app/{w.a.room.stream_key}"}})],
    ),
    "ome_transcode": Entry(
        OF_A,
        "OME's TranscodeWebhook: authenticated by OME's HMAC signature; without it everyone is refused, "
        "and a signed answer says only which outputs a stream gets (see test_transcode_webhook.py)",
        lambda w: [Fill(body={"stream": {"name": w.a.private_room.public_id, "tracks": []}})],
    ),
    # Accounts
    "login": open_to_anyone(ACCOUNT),
    "logout": open_to_anyone(ACCOUNT),
    "signup": open_to_anyone(ACCOUNT + "; creates a new organization of the new user's"),
    "password_change": open_to_anyone(ACCOUNT),
    "password_change_done": open_to_anyone(ACCOUNT),
    "password_reset": open_to_anyone(ACCOUNT + "; the email goes to the address's owner"),
    "password_reset_done": open_to_anyone(ACCOUNT),
    "password_reset_confirm": open_to_anyone(
        ACCOUNT + "; works only with the token emailed to the account's owner",
        lambda w: [Fill({"uidb64": "Mg", "token": "set-password"}), Fill({"uidb64": "MQ", "token": "forged-token"})],
    ),
    "password_reset_complete": open_to_anyone(ACCOUNT),
    # Organizations and members
    "org_create": own("creates a new organization owned by the caller"),
    "org_switch": of_a(lambda w: [Fill(body={"organization": w.a.organization.pk})]),
    "members": own("the selected organization's members; POST invites into it"),
    "member_role": of_a(memberships, scope="selected"),
    "member_remove": of_a(memberships, scope="selected"),
    "invitation_revoke": of_a(lambda w: [Fill({"invitation_id": w.a.invitation.pk})], scope="selected"),
    "invitation_accept": open_to_anyone(
        "the emailed invitation token is the credential, and accepting needs the invited address: "
        "someone else holding the link can read the invitation but never joins (A's rows are checked)",
        lambda w: [
            Fill({"token": w.a.invitation_token}, may_show=(w.a.organization.name, w.a.invitation.email)),
            Fill({"token": "forged-token"}),
        ],
    ),
    # Rooms
    "rooms:list": own("the selected organization's rooms"),
    "rooms:create": own("creates a room in the selected organization"),
    "rooms:detail": of_a(rooms),
    "rooms:edit": of_a(rooms),
    "rooms:delete": of_a(rooms),
    "rooms:publish": of_a(rooms),
    "rooms:stream_key": of_a(rooms),
    "rooms:rotate_key": of_a(rooms),
    "rooms:status": of_a(rooms),
    "rooms:publish_credential": of_a(rooms),
    "rooms:embed_link_create": of_a(rooms),
    "rooms:embed_links_revoke": of_a(rooms),
    # Restream
    "broadcasts:status": of_a(rooms),
    "broadcasts:destination_create": of_a(rooms),
    "broadcasts:destination_edit": of_a(destinations),
    "broadcasts:destination_delete": of_a(destinations),
    "broadcasts:push_start": of_a(destinations),
    "broadcasts:push_stop": of_a(pushes),
    "broadcasts:push_retry": of_a(pushes),
    # Recordings
    "recordings:start": of_a(rooms),
    "recordings:panel": of_a(rooms),
    "recordings:detail": of_a(recordings),
    "recordings:file": of_a(recordings),
    "recordings:stop": of_a(recordings),
    "recordings:delete": of_a(recordings),
    # The player: a public room's pages are for anyone; a private room's only for its members and links
    "watch": of_a(player),
    "embed": of_a(player),
    "watch_status": of_a(player),
    "oembed": of_a(
        lambda w: [
            # A private room's watch and embed links, with a forged link: "not found", like any other URL.
            Fill(query=f"url=http%3A%2F%2Ftestserver%2Fwatch%2F{w.a.private_room.public_id}"),
            Fill(query=f"url=http%3A%2F%2Ftestserver%2Fembed%2F{w.a.private_room.public_id}%3Flink%3Dforged.link"),
            # The public room's player, for anyone, with the organization as its author (oEmbed's author_name).
            Fill(
                query=f"url=http%3A%2F%2Ftestserver%2Fwatch%2F{w.a.room.public_id}",
                expect=OPEN,
                may_show=(w.a.organization.name,),
            ),
        ]
    ),
    "watch_thumbnail": of_a(player),
    "player_html": of_a(
        lambda w: [
            Fill(query=f"room={w.a.private_room.public_id}"),
            Fill(query=f"room={w.a.private_room.public_id}&link=forged.link"),
            Fill(query=f"room={w.a.room.public_id}", expect=OPEN),
        ]
    ),
    # Django admin: the staff's sign-in page and sign-out; every other admin URL is STAFF_ONLY
    "admin/login/": open_to_anyone("the admin's sign-in page, served under the portal's sign-in limits"),
    "admin:login": open_to_anyone("the admin's sign-in page (non-staff members are told they are not staff)"),
    "admin:logout": open_to_anyone("signs the caller out"),
    # API tokens page
    "api:tokens": own("the selected organization's API tokens; POST creates one there"),
    "api:token_revoke": of_a(
        lambda w: [Fill({"token_id": w.a.token_rows[role].pk}) for role in (Role.STREAMER, Role.OWNER)],
        scope="selected",
    ),
    # Webhooks pages (owners and admins)
    "webhooks:list": own("the selected organization's webhook endpoints; POST adds one there"),
    "webhooks:detail": of_a(lambda w: [Fill({"endpoint_id": w.a.endpoint.pk})]),
    "webhooks:delete": of_a(lambda w: [Fill({"endpoint_id": w.a.endpoint.pk})]),
    "webhooks:rotate_secret": of_a(lambda w: [Fill({"endpoint_id": w.a.endpoint.pk})]),
    "webhooks:ping": of_a(lambda w: [Fill({"endpoint_id": w.a.endpoint.pk})]),
    "webhooks:resend": of_a(lambda w: [Fill({"delivery_id": w.a.delivery.pk})]),
    # REST API v1: the token's organization
    "api:api-root": own("the API's index for the token"),
    "api:schema": open_to_anyone("the OpenAPI description: no data"),
    "api:docs": open_to_anyone("the API's documentation page: no data"),
    "api:organization": own("the token's own organization"),
    "api:room-list": own("the token's organization's rooms", api_list(lambda w: "visibility=private")),
    "api:room-detail": of_a(api_rooms),
    "api:room-destinations": of_a(api_rooms),
    "api:room-embed-links": of_a(api_rooms),
    "api:room-live": of_a(api_rooms),
    "api:room-pushes": of_a(api_rooms),
    "api:room-recordings": of_a(api_rooms),
    "api:room-revoke-embed-links": of_a(api_rooms),
    "api:room-rotate-stream-key": of_a(api_rooms),
    "api:room-stream-key": of_a(api_rooms),
    "api:destination-list": own(
        "the token's organization's destinations", api_list(lambda w: f"room={w.a.room.public_id}")
    ),
    "api:destination-detail": of_a(api_objects(lambda w: w.a.destination)),
    "api:destination-start-push": of_a(api_objects(lambda w: w.a.destination)),
    "api:push-list": own(
        "the token's organization's pushes",
        api_list(lambda w: f"room={w.a.room.public_id}", lambda w: f"destination={w.a.destination.pk}"),
    ),
    "api:push-detail": of_a(api_objects(lambda w: w.a.push, lambda w: w.a.failed_push)),
    "api:push-retry": of_a(api_objects(lambda w: w.a.failed_push)),
    "api:push-stop": of_a(api_objects(lambda w: w.a.push)),
    "api:recording-list": own(
        "the token's organization's recordings",
        api_list(lambda w: f"room={w.a.room.public_id}", lambda w: f"external_id={w.a.recording.external_id}"),
    ),
    "api:recording-detail": of_a(api_objects(lambda w: w.a.recording, lambda w: w.a.running_recording)),
    "api:recording-file": of_a(api_objects(lambda w: w.a.recording)),
    "api:recording-stop": of_a(api_objects(lambda w: w.a.running_recording)),
    "api:session-list": own(
        "the token's organization's live sessions", api_list(lambda w: f"room={w.a.private_room.public_id}")
    ),
    "api:session-detail": of_a(api_objects(lambda w: w.a.session)),
    "api:member-list": own("the token's organization's members"),
    "api:webhook-list": own("the token's organization's webhook endpoints; POST adds one there"),
    "api:webhook-detail": of_a(api_objects(lambda w: w.a.endpoint)),
    "api:webhook-deliveries": of_a(api_objects(lambda w: w.a.endpoint)),
    "api:webhook-rotate-secret": of_a(api_objects(lambda w: w.a.endpoint)),
    "api:webhook-ping": of_a(api_objects(lambda w: w.a.endpoint)),
    "api:webhook-delivery-list": own("the token's organization's webhook deliveries"),
    "api:webhook-delivery-detail": of_a(api_objects(lambda w: w.a.delivery)),
    "api:webhook-delivery-resend": of_a(api_objects(lambda w: w.a.delivery)),
    "api:member-detail": of_a(
        api_objects(lambda w: w.a.memberships[Role.OWNER], lambda w: w.a.memberships[Role.STREAMER])
    ),
    # The original stack's API (OME's shapes), with Basic base64(token)
    "api:ome_streams": own("the live streams of the token's organization", lambda w: [Fill(OME_APP)]),
    "api:ome_app_action": of_a(ome_actions),
    "api:ome_not_found": open_to_anyone(
        "OME's 404 for any other /v1/ path",
        lambda w: [Fill(path=f"/v1/vhosts/default/apps/app/streams/{w.a.private_room.public_id}")],
    ),
}

# Server errors the suites found that are not about tenancy, left to be fixed: (URL, method) → what
# happens. They are not reported as isolation failures; test_known_server_errors_are_still_there
# fails as soon as one is fixed, so that it is taken off this list.
KNOWN_SERVER_ERRORS: dict[tuple[str, str], str] = {}

# Patterns covered by their namespace: every URL of Django admin, present and future.
NAMESPACES: dict[str, Entry] = {"admin": STAFF_ONLY}


# --- The site's URLs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteUrl:
    route: str  # the whole route from the site's root, as Django joins it
    name: str | None  # with its namespace: "rooms:edit"
    callback: Callable

    @property
    def key(self) -> str:
        return self.name or self.route

    @property
    def namespace(self) -> str:
        return self.name.rpartition(":")[0] if self.name and ":" in self.name else ""

    @property
    def params(self) -> list[str]:
        return [a or b for a, b in re.findall(r"\(\?P<(\w+)>|<(?:\w+:)?(\w+)>", self.route)]

    def __str__(self) -> str:
        return self.key


def site_urls() -> list[SiteUrl]:
    """Every URL pattern of the site, walking the resolver into every include."""
    found: list[SiteUrl] = []

    def walk(patterns, prefix: str, namespace: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = namespace
                if pattern.namespace:
                    inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
                walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
            elif isinstance(pattern, URLPattern):
                name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
                found.append(SiteUrl(prefix + str(pattern.pattern), name, pattern.callback))

    walk(get_resolver().url_patterns, "", "")
    return found


def entry_for(url: SiteUrl) -> Entry | None:
    if url.key in MAP:
        return MAP[url.key]
    top = url.name.split(":")[0] if url.name and ":" in url.name else url.route.split("/")[0]
    return NAMESPACES.get(top)


def missing_message(urls: list[SiteUrl]) -> str:
    listed = "\n".join(f"  - {url.key!r}  (route {url.route!r}, view {_view_name(url.callback)})" for url in urls)
    return (
        "These URLs have no entry in the isolation map (tests/security/url_map.py, MAP):\n"
        f"{listed}\n"
        "Add one for each: of_a(<how to fill it with organization A's objects>) if it names an object "
        "of an organization, own('<why>') if it is about the caller's own organization, or "
        "open_to_anyone('<why>') if it is not tenant-scoped. The isolation suites then try it with "
        "every method as every role of another organization."
    )


def _view_name(callback) -> str:
    target = getattr(callback, "cls", None) or getattr(callback, "view_class", None) or callback
    return f"{target.__module__}.{getattr(target, '__qualname__', target)}"


# --- Filling a URL -----------------------------------------------------------------------------------


def build_path(url: SiteUrl, fill: Fill) -> str:
    if fill.path is not None:
        path = fill.path
    else:

        def value(name: str) -> str:
            return quote(str(fill.kwargs[name]), safe=":")

        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: value(m.group(1)), url.route)
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: value(m.group(1)), path)
        path = "/" + path.replace("^", "").replace("$", "")
    return path + (f"?{fill.query}" if fill.query else "")


def resolves_to(url: SiteUrl, path: str) -> bool:
    """The filled path really reaches this pattern (or the one that shadows the same route)."""
    match = resolve(urlsplit(path).path)
    return (
        match.func is url.callback or match.route == url.route or (url.name is not None and match.view_name == url.name)
    )


def admin_fills(url: SiteUrl, w: World) -> list[Fill]:
    """Django admin URLs filled with A's objects: the model's own row where the route names one."""
    kwargs: dict[str, object] = {}
    parts = url.route.split("/")
    for name in url.params:
        if name == "object_id":
            kwargs[name] = _admin_object_id(parts, w)
        elif name == "content_type_id":
            kwargs[name] = ContentType.objects.get_for_model(Room).pk
            kwargs["object_id"] = w.a.room.pk
        elif name == "id":
            kwargs[name] = w.a.members[Role.OWNER].pk
        elif name == "app_label":
            kwargs[name] = "rooms"
        elif name == "url":
            kwargs[name] = "rooms/room/no-such-page/"
        else:
            raise AssertionError(f"admin_fills() does not know how to fill <{name}> in {url.route!r}")
    return [Fill(kwargs)]


def _admin_object_id(parts: list[str], w: World):
    if "r" in parts:  # view_on_site: filled with its content type
        return w.a.room.pk
    try:
        model = apps.get_model(parts[1], parts[2])
    except (LookupError, IndexError):
        return 1
    if model is Organization:
        return w.a.organization.pk
    if model is User:
        return w.a.members[Role.OWNER].pk
    if hasattr(model, "organization_lookup"):
        obj = model._base_manager.filter(**{model.organization_lookup: w.a.organization}).order_by("pk").first()
        return obj.pk if obj else 1
    return 1
