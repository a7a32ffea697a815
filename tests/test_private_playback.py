"""Private rooms: members' players get signed URLs; owners and admins hand out signed, expiring
embed links that play the room for anyone, and can withdraw them all."""

import json
import re
import time
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from rooms import credentials
from rooms.models import Room, Visibility

from .admission_helpers import play
from .conftest import client_for

PLAYER_URLS = ["/player.html?room={id}", "/watch/{id}", "/embed/{id}"]


@pytest.fixture
def private_room(room):
    room.visibility = Visibility.PRIVATE
    room.allowed_embed_origins = "https://partner.example"
    room.save()
    return room


def _config(response) -> dict:
    raw = response.content.split(b'id="player-config" type="application/json">')[1].split(b"</script>")[0]
    return json.loads(raw)


def _token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def _link(room: Room, seconds: int = 3600) -> str:
    return credentials.mint_embed_link(room=room, lifetime_seconds=seconds)[0]


def _ome_url(url: str) -> str:
    """What OME reports for a player URL: the same path and query on OME's own address."""
    parts = urlsplit(url)
    return f"{parts.scheme}://ome.internal:3333{parts.path}?{parts.query}"


@pytest.mark.parametrize("url", PLAYER_URLS)
def test_a_members_player_gets_signed_webrtc_and_llhls_urls(team, private_room, url, client):
    response = client_for(team.streamer).get(url.format(id=private_room.public_id))
    assert response.status_code == 200
    config = _config(response)
    assert config["webrtcUrl"].startswith("ws://127.0.0.1:3333/app/acme-live?token=")
    assert config["llhlsUrl"].startswith("http://127.0.0.1:3333/app/acme-live/llhls.m3u8?token=")
    token = credentials.read_playback_token(_token(config["webrtcUrl"]))
    assert (token.room_id, token.user_id) == (private_room.pk, team.streamer.pk)
    assert "private" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
    assert play(client, _ome_url(config["webrtcUrl"])).json() == {"allowed": True}
    assert play(client, _ome_url(config["llhlsUrl"]), protocol="LLHLS").json() == {"allowed": True}
    assert parse_qs(urlsplit(config["webrtcRelayUrl"]).query)["transport"] == ["relay"]
    assert play(client, _ome_url(config["webrtcRelayUrl"])).json() == {"allowed": True}


def test_public_rooms_play_without_tokens(client, room):
    config = _config(client.get(f"/watch/{room.public_id}"))
    assert config["webrtcUrl"] == "ws://127.0.0.1:3333/app/acme-live"
    assert config["llhlsUrl"] == "http://127.0.0.1:3333/app/acme-live/llhls.m3u8"


def test_players_can_fall_back_to_omes_turn_relay_with_the_0_21_transport_parameter(client, room):
    # OME 0.21: no ?transport= means UDP and direct TCP ICE; `relay` is TURN over TCP (`tcp` is
    # direct TCP ICE since 0.21, TURN before). The player tries it after the direct connection.
    config = _config(client.get(f"/watch/{room.public_id}"))
    assert config["webrtcRelayUrl"] == "ws://127.0.0.1:3333/app/acme-live?transport=relay"
    assert "transport" not in config["webrtcUrl"]


@pytest.mark.parametrize("url", PLAYER_URLS)
def test_a_valid_embed_link_plays_a_private_room_for_anyone(client, private_room, url):
    link = _link(private_room)
    separator = "&" if "?" in url else "?"
    response = client.get(url.format(id=private_room.public_id) + f"{separator}link={link}")
    assert response.status_code == 200
    config = _config(response)
    status_url = urlsplit(config["statusUrl"])
    assert (status_url.path, parse_qs(status_url.query)) == ("/watch/acme-live/status", {"link": [link]})
    assert play(client, _ome_url(config["webrtcUrl"])).json()["allowed"] is True
    assert play(client, _ome_url(config["llhlsUrl"]), protocol="LLHLS").json()["allowed"] is True
    assert response["Content-Security-Policy"] == "frame-ancestors 'self' https://partner.example"


def test_the_players_token_never_outlives_the_embed_link(client, private_room, monkeypatch):
    link_token, link = credentials.mint_embed_link(room=private_room, lifetime_seconds=3600)
    later = time.time() + 3600 - 60  # one minute before the link expires
    monkeypatch.setattr(time, "time", lambda: later)
    config = _config(client.get(f"/embed/{private_room.public_id}?link={link_token}"))
    assert credentials.read_playback_token(_token(config["webrtcUrl"])).expires_at == link.expires_at


def test_without_a_link_strangers_still_cannot_watch(client, private_room):
    assert client.get(f"/embed/{private_room.public_id}").status_code == 302
    assert client.get(f"/watch/{private_room.public_id}/status").status_code == 404


def test_an_expired_embed_link_shows_a_clear_403_page(client, private_room, monkeypatch):
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - 7200)
    link = _link(private_room)
    monkeypatch.undo()
    response = client.get(f"/embed/{private_room.public_id}?link={link}")
    assert response.status_code == 403
    text = unescape(response.content.decode())
    assert "This embed link expired on" in text and "Ask the site that shows this player for a new one." in text
    assert "Traceback" not in text
    assert response["Content-Security-Policy"] == "frame-ancestors 'self' https://partner.example", (
        "the embedding site can show the message"
    )


