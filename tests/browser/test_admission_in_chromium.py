"""Going live and watching privately in Chromium, through the OME emulator and the admission
webhook: the publisher page's credential, the room page's live badge and past sessions, and a
member's tokenized player."""

import pytest
from playwright.sync_api import expect

from ome.reconcile import reconcile
from rooms.models import LiveSession, LiveState, Room, Visibility

from ..conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.emulator, pytest.mark.django_db(transaction=True)]


def test_a_member_goes_live_from_the_browser_with_a_single_use_credential(
    live_server, browser_context, page, team, room, webhooked_ome
):
    sign_in(browser_context, live_server, team.streamer)
    page.goto(f"{live_server.url}/rooms/{room.public_id}/publish")
    expect(page.get_by_test_id("go-live-button")).to_be_enabled()
    page.get_by_test_id("go-live-button").click()
    expect(page.get_by_test_id("publisher-state")).to_have_text("You are live.", timeout=20_000)
    opening = next(
        hook for hook in webhooked_ome.webhook_requests() if hook["request"]["request"]["status"] == "opening"
    )
    assert "credential=" in opening["request"]["request"]["url"], "OvenLiveKit opened the URL with the credential"
    assert opening["answer"] == {"allowed": True}
    session = LiveSession.objects.get(room=room)
    assert session.started_by == team.streamer and session.protocol == "webrtc"
    page.get_by_test_id("stop-button").click()
    webhooked_ome.wait_for(lambda: Room.objects.get(pk=room.pk).live_state == LiveState.OFFLINE, what="go-offline")
    page.console_errors.assert_none()


def test_the_room_page_shows_the_go_live_within_seconds_and_then_the_past_session(
    live_server, browser_context, page, team, room, webhooked_ome
):
    sign_in(browser_context, live_server, team.streamer)
    page.goto(f"{live_server.url}/rooms/{room.public_id}/")
    badge = page.locator("#live-status [data-live-state]")
    expect(badge).to_have_text("Offline")
    webhooked_ome.publish(f"rtmp://127.0.0.1:1935/app/{room.stream_key}")
    reconcile()  # the loop confirms the stream OME lists
    expect(badge).to_have_text("Live · 0 watching", timeout=6_000)
    webhooked_ome.play(f"{webhooked_ome.signalling_url}/app/{room.public_id}")
    reconcile()  # and writes the viewer count
    expect(badge).to_have_text("Live · 1 watching", timeout=6_000)
    webhooked_ome.unpublish(room.public_id)
    expect(badge).to_have_text("Offline", timeout=6_000)
    page.reload()
    row = page.get_by_test_id("sessions").locator("tbody tr").first
    cells = row.locator("td").all_inner_texts()
    session = LiveSession.objects.get(room=room)
    assert cells[0] == f"{session.started_at:%Y-%m-%d %H:%M}"
    assert "minute" in cells[1], "how long it lasted"
    assert cells[2:] == ["RTMP", "1"], "protocol and peak viewers"
    page.console_errors.assert_none()


def test_a_member_watches_a_private_room_with_the_token_of_the_player_page(
    live_server, browser_context, page, team, room, webhooked_ome
):
    room.visibility = Visibility.PRIVATE
    room.save()
    sign_in(browser_context, live_server, team.streamer)
    # Real media: the streamer publishes from the browser (an RTMP stand-in carries none).
    page.goto(f"{live_server.url}/rooms/{room.public_id}/publish")
    expect(page.get_by_test_id("go-live-button")).to_be_enabled()
    page.get_by_test_id("go-live-button").click()
    expect(page.get_by_test_id("publisher-state")).to_have_text("You are live.", timeout=20_000)
    reconcile()
    viewer = browser_context.new_page()
    viewer.goto(f"{live_server.url}/watch/{room.public_id}")
    expect(viewer.get_by_test_id("player")).to_have_attribute("data-state", "playing", timeout=30_000)
    plays = [hook for hook in webhooked_ome.webhook_requests() if hook["request"]["request"]["direction"] == "outgoing"]
    assert plays and all("token=" in hook["request"]["request"]["url"] for hook in plays)
    assert plays[-1]["answer"] == {"allowed": True}
    page.console_errors.assert_none()
