"""An adaptive room in Chromium, through the OME emulator and the portal's transcode webhook: the
player offers OME's renditions in its quality menu (automatic by default) and switching works;
live thumbnails appear on the pages and stay current."""

import io

import av
import pytest
from playwright.sync_api import expect

from rooms import services as room_services
from rooms.models import LiveState, Quality, Room

from ..conftest import sign_in
from ..factories import RoomFactory

pytestmark = [pytest.mark.browser, pytest.mark.emulator, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def transcoding_ome(webhooked_ome, live_server, settings):
    """The emulator asking the live portal which outputs each stream gets, and serving thumbnails to it."""
    webhooked_ome.config(
        transcode_webhook_url=live_server.url + "/ome/transcode", transcode_webhook_secret=settings.OME_WEBHOOK_SECRET
    )
    settings.OME_THUMBNAIL_URL = webhooked_ome.llhls_url
    # The emulator's test pattern is 640x352: one rung below it.
    settings.ADAPTIVE_RENDITIONS = ((240, 400_000),)
    return webhooked_ome


def go_live(ome, room) -> None:
    ome.publish(f"rtmp://127.0.0.1:1935/app/{room.stream_key}")
    room_services.go_live(room_id=room.pk, protocol="rtmp", confirmed=True)


def test_an_adaptive_room_plays_with_a_working_quality_menu(live_server, page, team, transcoding_ome):
    room = RoomFactory(organization=team.organization, quality=Quality.ADAPTIVE)
    go_live(transcoding_ome, room)
    page.goto(f"{live_server.url}/watch/{room.public_id}")
    expect(page.get_by_test_id("player")).to_have_attribute("data-state", "playing", timeout=20_000)
    player = "OvenPlayer.getPlayerList()[0]"
    assert page.evaluate(f"{player}.getCurrentSource()") == 0
    assert "/abr" in page.evaluate(f"{player}.getSources()[0].file"), "the adaptive WebRTC playlist"
    levels = page.evaluate(f"{player}.getQualityLevels().map(l => [l.label, l.width, l.height])")
    assert levels == [["240p", 436, 240], ["source", 640, 352]], "OME's renditions, as it names and sizes them"
    assert page.evaluate(f"{player}.isAutoQuality()") is True, "automatic by default"

    page.evaluate(f"window.changes = []; {player}.on('qualityLevelChanged', e => window.changes.push(e))")
    page.locator("#player-root").hover()
    page.locator(".op-setting-button").click()
    page.locator(".op-setting-item", has_text="Quality").click()
    page.locator(".op-setting-item", has_text="240p").click()
    # OME (the emulator) confirms the switch with a rendition_changed notification.
    page.wait_for_function("window.changes.some(e => e.type === 'render' && e.currentQuality === 0)")
    assert page.evaluate(f"{player}.isAutoQuality()") is False
    assert page.evaluate(f"{player}.getCurrentQuality()") == 0
    expect(page.get_by_test_id("player")).to_have_attribute("data-state", "playing")
    page.console_errors.assert_none()


def test_an_original_room_plays_as_published_without_adaptive_playlists(live_server, page, team, transcoding_ome):
    room = RoomFactory(organization=team.organization)
    go_live(transcoding_ome, room)
    page.goto(f"{live_server.url}/watch/{room.public_id}")
    expect(page.get_by_test_id("player")).to_have_attribute("data-state", "playing", timeout=20_000)
    assert "/abr" not in page.evaluate("OvenPlayer.getPlayerList()[0].getSources()[0].file")
    page.console_errors.assert_none()


def test_live_thumbnails_show_on_the_start_page_and_the_room_page_and_refresh(
    live_server, browser_context, page, team, transcoding_ome
):
    room = RoomFactory(organization=team.organization, title="Morning Show")
    go_live(transcoding_ome, room)
    page.goto(f"{live_server.url}/")
    card = page.locator(f"article[data-room={room.public_id}] img[data-live-thumbnail]")
    expect(card).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth === 640", arg=card.element_handle())
    first = card.get_attribute("src")
    page.wait_for_function("([img, first]) => img.getAttribute('src') !== first", arg=[card.element_handle(), first])
    assert "t=" in card.get_attribute("src"), "fetched again every few seconds"

    offline = RoomFactory(organization=team.organization, title="Not yet")
    sign_in(browser_context, live_server, team.streamer)
    page.goto(f"{live_server.url}/rooms/{offline.public_id}/")
    thumbnail = page.get_by_test_id("room-thumbnail")
    expect(thumbnail).to_be_hidden()  # a 1x1 placeholder while the room is offline, no failed request
    go_live(transcoding_ome, offline)
    expect(thumbnail).to_be_visible(timeout=10_000)  # it appears once the room is live, without a reload
    page.console_errors.assert_none()


def test_the_embed_urls_quality_picks_a_rendition_of_an_adaptive_room_and_is_ignored_elsewhere(
    live_server, page, team, transcoding_ome
):
    adaptive = RoomFactory(organization=team.organization, quality=Quality.ADAPTIVE)
    original = RoomFactory(organization=team.organization)
    go_live(transcoding_ome, adaptive)
    go_live(transcoding_ome, original)
    player = "OvenPlayer.getPlayerList()[0]"
    page.goto(f"{live_server.url}/embed/{adaptive.public_id}?quality=240p")
    expect(page.get_by_test_id("player")).to_have_attribute("data-state", "playing", timeout=20_000)
    page.wait_for_function(f"!{player}.isAutoQuality() && {player}.getCurrentQuality() === 0")
    page.goto(f"{live_server.url}/embed/{original.public_id}?quality=240p")
    expect(page.get_by_test_id("player")).to_have_attribute("data-state", "playing", timeout=20_000)
    assert "/abr" not in page.evaluate(f"{player}.getSources()[0].file")
    page.console_errors.assert_none()


def test_a_member_plays_a_private_adaptive_room_through_the_admission_webhook(
    live_server, browser_context, page, team, transcoding_ome
):
    room = RoomFactory(organization=team.organization, quality=Quality.ADAPTIVE, visibility="private")
    go_live(transcoding_ome, room)
    sign_in(browser_context, live_server, team.streamer)
    page.goto(f"{live_server.url}/watch/{room.public_id}")
    expect(page.get_by_test_id("player")).to_have_attribute("data-state", "playing", timeout=20_000)
    source = page.evaluate("OvenPlayer.getPlayerList()[0].getSources()[0].file")
    assert f"/app/{room.public_id}/abr?token=" in source, "the adaptive playlist, with the member's playback token"
    assert len(page.evaluate("OvenPlayer.getPlayerList()[0].getQualityLevels()")) == 2
    plays = [
        hook["request"]["request"]["url"]
        for hook in transcoding_ome.webhook_requests()
        if hook["request"]["request"]["direction"] == "outgoing"
    ]
    assert any(f"/{room.public_id}/abr?token=" in url for url in plays), "OME asked the portal about the player"
    page.console_errors.assert_none()


def test_a_browser_streams_thumbnail_is_a_picture_of_what_the_camera_sends(
    live_server, browser_context, page, team, transcoding_ome
):
    room = RoomFactory(organization=team.organization, quality=Quality.ADAPTIVE)
    sign_in(browser_context, live_server, team.streamer)
    page.goto(f"{live_server.url}/rooms/{room.public_id}/publish")
    expect(page.get_by_test_id("go-live-button")).to_be_enabled()
    page.get_by_test_id("go-live-button").click()
    expect(page.get_by_test_id("publisher-state")).to_have_text("You are live.", timeout=20_000)
    room_services.go_live(room_id=room.pk, protocol="webrtc", confirmed=True)
    url = f"{live_server.url}/watch/{room.public_id}/thumbnail.jpg"
    response = None
    for _ in range(50):  # the first keyframe arrives a moment after the stream starts
        response = page.request.get(url)
        if response.status == 200:
            break
        page.wait_for_timeout(200)
    assert response is not None and response.status == 200
    assert response.headers["content-type"] == "image/jpeg"
    with av.open(io.BytesIO(response.body()), format="mjpeg") as container:
        frame = next(container.decode(video=0))
    # Chromium's fake camera is 640x480: the thumbnail keeps its shape inside 640x360.
    assert (frame.width, frame.height) == (480, 360)
    page.get_by_test_id("stop-button").click()
    transcoding_ome.wait_for(lambda: Room.objects.get(pk=room.pk).live_state == LiveState.OFFLINE, what="go-offline")
