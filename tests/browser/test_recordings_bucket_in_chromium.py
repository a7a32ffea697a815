"""A recording kept in the bucket (RECORDINGS_STORAGE=s3, a real S3 server on loopback) plays in
Chromium with seeking: the portal checks the member and redirects the video element to a
presigned URL, and the bucket answers its Range requests."""

import pytest
from playwright.sync_api import expect

from recordings.models import Recording, RecordingState

from ..conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.emulator, pytest.mark.django_db(transaction=True)]


def test_a_streamer_records_and_plays_with_seeking_from_the_bucket(
    live_server, browser_context, page, team, room, portal_ome, reconcile_loop, bucket
):
    to_bucket = []
    page.on(
        "response",
        lambda response: (
            to_bucket.append((response.status, response.request.headers.get("range")))
            if response.url.startswith(bucket.server.endpoint_url)
            else None
        ),
    )
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
    expect(play).to_be_visible(timeout=20_000)
    expect(panel.locator("tbody tr").first).to_contain_text("Ready")
    recording = Recording.objects.get(room=room)
    assert recording.state == RecordingState.FINISHED and recording.storage_key in bucket.keys()

    play.click()
    video = page.get_by_test_id("recording-video")
    page.wait_for_function("v => v.readyState >= 2 && v.videoWidth > 0", arg=video.element_handle(), timeout=10_000)
    duration = video.evaluate("v => v.duration")
    assert 1.5 < duration < 10, f"the recording lasts {duration} s"
    video.evaluate("v => { v.muted = true; v.currentTime = 1; return v.play(); }")
    page.wait_for_function("v => v.currentTime > 1.2", arg=video.element_handle(), timeout=10_000)
    assert video.evaluate("v => v.currentSrc").endswith(f"/recordings/{recording.pk}/file")
    assert any(status == 206 and byte_range for status, byte_range in to_bucket), (
        f"the bucket served the video's ranges: {to_bucket}"
    )
    page.console_errors.assert_none()
