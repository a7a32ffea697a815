"""Rooms through the REST API: create, list, change, delete, stream keys (never in lists),
live state and embed links — the same rules as the UI, with 4xx answers a program can act on."""

from __future__ import annotations

import pytest

from core.crypto import secret_digest
from organizations.models import Role
from rooms import services as room_services
from rooms.models import Room, Visibility

from ..conftest import client_for
from ..factories import RoomFactory


def test_an_admin_token_creates_a_room_that_members_see_in_the_portal(api, team, tokens):
    response = (
        tokens[Role.ADMIN]
        .client()
        .post(
            "/api/v1/rooms/",
            {
                "id": "town-hall",
                "title": "Town hall",
                "visibility": "unlisted",
                "allowed_embed_origins": ["https://example.com"],
            },
            format="json",
        )
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["id"] == "town-hall" and data["state"] == "offline"
    assert data["allowed_embed_origins"] == ["https://example.com"]
    assert data["watch_url"] == "http://testserver/watch/town-hall"
    assert "stream_key" not in data
    room = Room.objects.get(public_id="town-hall")
    assert room.organization == team.organization and room.allowed_embed_origins == "https://example.com"
    assert b"Town hall" in client_for(team.streamer).get("/rooms/").content


def test_a_room_without_an_id_gets_one(api):
    response = api.post("/api/v1/rooms/", {"title": "Quick"}, format="json")
    assert response.status_code == 201
    assert response.json()["id"].startswith("room-")


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"title": ""}, "title", "may not be blank"),
        ({"id": "Bad Id!", "title": "x"}, "id", "3 to 64 characters"),
        ({"id": "news_rtmp", "title": "x"}, "id", "cannot end with '_rtmp'"),
        ({"title": "x", "visibility": "secret"}, "visibility", "not a valid choice"),
        ({"title": "x", "allowed_embed_origins": ["ftp://nope"]}, "allowed_embed_origins", "Not an origin: ftp://nope"),
        ({"title": "x", "allowed_embed_origins": "https://a.example"}, "allowed_embed_origins", "list"),
    ],
)
def test_bad_room_input_is_400_with_a_message_per_field(api, body, field, message):
    response = api.post("/api/v1/rooms/", body, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert not Room.objects.exists()


def test_a_room_id_taken_by_any_organization_is_refused(api, other_room):
    response = api.post("/api/v1/rooms/", {"id": "globex-live", "title": "Mine"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"id": ["This room id is taken. Choose another one."]}


def test_the_room_limit_is_403_with_the_reason(api, team, room):
    team.organization.max_rooms = 1
    team.organization.save()
    response = api.post("/api/v1/rooms/", {"title": "One too many"}, format="json")
    assert response.status_code == 403
    assert "its limit" in response.json()["detail"]


def test_rooms_are_paginated_filtered_and_ordered(api, team):
    for n in range(5):
        RoomFactory(organization=team.organization, public_id=f"room-{n}", title=f"Room {n}")
    Room.objects.filter(public_id="room-3").update(visibility=Visibility.PRIVATE, live_state="live")
    page = api.get("/api/v1/rooms/", {"page_size": 2, "ordering": "-title"}).json()
    assert page["count"] == 5 and page["next"] and page["previous"] is None
    assert [room["id"] for room in page["results"]] == ["room-4", "room-3"]
    assert [room["id"] for room in api.get("/api/v1/rooms/", {"visibility": "private"}).json()["results"]] == ["room-3"]
    assert [room["id"] for room in api.get("/api/v1/rooms/", {"state": "live"}).json()["results"]] == ["room-3"]
    assert api.get("/api/v1/rooms/", {"state": "sleeping"}).status_code == 400
    assert api.get("/api/v1/rooms/", {"page": 9}).status_code == 404


def test_stream_keys_are_never_in_room_lists_or_details(api, room):
    for path in ("/api/v1/rooms/", "/api/v1/rooms/acme-live/"):
        body = api.get(path).content.decode()
        assert room.stream_key not in body, f"{path} leaked the stream key"
        assert 'stream_key"' not in body


def test_any_member_token_reveals_the_stream_key_on_demand(tokens, room):
    response = tokens[Role.STREAMER].client().post("/api/v1/rooms/acme-live/stream-key/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    data = response.json()
    assert data["stream_key"] == room.stream_key
    assert data["rtmp_server_url"].endswith("/app") and room.stream_key in data["srt_url"]


def test_rotating_the_key_returns_the_new_one_and_the_old_one_stops_working(tokens, room):
    old = room.stream_key
    response = tokens[Role.ADMIN].client().post("/api/v1/rooms/acme-live/rotate-stream-key/")
    assert response.status_code == 200
    room.refresh_from_db()
    assert response.json()["stream_key"] == room.stream_key != old
    assert not Room.objects.filter(stream_key_digest=secret_digest(old)).exists()


def test_changing_a_room(api, room):
    response = api.patch(
        "/api/v1/rooms/acme-live/",
        {"title": "Acme Live 2", "visibility": "private", "allowed_embed_origins": ["https://a.example", "*"]},
        format="json",
    )
    assert response.status_code == 200
    room.refresh_from_db()
    assert (room.title, room.visibility, room.embed_origins) == ("Acme Live 2", "private", ["https://a.example", "*"])
    assert api.patch("/api/v1/rooms/acme-live/", {"id": "renamed"}, format="json").json()["id"] == "acme-live"


def test_a_live_room_cannot_be_deleted(api, room):
    room_services.go_live(room_id=room.pk, protocol="rtmp", confirmed=True)
    response = api.delete("/api/v1/rooms/acme-live/")
    assert response.status_code == 409
    assert "live" in response.json()["detail"]
    assert Room.objects.filter(pk=room.pk).exists()


def test_deleting_a_room(api, room):
    assert api.delete("/api/v1/rooms/acme-live/").status_code == 204
    assert not Room.objects.filter(pk=room.pk).exists()


def test_live_state(api, room):
    assert api.get("/api/v1/rooms/acme-live/live/").json() == {
        "room": "acme-live",
        "state": "offline",
        "live": False,
        "viewers": 0,
        "since": None,
        "protocol": "",
    }
    room_services.go_live(room_id=room.pk, protocol="RTMP", confirmed=True)
    live = api.get("/api/v1/rooms/acme-live/live/").json()
    assert (live["state"], live["live"], live["protocol"]) == ("live", True, "rtmp") and live["since"]


def test_an_embed_link_plays_the_private_room_until_links_are_withdrawn(tokens, room, client):
    Room.objects.filter(pk=room.pk).update(visibility=Visibility.PRIVATE)
    admin = tokens[Role.ADMIN].client()
    response = admin.post("/api/v1/rooms/acme-live/embed-links/", {"lifetime_seconds": 3600}, format="json")
    assert response.status_code == 201
    link = response.json()
    assert link["url"].startswith("http://testserver/embed/acme-live?link=") and link["expires_at"]
    assert f'src="{link["url"]}"' in link["snippet"]
    path = link["url"].removeprefix("http://testserver")
    assert client.get(path).status_code == 200, "a stranger plays the private room with the link"
    assert admin.post("/api/v1/rooms/acme-live/embed-links/revoke/").status_code == 204
    assert client.get(path).status_code == 403, "a withdrawn link no longer plays"


def test_embed_links_are_for_private_rooms_only_and_live_an_hour_to_a_year(api, room):
    response = api.post("/api/v1/rooms/acme-live/embed-links/", {}, format="json")
    assert response.status_code == 400
    assert "not private" in response.json()["detail"]
    Room.objects.filter(pk=room.pk).update(visibility=Visibility.PRIVATE)
    too_short = api.post("/api/v1/rooms/acme-live/embed-links/", {"lifetime_seconds": 60}, format="json")
    assert too_short.status_code == 400 and "lifetime_seconds" in too_short.json()
