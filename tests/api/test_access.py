"""Every REST API endpoint, for each token role; another organization's objects are 404 everywhere;
a missing, wrong or revoked token is 401."""

from __future__ import annotations

from base64 import b64encode
from dataclasses import dataclass

import pytest
from django.utils import timezone

from api import services
from broadcasts.models import Destination, Platform, Push, PushState
from organizations.models import ROLE_RANK, Membership, Role
from rooms.models import LiveSession, Visibility

from ..factories import PASSWORD, RoomFactory
from .conftest import ROLES, finished_recording


@dataclass
class Endpoint:
    name: str
    method: str
    path: str  # formatted with the objects below
    ok: int
    role: str = Role.STREAMER
    body: dict | None = None

    def __str__(self) -> str:
        return self.name


ENDPOINTS = [
    Endpoint("organization", "get", "/api/v1/organization/", 200),
    Endpoint("members list", "get", "/api/v1/members/", 200),
    Endpoint("member", "get", "/api/v1/members/{member}/", 200),
    Endpoint("rooms list", "get", "/api/v1/rooms/", 200),
    Endpoint("room", "get", "/api/v1/rooms/{room}/", 200),
    Endpoint("room create", "post", "/api/v1/rooms/", 201, Role.ADMIN, {"title": "New"}),
    Endpoint("room replace", "put", "/api/v1/rooms/{room}/", 200, Role.ADMIN, {"title": "Renamed"}),
    Endpoint("room change", "patch", "/api/v1/rooms/{room}/", 200, Role.ADMIN, {"title": "Renamed"}),
    Endpoint("room delete", "delete", "/api/v1/rooms/{room}/", 204, Role.ADMIN),
    Endpoint("room live state", "get", "/api/v1/rooms/{room}/live/", 200),
    Endpoint("stream key", "post", "/api/v1/rooms/{room}/stream-key/", 200),
    Endpoint("rotate stream key", "post", "/api/v1/rooms/{room}/rotate-stream-key/", 200, Role.ADMIN),
    Endpoint("embed link", "post", "/api/v1/rooms/{private}/embed-links/", 201, Role.ADMIN, {"lifetime_seconds": 7200}),
    Endpoint("withdraw embed links", "post", "/api/v1/rooms/{private}/embed-links/revoke/", 204, Role.ADMIN),
    Endpoint(
        "destination add",
        "post",
        "/api/v1/rooms/{room}/destinations/",
        201,
        body={"name": "YT", "platform": "youtube", "stream_key": "yt-key-1234"},
    ),
    Endpoint(
        "custom push",
        "post",
        "/api/v1/rooms/{room}/pushes/",
        201,
        body={"url": "rtmp://live.example.com/app", "stream_key": "k-5678"},
    ),
    Endpoint("recording start", "post", "/api/v1/rooms/{room}/recordings/", 201, body={}),
    Endpoint("destinations list", "get", "/api/v1/destinations/", 200),
    Endpoint("destination", "get", "/api/v1/destinations/{destination}/", 200),
    Endpoint("destination change", "patch", "/api/v1/destinations/{destination}/", 200, body={"name": "Renamed"}),
    Endpoint(
        "destination replace",
        "put",
        "/api/v1/destinations/{destination}/",
        200,
        body={"name": "Renamed", "platform": "twitch", "enabled": True, "auto_start": False},
    ),
    Endpoint("destination delete", "delete", "/api/v1/destinations/{destination}/", 204),
    Endpoint("destination push", "post", "/api/v1/destinations/{destination}/start-push/", 201),
    Endpoint("pushes list", "get", "/api/v1/pushes/", 200),
    Endpoint("push", "get", "/api/v1/pushes/{push}/", 200),
    Endpoint("push stop", "post", "/api/v1/pushes/{push}/stop/", 200),
    Endpoint("push retry", "post", "/api/v1/pushes/{failed_push}/retry/", 201),
    Endpoint("recordings list", "get", "/api/v1/recordings/", 200),
    Endpoint("recording", "get", "/api/v1/recordings/{recording}/", 200),
    Endpoint("recording stop", "post", "/api/v1/recordings/{recording}/stop/", 200),
    Endpoint("recording file", "get", "/api/v1/recordings/{recording}/file/", 200),
    Endpoint("recording delete", "delete", "/api/v1/recordings/{recording}/", 204),
    Endpoint("sessions list", "get", "/api/v1/sessions/", 200),
    Endpoint("session", "get", "/api/v1/sessions/{session}/", 200),
]
OBJECT_ENDPOINTS = [endpoint for endpoint in ENDPOINTS if "{" in endpoint.path]


