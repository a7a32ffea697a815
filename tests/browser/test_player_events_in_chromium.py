"""Player events for embedding sites, in Chromium: a page on an allowed origin hears the embedded
player (through /static/embed.js) and drives it with commands; a page on another origin gets
nothing."""

import pytest
from playwright.sync_api import expect

from ome.reconcile import reconcile

from ..conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.emulator, pytest.mark.django_db(transaction=True)]

VIDEO = "document.querySelector('#player-root video')"


def _host_page(live_server, room, query=""):
    return f"""<!doctype html><h1>A site that embeds the player</h1>
<iframe id="player" src="{live_server.url}/embed/{room.public_id}{query}" width="640" height="360"
  allow="autoplay; fullscreen"></iframe>
<script src="{live_server.url}/static/embed.js"></script>
<script>
  window.heard = [];
  window.live = StreamingStack.player(document.getElementById("player"));
  window.live.on("*", function (name, data) {{ window.heard.push({{ name: name, data: data }}); }});
</script>"""


def _heard(page) -> list[str]:
    return [event["name"] for event in page.evaluate("window.heard")]


def test_an_allowed_site_hears_the_player_and_drives_it_and_another_site_hears_nothing(
    live_server, chromium, browser_context, page, team, room, webhooked_ome, other_origin
):
    room.allowed_embed_origins = other_origin.origin
    room.save()
    other_origin.pages["/allowed.html"] = _host_page(live_server, room, "?muted=1&controls=0")
    sign_in(browser_context, live_server, team.streamer)
    page.goto(f"{live_server.url}/rooms/{room.public_id}/publish")
    expect(page.get_by_test_id("go-live-button")).to_be_enabled()
    page.get_by_test_id("go-live-button").click()
    expect(page.get_by_test_id("publisher-state")).to_have_text("You are live.", timeout=20_000)
    reconcile()

    viewers = chromium.new_context()
    try:
        site = viewers.new_page()
        site.goto(f"{other_origin.origin}/allowed.html")
        site.wait_for_function("window.heard.some(e => e.name === 'playing')", timeout=30_000)
        assert _heard(site)[0] == "ready"
        ready = next(e for e in site.evaluate("window.heard") if e["name"] == "ready")
        assert ready["data"]["options"] == {"autoplay": True, "muted": True, "controls": False, "quality": ""}
        assert site.evaluate("window.live.state") == "playing"
        frame = site.locator("#player").element_handle().content_frame()
        assert frame.evaluate(f"{VIDEO}.muted"), "muted=1 in the embed URL"

        site.evaluate("window.live.unmute()")
        frame.wait_for_function(f"() => {VIDEO} && !{VIDEO}.muted", timeout=5_000)
        site.evaluate("window.live.pause()")
        frame.wait_for_function(f"() => {VIDEO} && {VIDEO}.paused", timeout=5_000)
        site.evaluate("window.live.play()")
        frame.wait_for_function(f"() => {VIDEO} && !{VIDEO}.paused", timeout=5_000)
        site.evaluate("window.live.mute()")
        frame.wait_for_function(f"() => {VIDEO} && {VIDEO}.muted", timeout=5_000)

        # The same page on an origin the room does not allow: the player is not even framed, and
        # nothing it could say would be addressed to that origin.
        forbidden = viewers.new_page()
        forbidden.goto(f"{other_origin.origin.replace('127.0.0.1', 'localhost')}/allowed.html")
        forbidden.wait_for_timeout(3_000)
        assert forbidden.evaluate("window.heard") == []

        page.get_by_test_id("stop-button").click()
        expect(page.get_by_test_id("publisher-state")).to_have_text("Stopped. You are no longer live.")
        site.wait_for_function("window.heard.some(e => e.name === 'offline')", timeout=20_000)
        heard = _heard(site)
        assert heard.index("ended") < heard.index("offline"), "a stream that was playing ends, then it is offline"
        assert site.evaluate("window.live.state") == "offline"
    finally:
        viewers.close()
    page.console_errors.assert_none()


def test_an_offline_rooms_player_says_so_to_an_allowed_site_only(live_server, chromium, room, other_origin):
    room.allowed_embed_origins = other_origin.origin
    room.save()
    other_origin.pages["/host.html"] = _host_page(live_server, room)
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(f"{other_origin.origin}/host.html")
        page.wait_for_function("window.heard.some(e => e.name === 'offline')", timeout=15_000)
        assert [name for name in _heard(page) if name != "viewers"][:2] == ["ready", "offline"]
        assert page.evaluate("window.live.viewers") == 0
        elsewhere = context.new_page()
        elsewhere.goto(f"{other_origin.origin.replace('127.0.0.1', 'localhost')}/host.html")
        elsewhere.wait_for_timeout(2_000)
        assert elsewhere.evaluate("window.heard") == []
    finally:
        context.close()


def test_the_share_panel_builds_the_embed_code_with_the_options_chosen(live_server, browser_context, page, team, room):
    sign_in(browser_context, live_server, team.admin)
    page.goto(f"{live_server.url}/rooms/{room.public_id}/")
    code = page.locator("#embed-code")
    assert f'src="{live_server.url}/embed/{room.public_id}"' in code.input_value()
    options = page.get_by_test_id("embed-options")
    options.get_by_label("Start muted").uncheck()
    options.get_by_label("Show the player's controls").uncheck()
    assert f'src="{live_server.url}/embed/{room.public_id}?muted=0&amp;controls=0"' in code.input_value()
    assert page.get_by_test_id("oembed-link").get_attribute("href").startswith(f"{live_server.url}/oembed?url=")
    assert page.get_by_test_id("webhooks-link").get_attribute("href") == "/webhooks/"
    page.console_errors.assert_none()


def test_an_admin_adds_a_webhook_endpoint_in_the_browser_and_copies_its_secret(
    live_server, browser_context, page, team, receiver, settings
):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    sign_in(browser_context, live_server, team.admin)
    page.goto(f"{live_server.url}/webhooks/")
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("room.live — a room is live (viewers can watch)").check()
    page.get_by_role("button", name="Add endpoint").click()
    secret = page.get_by_test_id("new-secret").locator("input").input_value()
    assert secret.startswith("whsec_")
    page.get_by_test_id("new-secret").get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    page.get_by_role("button", name="Send a test event").click()
    expect(page.locator("table.deliveries tbody tr").first).to_contain_text("ping")
    receiver.wait_for(1)
    page.reload()
    expect(page.locator("table.deliveries tbody tr").first).to_contain_text("200")
    page.console_errors.assert_none()
