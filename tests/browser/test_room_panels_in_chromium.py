"""The room page's Restream and Recordings panels in Chromium: a streamer adds a destination,
starts it and watches its state change without reloading; records the live room and plays the
finished file in the browser."""

import pytest
from playwright.sync_api import expect

from ..conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.emulator, pytest.mark.django_db(transaction=True)]


def test_a_streamer_restreams_and_sees_the_state_change_without_reloading(
    live_server, browser_context, page, team, room, portal_ome, reconcile_loop
):
    sign_in(browser_context, live_server, team.streamer)
    page.goto(f"{live_server.url}/rooms/{room.public_id}/")
    page.get_by_test_id("add-destination").click()
    page.get_by_label("Platform").select_option("custom")
    page.get_by_label("Server URL").fill("rtmp://127.0.0.1:19352/live")
    page.get_by_label("Stream key").fill("key-from-the-dashboard-1234")
    page.get_by_label("Name").fill("Sink")
    page.get_by_role("button", name="Add the destination").click()
    row = page.locator("[data-destination]").first
    expect(row).to_contain_text("Sink")
    expect(row).to_contain_text("••••••••1234")

    row.get_by_test_id("start-push").click()
    state = row.get_by_test_id("push-state")
    expect(state).to_have_text("Starting", timeout=5_000)
    portal_ome.publish(f"rtmp://127.0.0.1:1935/app/{room.public_id}")
    expect(state).to_have_text("Pushing", timeout=10_000)
    expect(row.locator("[data-role=sent]")).to_contain_text(" KB in 0:0", timeout=10_000)

    row.get_by_test_id("stop-push").click()
    expect(state).to_have_text("Stopped", timeout=10_000)
    expect(row.get_by_test_id("start-push")).to_be_visible()

    portal_ome.fail_destination("rtmp://127.0.0.1:19352/live")
    row.get_by_test_id("start-push").click()
    expect(state).to_have_text("Error", timeout=10_000)
    expect(row.locator("[data-role=error]")).to_contain_text("refused the stream or could not be reached")
    portal_ome.heal_destination("rtmp://127.0.0.1:19352/live")
    row.get_by_test_id("retry-push").click()
    expect(state).to_have_text("Pushing", timeout=10_000)
    page.console_errors.assert_none()


def test_a_streamer_records_the_live_room_and_plays_the_recording(
    live_server, browser_context, page, team, room, portal_ome, reconcile_loop
):
    portal_ome.publish(f"rtmp://127.0.0.1:1935/app/{room.public_id}")
    sign_in(browser_context, live_server, team.streamer)
    page.goto(f"{live_server.url}/rooms/{room.public_id}/")
    panel = page.locator("#recordings")
    expect(panel.get_by_test_id("start-recording")).to_have_text("Start recording", timeout=5_000)
    panel.get_by_test_id("start-recording").click()
    expect(panel.get_by_test_id("recording-state")).to_have_text("Recording", timeout=10_000)
    page.wait_for_timeout(2_500)
    panel.get_by_test_id("stop-recording").click()
    play = panel.get_by_test_id("play-recording")
    expect(play).to_be_visible(timeout=15_000)
    play.click()
    video = page.get_by_test_id("recording-video")
    page.wait_for_function("v => v.readyState >= 2 && v.videoWidth > 0", arg=video.element_handle(), timeout=10_000)
    duration = video.evaluate("v => v.duration")
    assert 1.5 < duration < 10, f"the recording lasts {duration} s"
    video.evaluate("v => { v.muted = true; v.currentTime = 1; return v.play(); }")
    page.wait_for_function("v => v.currentTime > 1.2", arg=video.element_handle(), timeout=10_000)
    page.console_errors.assert_none()