@pytest.fixture
def objects(team, room) -> dict:
    """One of everything in the team's organization, as ids for the URLs."""
    private = RoomFactory(organization=team.organization, public_id="acme-private", visibility=Visibility.PRIVATE)
    destination = Destination.objects.create(
        room=room, name="Twitch", platform=Platform.TWITCH, url="rtmp://live.twitch.tv/app", stream_key="tw-1"
    )
    push = Push.objects.create(
        room=room,
        stream_name="acme-live_rtmp",
        url="rtmp://live.example.com/app",
        stream_key="pk-1",
        state=PushState.PUSHING,
    )
    failed = Push.objects.create(
        room=room, stream_name="acme-live_rtmp", url="rtmp://down.example.com/app", state=PushState.ERROR
    )
    session = LiveSession.objects.create(room=room, started_at=timezone.now(), ended_at=timezone.now())
    return {
        "room": room.public_id,
        "private": private.public_id,
        "destination": destination.pk,
        "push": push.pk,
        "failed_push": failed.pk,
        "recording": finished_recording(room).pk,
        "session": session.pk,
        "member": Membership.objects.filter(organization=team.organization)[0].pk,
    }


def _call(client, endpoint: Endpoint, objects: dict):
    return getattr(client, endpoint.method)(endpoint.path.format(**objects), endpoint.body, format="json")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
@pytest.mark.parametrize("role", ROLES)
def test_each_endpoint_answers_each_role_as_its_rank_allows(tokens, objects, endpoint, role):
    response = _call(tokens[role].client(), endpoint, objects)
    if ROLE_RANK[Role(role)] >= ROLE_RANK[Role(endpoint.role)]:
        assert response.status_code == endpoint.ok, (
            f"{role} got {response.status_code}: {getattr(response, 'data', '')}"
        )
    else:
        assert response.status_code == 403, f"a {role} token could {endpoint.name}"
        assert "role" in response.json()["detail"]


@pytest.mark.parametrize("endpoint", OBJECT_ENDPOINTS, ids=str)
def test_another_organizations_objects_are_404_everywhere(other_api, objects, endpoint):
    response = _call(other_api, endpoint, objects)
    assert response.status_code == 404, f"another organization's token reached {endpoint.name}"


@pytest.mark.parametrize(
    "path", ["/api/v1/rooms/", "/api/v1/destinations/", "/api/v1/pushes/", "/api/v1/recordings/", "/api/v1/sessions/"]
)
def test_lists_hold_only_the_tokens_organization(other_api, objects, path):
    response = other_api.get(path)
    assert response.status_code == 200
    assert response.json()["results"] == []
    filtered = other_api.get(path, {"room": objects["room"]})
    assert filtered.json()["results"] == [], "a room filter must not reach into another organization"


def test_members_list_holds_only_the_tokens_organization(other_api, other_team, objects):
    emails = {member["email"] for member in other_api.get("/api/v1/members/").json()["results"]}
    assert emails == {membership.user.email for membership in other_team.organization.memberships.all()}


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Authentication credentials were not provided."),
        ("Bearer", "no token"),
        ("Bearer sst_not-a-real-token", "not valid"),
        ("Token sst_not-a-real-token", "Authentication credentials were not provided."),
    ],
)
def test_a_missing_or_wrong_token_is_401(client, objects, header, message):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/api/v1/rooms/", **extra)
    assert response.status_code == 401
    assert message in response.json()["detail"]
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_revoked_token_stops_working_at_once(tokens, team):
    client = tokens[Role.ADMIN].client()
    assert client.get("/api/v1/rooms/").status_code == 200
    owner = Membership.objects.get(organization=team.organization, user=team.owner)
    services.revoke_api_token(actor=owner, api_token=tokens[Role.ADMIN].api_token)
    assert client.get("/api/v1/rooms/").status_code == 401


def test_the_api_root_lists_the_resources_for_a_token_only(api, client, team):
    root = api.get("/api/v1/")
    assert root.status_code == 200
    assert root.json()["rooms"] == "http://testserver/api/v1/rooms/"
    assert client.get("/api/v1/").status_code == 401
    # Django's own password auth is not an API credential: no password guessing through the API.
    password = "Basic " + b64encode(f"{team.owner.email}:{PASSWORD}".encode()).decode()
    assert client.get("/api/v1/", HTTP_AUTHORIZATION=password).status_code == 401
    assert client.get("/api/v1/rooms/", HTTP_AUTHORIZATION=password).status_code == 401


def test_filtering_by_another_organizations_destination_looks_like_filtering_by_none(api, other_api, objects):
    theirs = other_api.get("/api/v1/pushes/", {"destination": objects["destination"]})
    nobody = other_api.get("/api/v1/pushes/", {"destination": 999999})
    assert theirs.status_code == nobody.status_code == 200
    assert theirs.json() == nobody.json() == {"count": 0, "next": None, "previous": None, "results": []}
