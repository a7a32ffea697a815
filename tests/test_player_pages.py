"""The player pages: the original /player.html?room=ID, /watch/ID and the chrome-less /embed/ID."""

import pytest

from rooms.models import Visibility

from .conftest import client_for

PLAYER_URLS = ["/player.html?room={id}", "/watch/{id}", "/embed/{id}"]


@pytest.mark.parametrize("url", PLAYER_URLS)
def test_anyone_can_open_the_player_of_a_public_room(client, room, url):
    response = client.get(url.format(id=room.public_id))
    assert response.status_code == 200
    assert b"ovenplayer" in response.content
    assert b"ws://127.0.0.1:3333/app/acme-live" in response.content, "WebRTC source"
    assert b"http://127.0.0.1:3333/app/acme-live/llhls.m3u8" in response.content, "LL-HLS fallback"
    assert b"This stream is offline." in response.content


@pytest.mark.parametrize("url", PLAYER_URLS)
def test_only_the_rooms_allowed_origins_may_frame_the_player(client, room, url):
    response = client.get(url.format(id=room.public_id))
    assert response["Content-Security-Policy"] == "frame-ancestors 'self'"
    assert "X-Frame-Options" not in response, "CSP frame-ancestors decides, not a blanket DENY"

    room.allowed_embed_origins = "https://blog.example.com\nhttps://*.example.org"
    room.save()
    response = client.get(url.format(id=room.public_id))
    assert (
        response["Content-Security-Policy"] == "frame-ancestors 'self' https://blog.example.com https://*.example.org"
    )

    room.allowed_embed_origins = "*"
    room.save()
    assert client.get(url.format(id=room.public_id))["Content-Security-Policy"] == "frame-ancestors *"


def test_other_portal_pages_refuse_to_be_framed(owner_client, room):
    assert owner_client.get(f"/rooms/{room.public_id}/")["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("url", PLAYER_URLS)
def test_an_unknown_room_shows_a_404_page(client, db, url):
    response = client.get(url.format(id="no-such-room"))
    assert response.status_code == 404
    assert b"No such room" in response.content


def test_the_original_player_url_without_a_room_explains_itself(client, db):
    response = client.get("/player.html")
    assert response.status_code == 404
    assert b"Add ?room=ROOM_ID" in response.content


@pytest.mark.parametrize("url", PLAYER_URLS)
def test_a_private_room_plays_for_members_only(client, team, other_team, room, url):
    room.visibility = Visibility.PRIVATE
    room.save()
    path = url.format(id=room.public_id)
    assert client.get(path).status_code == 302, "strangers are asked to sign in"
    assert client_for(other_team.owner).get(path).status_code == 404
    assert client_for(team.streamer).get(path).status_code == 200


def test_unlisted_rooms_play_but_are_not_listed_on_the_start_page(client, room):
    room.visibility = Visibility.UNLISTED
    room.live_state = "live"
    room.save()
    assert client.get(f"/watch/{room.public_id}").status_code == 200
    assert b"Acme Live" not in client.get("/").content
    room.visibility = Visibility.PUBLIC
    room.save()
    assert b"Acme Live" in client.get("/").content


def test_the_player_status_tells_viewers_whether_the_room_is_live(client, room):
    assert client.get(f"/watch/{room.public_id}/status").json()["state"] == "offline"
    room.live_state = "live"
    room.viewer_count = 3
    room.save()
    status = client.get(f"/watch/{room.public_id}/status").json()
    assert status["state"] == "live"
    assert status["viewers"] == 3
    assert "protocol" not in status, "viewers do not learn how the streamer publishes"
