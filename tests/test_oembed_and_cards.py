"""oEmbed and link cards: what a CMS, forum or chat app learns from a watch or embed link.

Public and unlisted rooms' watch and embed links, and private rooms' signed embed links, unfold
into the player; anything else is "not found", so nothing tells that a private room exists."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote
from xml.etree import ElementTree

import pytest

from rooms import credentials
from rooms.models import LiveState, Room, Visibility

from .factories import RoomFactory

BASE = "http://testserver"


@pytest.fixture
def rooms(team):
    made = {
        kind: RoomFactory(
            organization=team.organization, public_id=f"{kind}-room", title=f"The {kind} show", visibility=kind
        )
        for kind in (Visibility.PUBLIC, Visibility.UNLISTED, Visibility.PRIVATE)
    }
    return made


def _oembed(client, url: str, **params):
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return client.get(f"/oembed?url={quote(url, safe='')}" + (f"&{query}" if query else ""))


@pytest.mark.parametrize("kind", [Visibility.PUBLIC, Visibility.UNLISTED])
@pytest.mark.parametrize("path", ["/watch/{id}", "/embed/{id}", "/player.html?room={id}"])
def test_public_and_unlisted_links_unfold_into_the_player(client, rooms, team, kind, path):
    room = rooms[kind]
    answer = _oembed(client, BASE + path.format(id=room.public_id))
    assert answer.status_code == 200
    data = answer.json()
    assert data["type"] == "video" and data["version"] == "1.0"
    assert data["title"] == room.title and data["author_name"] == team.organization.name
    assert data["provider_name"] == "Streaming Stack"
    assert (data["width"], data["height"]) == (640, 360)
    assert f'src="{BASE}/embed/{room.public_id}"' in data["html"] and data["html"].startswith("<iframe")
    assert "thumbnail_url" not in data, "an offline room has no live thumbnail"


def test_a_private_rooms_links_are_not_found_without_a_valid_embed_link(client, rooms):
    room = rooms[Visibility.PRIVATE]
    assert _oembed(client, f"{BASE}/watch/{room.public_id}").status_code == 404
    assert _oembed(client, f"{BASE}/embed/{room.public_id}").status_code == 404
    assert _oembed(client, f"{BASE}/embed/{room.public_id}?link=forged.link").status_code == 404
    token, _link = credentials.mint_embed_link(room=room, lifetime_seconds=3600)
    assert _oembed(client, f"{BASE}/watch/{room.public_id}?link={token}").status_code == 404

    answer = _oembed(client, f"{BASE}/embed/{room.public_id}?link={token}")
    assert answer.status_code == 200
    assert f"/embed/{room.public_id}?link={token}" in unquote(answer.json()["html"])
    credentials.withdraw_embed_links(room=Room.objects.get(pk=room.pk))
    assert _oembed(client, f"{BASE}/embed/{room.public_id}?link={token}").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "https://elsewhere.example/watch/public-room",
        f"{BASE}/watch/no-such-room",
        f"{BASE}/rooms/public-room/",
        f"{BASE}/",
        "javascript:alert(1)",
        "",
    ],
)
def test_anything_else_is_not_found(client, rooms, url):
    assert _oembed(client, url).status_code == 404


def test_xml_is_answered_and_other_formats_are_not_implemented(client, rooms):
    url = f"{BASE}/watch/public-room"
    answer = _oembed(client, url, format="xml")
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/xml")
    document = ElementTree.fromstring(answer.content)
    assert document.tag == "oembed" and document.findtext("type") == "video"
    assert document.findtext("title") == "The public show"
    assert _oembed(client, url, format="yaml").status_code == 501


def test_the_player_fits_the_consumers_limits(client, rooms):
    data = _oembed(client, f"{BASE}/watch/public-room", maxwidth=320).json()
    assert (data["width"], data["height"]) == (320, 180)
    assert 'width="320" height="180"' in data["html"]
    data = _oembed(client, f"{BASE}/watch/public-room", maxheight=90).json()
    assert (data["width"], data["height"]) == (160, 90)
    assert _oembed(client, f"{BASE}/watch/public-room", maxwidth="wide").status_code == 400


def test_the_player_options_of_an_embed_link_are_kept(client, rooms):
    data = _oembed(client, f"{BASE}/embed/public-room?autoplay=0&muted=0&other=1").json()
    assert 'src="http://testserver/embed/public-room?autoplay=0&amp;muted=0"' in data["html"]


def test_a_live_room_has_its_live_thumbnail(client, rooms):
    Room.objects.filter(public_id="public-room").update(live_state=LiveState.LIVE)
    data = _oembed(client, f"{BASE}/watch/public-room").json()
    assert data["thumbnail_url"] == f"{BASE}/watch/public-room/thumbnail.jpg"
    assert (data["thumbnail_width"], data["thumbnail_height"]) == (640, 360)


def _meta(html: str) -> dict[str, str]:
    return {
        name: content
        for name, content in re.findall(r'<meta (?:property|name)="([^"]+)" content="([^"]*)"', html)
        if name.startswith(("og:", "twitter:"))
    }


@pytest.mark.parametrize("kind", [Visibility.PUBLIC, Visibility.UNLISTED])
def test_watch_pages_carry_discovery_and_card_tags(client, rooms, kind):
    room = rooms[kind]
    html = client.get(f"/watch/{room.public_id}").content.decode()
    discovery = re.search(r'<link rel="alternate" type="application/json\+oembed" href="([^"]+)"', html)
    assert discovery, "the oEmbed discovery link"
    href = discovery.group(1).replace("&amp;", "&")
    assert client.get(href.removeprefix(BASE)).json()["title"] == room.title
    tags = _meta(html)
    assert tags["og:title"] == room.title
    assert tags["og:type"] == "video.other"
    assert tags["og:url"] == f"{BASE}/watch/{room.public_id}"
    assert tags["twitter:card"] == "player"
    assert tags["twitter:player"] == f"{BASE}/embed/{room.public_id}"
    assert (tags["twitter:player:width"], tags["twitter:player:height"]) == ("640", "360")
    assert tags["og:video:url"] == f"{BASE}/embed/{room.public_id}"


def test_a_private_rooms_watch_page_carries_no_card_and_no_discovery(team, rooms):
    from .conftest import client_for

    html = client_for(team.owner).get("/watch/private-room").content.decode()
    assert "<title>" in html and "The private show" in html
    assert _meta(html) == {}
    assert "json+oembed" not in html
