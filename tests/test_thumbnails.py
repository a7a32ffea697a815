"""Live thumbnails at /watch/ID/thumbnail.jpg: the portal fetches them from OME's Thumbnail
publisher (here the emulator's, which serves a real JPEG of the stream) and hands them out with
the room's access rules, since OME's own URL is open to anyone who reaches it."""

from __future__ import annotations

import io
import time
from urllib.parse import urlencode

import av
import pytest
import requests

from core import outage
from rooms import credentials
from rooms import services as room_services
from rooms.models import Visibility

from .conftest import client_for
from .factories import RoomFactory

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]


@pytest.fixture
def thumbnail_ome(ome, settings):
    settings.OME_THUMBNAIL_URL = ome.llhls_url
    settings.THUMBNAIL_CACHE_SECONDS = 1
    yield ome


def go_live(ome, room) -> None:
    ome.publish(f"rtmp://127.0.0.1:1935/app/{room.public_id}")
    room_services.go_live(room_id=room.pk, protocol="rtmp", confirmed=True)


def decoded_size(image: bytes) -> tuple[int, int]:
    with av.open(io.BytesIO(image), format="mjpeg") as container:
        frame = next(container.decode(video=0))
        return frame.width, frame.height


def thumbnail(client, room, query: str = ""):
    return client.get(f"/watch/{room.public_id}/thumbnail.jpg{query}")


def test_anyone_sees_a_live_public_rooms_thumbnail_a_real_jpeg_of_the_stream(client, team, thumbnail_ome):
    room = RoomFactory(organization=team.organization)
    go_live(thumbnail_ome, room)
    response = thumbnail(client, room)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert "public" in response["Cache-Control"] and "max-age=1" in response["Cache-Control"]
    assert decoded_size(response.content) == (640, 360), "the size the portal's transcode answer asks for"
    unlisted = RoomFactory(organization=team.organization, visibility=Visibility.UNLISTED)
    go_live(thumbnail_ome, unlisted)
    assert thumbnail(client, unlisted).status_code == 200


def test_a_private_rooms_thumbnail_is_only_for_those_who_may_watch_it(client, team, other_team, thumbnail_ome):
    room = RoomFactory(organization=team.organization, visibility=Visibility.PRIVATE)
    go_live(thumbnail_ome, room)
    # OME itself would hand it to anyone: the portal does not.
    direct = requests.get(f"{thumbnail_ome.llhls_url}/app/{room.public_id}/thumb.jpg", timeout=5)
    assert direct.status_code == 200, "the reason the stack must never publish OME's thumbnail URLs"
    assert thumbnail(client, room).status_code == 404, "an anonymous visitor"
    assert thumbnail(client_for(other_team.owner), room).status_code == 404, "a member of another organization"
    assert thumbnail(client, room, "?link=forged.link").status_code == 404
    member = thumbnail(client_for(team.streamer), room)
    assert member.status_code == 200
    assert "private" in member["Cache-Control"], "never in a shared cache"
    token, _link = credentials.mint_embed_link(room=room, lifetime_seconds=3600)
    assert thumbnail(client, room, f"?link={token}").status_code == 200, "a signed embed link"
    credentials.withdraw_embed_links(room=room)
    assert thumbnail(client, room, f"?link={token}").status_code == 404, "a withdrawn link"


def test_no_thumbnail_while_offline_or_before_ome_has_an_image(client, team, thumbnail_ome):
    room = RoomFactory(organization=team.organization)
    assert thumbnail(client, room).status_code == 404, "offline"
    room_services.go_live(room_id=room.pk, protocol="rtmp", confirmed=True)  # OME has no such stream
    assert thumbnail(client, room).status_code == 404
    assert thumbnail(client, RoomFactory.build(public_id="no-such-room")).status_code == 404


def test_the_image_is_kept_briefly_then_follows_ome(client, team, thumbnail_ome):
    room = RoomFactory(organization=team.organization)
    go_live(thumbnail_ome, room)
    assert thumbnail(client, room).status_code == 200
    thumbnail_ome.unpublish(room.public_id)
    assert thumbnail(client, room).status_code == 200, "served from the cache: OME is asked once a period"
    time.sleep(1.2)
    assert thumbnail(client, room).status_code == 404


def test_ome_unreachable_means_no_thumbnail_not_an_error(client, team, settings, caplog, monkeypatch):
    settings.OME_THUMBNAIL_URL = "http://127.0.0.1:9"  # nothing listens
    monkeypatch.setattr(outage, "_last_warning", {})  # no earlier test's warning holds this one back
    room = RoomFactory(organization=team.organization)
    room_services.go_live(room_id=room.pk, protocol="rtmp", confirmed=True)
    started = time.monotonic()
    assert thumbnail(client, room).status_code == 404
    assert time.monotonic() - started < 3
    # The operator's log names what is down: OME's thumbnails, not Redis.
    warning = next(record.getMessage() for record in caplog.records if "thumbnail" in record.getMessage())
    assert "OME" in warning and "Redis" not in warning


def test_the_portals_pages_get_an_invisible_placeholder_instead_of_a_404(client, team, thumbnail_ome):
    room = RoomFactory(organization=team.organization)
    response = thumbnail(client, room, "?placeholder=1")
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert response.content.startswith(b"GIF89a\x01\x00\x01\x00"), "1x1: the page hides it"
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    private = RoomFactory(organization=team.organization, visibility=Visibility.PRIVATE)
    assert thumbnail(client, private, "?placeholder=1").status_code == 404, "never for someone who may not watch"


def test_live_rooms_show_their_thumbnail_on_the_start_page_the_room_list_the_room_page_and_the_player(
    client, team, thumbnail_ome
):
    live = RoomFactory(organization=team.organization, title="On air")
    go_live(thumbnail_ome, live)
    offline = RoomFactory(organization=team.organization, title="Later")
    src = f'src="/watch/{live.public_id}/thumbnail.jpg?placeholder=1" data-live-thumbnail='
    assert src in client.get("/").content.decode()
    member = client_for(team.streamer)
    rooms = member.get("/rooms/").content.decode()
    assert src in rooms
    assert f"/watch/{offline.public_id}/thumbnail.jpg" not in rooms, "offline rooms ask for nothing"
    assert src in member.get(f"/rooms/{live.public_id}/").content.decode()
    watch = client.get(f"/watch/{live.public_id}").content.decode()
    assert src in watch, "the player's poster before playback"
    assert f'<meta property="og:image" content="http://testserver/watch/{live.public_id}/thumbnail.jpg">' in watch
    assert "og:image" not in client.get(f"/watch/{offline.public_id}").content.decode(), "nothing to show offline"


def test_a_private_rooms_watch_page_has_no_og_image_and_its_poster_carries_the_embed_link(client, team, thumbnail_ome):
    room = RoomFactory(organization=team.organization, visibility=Visibility.PRIVATE)
    go_live(thumbnail_ome, room)
    token, _link = credentials.mint_embed_link(room=room, lifetime_seconds=3600)
    page = client.get(f"/embed/{room.public_id}?link={token}").content.decode()
    assert "og:image" not in client_for(team.streamer).get(f"/watch/{room.public_id}").content.decode()
    query = urlencode({"placeholder": "1", "link": token}).replace("&", "&amp;")
    assert f"/watch/{room.public_id}/thumbnail.jpg?{query}" in page
    assert thumbnail(client, room, f"?placeholder=1&link={token}")["Content-Type"] == "image/jpeg"
