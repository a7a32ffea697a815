"""Go live from the browser and watch it, end to end: Chromium's fake camera publishes through
the publisher page, OME (the emulator) asks the portal, and other browsers play it — on the
watch page and in an iframe on another site — until the streamer stops."""

import pytest
from playwright.sync_api import expect

from organizations.models import Membership
from rooms.models import LiveSession, LiveState, Room

from ..conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.emulator, pytest.mark.django_db(transaction=True)]

# OvenPlayer creates (and, while retrying, recreates) its <video>: look it up on every check.
VIDEO_TIME = (
    "() => { const v = document.querySelector('#player-root video'); return v && v.videoWidth > 0 && v.currentTime; }"
)


def _go_live(page, live_server, room):
    page.goto(f"{live_server.url}/rooms/{room.public_id}/publish")
    expect(page.get_by_test_id("go-live-button")).to_be_enabled()
    page.get_by_test_id("go-live-button").click()


def _assert_video_advances(frame):
    """The player in `frame` (a page or an iframe) shows decoded video whose time moves on."""
    first = frame.wait_for_function(VIDEO_TIME, timeout=20_000).json_value()
    frame.wait_for_function(f"() => ({VIDEO_TIME})() > {first} + 0.5", timeout=10_000)


def test_a_streamer_goes_live_and_viewers_watch_on_the_page_and_in_another_sites_iframe(
    live_server, chromium, browser_context, page, team, room, webhooked_ome, reconcile_loop, other_origin
):
    room.allowed_embed_origins = other_origin.origin
    room.save()
    sign_in(browser_context, live_server, team.streamer)
    _go_live(page, live_server, room)
    expect(page.get_by_test_id("publisher-state")).to_have_text("You are live.", timeout=20_000)
    expect(page.locator("#live-status [data-live-state]")).to_have_text("Live · 0 watching", timeout=15_000)

    viewers = chromium.new_context()  # someone else: no session, a public room
    try:
        watch = viewers.new_page()
        watch.goto(f"{live_server.url}/watch/{room.public_id}")
        _assert_video_advances(watch)
        expect(watch.get_by_test_id("player")).to_have_attribute("data-state", "playing")

        other_origin.pages["/blog.html"] = (
            f'<h1>My blog</h1><iframe id="player" src="{live_server.url}/embed/{room.public_id}" '
            'width="640" height="360" allow="autoplay; fullscreen"></iframe>'
        )
        blog = viewers.new_page()
        blog.goto(f"{other_origin.origin}/blog.html")
        frame = blog.locator("#player").element_handle().content_frame()
        _assert_video_advances(frame)

        forbidden = viewers.new_page()
        forbidden_origin = other_origin.origin.replace("127.0.0.1", "localhost")
        forbidden.goto(f"{forbidden_origin}/blog.html")
        forbidden.wait_for_timeout(1_000)
        assert forbidden.frame_locator("#player").locator("[data-testid=player]").count() == 0, (
            "a site that is not allowed framed the player"
        )
        expect(page.locator("#live-status [data-live-state]")).to_have_text("Live · 2 watching", timeout=15_000)

        page.get_by_test_id("stop-button").click()
        expect(page.get_by_test_id("publisher-state")).to_have_text("Stopped. You are no longer live.")
        expect(watch.get_by_test_id("player-message")).to_have_text("This stream is offline.", timeout=15_000)
        expect(watch.get_by_test_id("player")).to_have_attribute("data-state", "offline")
        expect(frame.get_by_test_id("player-message")).to_have_text("This stream is offline.", timeout=15_000)
    finally:
        viewers.close()
    session = LiveSession.objects.get(room=room)
    assert session.ended_at is not None and session.protocol == "webrtc"
    assert session.peak_viewers >= 2
    assert Room.objects.get(pk=room.pk).live_state == LiveState.OFFLINE
    page.console_errors.assert_none()


def test_someone_who_is_no_longer_a_member_cannot_publish_and_is_told_why(
    live_server, browser_context, page, team, room, webhooked_ome
):
    sign_in(browser_context, live_server, team.streamer)

    def remove_membership_after_minting(route):
        response = route.fetch()  # the credential is minted while still a member…
        Membership.objects.filter(user=team.streamer, organization=team.organization).delete()
        route.fulfill(response=response)  # …and used by someone who no longer is

    page.route("**/publish-credential", remove_membership_after_minting)
    _go_live(page, live_server, room)
    expect(page.get_by_test_id("publisher-error")).to_contain_text(
        "The streaming server refused this stream", timeout=15_000
    )
    expect(page.get_by_test_id("go-live-button")).to_be_visible()
    refusal = [hook for hook in webhooked_ome.webhook_requests() if hook["request"]["request"]["status"] == "opening"]
    assert refusal and refusal[-1]["answer"]["allowed"] is False, "OME asked the portal, which said no"
    assert webhooked_ome.state()["streams"] == []
    assert not LiveSession.objects.exists()
