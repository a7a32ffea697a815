"""The API tokens page in Chromium: an owner creates a token, copies it with the button, and the
copied token works against the API; the page never shows it again."""

import pytest
import requests

from ..conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_owner_creates_a_token_copies_it_and_calls_the_api_with_it(live_server, browser_context, page, team, room):
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    sign_in(browser_context, live_server, team.owner)
    page.goto(f"{live_server.url}/api-tokens/")
    page.fill("input[name=name]", "Scene switcher")
    page.select_option("select[name=role]", "streamer")
    page.click("text=Create token")
    shown = page.input_value("#new-token-value")
    page.click("[data-copy='#new-token-value']")
    page.wait_for_function("document.querySelector('[data-copy]').textContent === 'Copied'")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == shown and copied.startswith("sst_")
    rooms = requests.get(f"{live_server.url}/api/v1/rooms/", headers={"Authorization": f"Bearer {copied}"}, timeout=10)
    assert [item["id"] for item in rooms.json()["results"]] == ["acme-live"]
    page.reload()
    assert copied not in page.content(), "the token is shown only once"
    assert "Scene switcher" in page.inner_text("main")
    page.console_errors.assert_none()