@pytest.mark.parametrize("damage", [lambda link: link[:-4], lambda link: link.replace(":", ":x", 1), lambda link: "x"])
def test_a_tampered_or_truncated_embed_link_shows_a_clear_403_page(client, private_room, damage):
    response = client.get(f"/embed/{private_room.public_id}?link={damage(_link(private_room))}")
    assert response.status_code == 403
    assert "This embed link is not valid" in unescape(response.content.decode())


def test_an_embed_link_of_another_room_does_not_open_this_one(client, private_room, other_room):
    other_room.visibility = Visibility.PRIVATE
    other_room.save()
    response = client.get(f"/embed/{private_room.public_id}?link={_link(other_room)}")
    assert response.status_code == 403


def test_the_status_poll_of_an_embed_link_brings_fresh_tokens(client, private_room):
    link = _link(private_room)
    response = client.get(f"/watch/{private_room.public_id}/status?link={link}")
    assert response.status_code == 200
    status = response.json()
    assert status["state"] == "offline"
    assert play(client, _ome_url(status["sources"]["webrtcUrl"])).json()["allowed"] is True
    assert "no-store" in response["Cache-Control"]


def test_the_status_poll_of_a_member_brings_fresh_tokens(team, private_room):
    status = client_for(team.admin).get(f"/watch/{private_room.public_id}/status").json()
    assert credentials.read_playback_token(_token(status["sources"]["llhlsUrl"])).user_id == team.admin.pk


def test_public_rooms_status_has_no_sources(client, room):
    assert "sources" not in client.get(f"/watch/{room.public_id}/status").json()


# --- Creating and withdrawing links on the room page --------------------------------------


def _new_link(response) -> str:
    match = re.search(r'id="embed-link-url" data-testid="embed-link-url" value="([^"]+)"', response.content.decode())
    if match is None:
        match = re.search(r'value="([^"]+)" id="embed-link-url"', response.content.decode())
    assert match, "the page shows the new link"
    return unescape(match.group(1))


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_create_an_expiring_embed_link_with_a_ready_iframe_snippet(team, private_room, role, client):
    member = client_for(team.member(role))
    page = member.get(f"/rooms/{private_room.public_id}/")
    assert b"Create an embed link" in page.content
    response = member.post(f"/rooms/{private_room.public_id}/embed-links", {"lifetime": str(7 * 24 * 3600)})
    assert response.status_code == 200
    text = unescape(response.content.decode())
    assert "works for 1 week" in text
    url = _new_link(response)
    assert url.startswith("http://testserver/embed/acme-live?link=")
    assert f'<iframe src="{url}" width="640" height="360"' in text
    link = credentials.read_embed_link(parse_qs(urlsplit(url).query)["link"][0], room=private_room)
    assert 7 * 24 * 3600 - 10 < link.expires_at - time.time() <= 7 * 24 * 3600
    assert client.get(url.replace("http://testserver", "")).status_code == 200, "a stranger plays it"


def test_streamers_do_not_create_embed_links(streamer_client, private_room):
    assert b"Create an embed link" not in streamer_client.get(f"/rooms/{private_room.public_id}/").content
    response = streamer_client.post(f"/rooms/{private_room.public_id}/embed-links", {"lifetime": "3600"})
    assert response.status_code == 403


def test_other_organizations_cannot_create_links_for_the_room(outsider_client, private_room):
    assert outsider_client.post(f"/rooms/{private_room.public_id}/embed-links", {"lifetime": "3600"}).status_code == 404


@pytest.mark.parametrize("lifetime", ["", "60", "99999999999", "one week", "-3600"])
def test_a_bad_expiry_gets_a_clear_error(owner_client, private_room, lifetime):
    response = owner_client.post(f"/rooms/{private_room.public_id}/embed-links", {"lifetime": lifetime})
    assert response.status_code == 400
    text = unescape(response.content.decode())
    assert "Choose how long the link works" in text
    assert 'id="embed-link-url"' not in text


def test_public_rooms_need_no_embed_link(owner_client, room):
    response = owner_client.post(f"/rooms/{room.public_id}/embed-links", {"lifetime": "3600"})
    assert response.status_code == 400
    assert b"This room is not private" in response.content


def test_withdrawing_all_links_stops_every_link_issued_so_far(client, owner_client, private_room):
    old = _link(private_room)
    assert client.get(f"/embed/{private_room.public_id}?link={old}").status_code == 200
    response = owner_client.post(f"/rooms/{private_room.public_id}/embed-links/revoke", follow=True)
    assert b"Every embed link of this room stopped working" in response.content
    refused = client.get(f"/embed/{private_room.public_id}?link={old}")
    assert refused.status_code == 403
    assert b"This embed link was withdrawn by the stream" in refused.content
    private_room.refresh_from_db()
    assert client.get(f"/embed/{private_room.public_id}?link={_link(private_room)}").status_code == 200, (
        "links created afterwards work"
    )


def test_streamers_cannot_withdraw_links(streamer_client, private_room):
    assert streamer_client.post(f"/rooms/{private_room.public_id}/embed-links/revoke").status_code == 403
    assert Room.objects.get(pk=private_room.pk).embed_link_generation == 0
