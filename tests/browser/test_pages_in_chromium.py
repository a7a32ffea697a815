"""The publisher and player pages as a user sees them in Chromium (fake camera and microphone)."""

import pytest
from playwright.sync_api import expect

from ..conftest import sign_in

pytestmark = pytest.mark.browser


def test_the_publisher_shows_the_camera_preview_and_offers_go_live(live_server, browser_context, page, team, room):
    sign_in(browser_context, live_server, team.streamer)
    page.goto(f"{live_server.url}/?room={room.public_id}")
    page.wait_for_function("document.querySelector('[data-testid=preview]').videoWidth > 0")
    expect(page.get_by_test_id("publisher-state")).to_have_text("Ready. Press Go live when you are.")
    expect(page.get_by_test_id("go-live-button")).to_be_enabled()
    assert page.locator("#camera option").count() >= 1, "the fake camera is listed"
    assert page.locator("#microphone option").count() >= 1
    page.console_errors.assert_none()


def test_signing_in_through_the_form_leads_to_the_rooms(live_server, page, team, room):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", team.owner.email)
    page.fill("input[name=password]", "correct horse battery staple")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/rooms/")
    assert "Acme Live" in page.inner_text("main")
    page.console_errors.assert_none()


def test_the_room_page_reveals_and_copies_the_stream_key(live_server, browser_context, page, team, room):
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    sign_in(browser_context, live_server, team.streamer)
    page.goto(f"{live_server.url}/rooms/{room.public_id}/")
    key_field = page.get_by_test_id("stream-key")
    assert key_field.input_value() != room.stream_key
    page.get_by_role("button", name="Show").click()
    page.wait_for_function(f"document.getElementById('stream-key').value === '{room.stream_key}'")
    page.get_by_test_id("copy-embed").click()
    clipboard = page.evaluate("navigator.clipboard.readText()")
    assert clipboard.startswith(f'<iframe src="{live_server.url}/embed/{room.public_id}"')
    page.console_errors.assert_none()


def test_the_player_loads_ovenplayer_and_shows_the_offline_state(live_server, page, room):
    page.goto(f"{live_server.url}/player.html?room={room.public_id}")
    assert page.evaluate("typeof OvenPlayer") == "object"
    player = page.get_by_test_id("player")
    assert player.get_attribute("data-state") == "offline"
    assert page.get_by_test_id("player-message").inner_text() == "This stream is offline."
    size = page.evaluate(
        "[document.getElementById('player-root').clientWidth, document.getElementById('player-root').clientHeight]"
    )
    assert size == [1200, 800], "the embed player fills its window"
    page.console_errors.assert_none()


def test_the_embed_refuses_a_framing_origin_that_is_not_allowed(live_server, page, room, other_origin):
    other_origin.pages["/host.html"] = (
        f'<iframe id="player" src="{live_server.url}/embed/{room.public_id}" width="640" height="360"></iframe>'
    )
    page.goto(f"{other_origin.origin}/host.html")
    page.wait_for_timeout(1000)
    frame = page.frame_locator("#player")
    assert frame.locator("[data-testid=player]").count() == 0, "the player rendered inside a forbidden origin"
    assert any("frame-ancestors" in error for error in page.console_errors), "Chromium reports the CSP refusal"


def test_the_embed_plays_in_an_allowed_origin_without_console_errors(live_server, page, room, other_origin):
    room.allowed_embed_origins = other_origin.origin
    room.save()
    other_origin.pages["/host.html"] = (
        f'<iframe id="player" src="{live_server.url}/embed/{room.public_id}" width="640" height="360"></iframe>'
    )
    page.goto(f"{other_origin.origin}/host.html")
    frame = page.frame_locator("#player")
    frame.locator("[data-testid=player-message]").wait_for()
    assert frame.locator("[data-testid=player-message]").inner_text() == "This stream is offline."
    page.console_errors.assert_none()
