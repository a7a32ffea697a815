"""No destination URL reaches inside the portal's network (SSRF): loopback, private, link-local,
shared, multicast and unspecified addresses in every spelling, and the stack's own services.

Each URL goes through every door that takes one — the destination form (new and edit), the REST
API (new destination, changed destination, push to a URL) and the original stack's API
(startPush) — and must be refused with a 400 carrying a message, with no destination or push
saved and the edited destination unchanged. Operator settings that allow outbound addresses
(any setting whose name contains OUTBOUND) are emptied first, so a test sink allowed for other
tests does not open the door here.
"""

from __future__ import annotations

import base64
import json

import pytest
from django.conf import settings as django_settings

from . import probe

SUITE = "SSRF"
INTERNAL_URLS = [
    "rtmp://127.0.0.1/app",
    "rtmp://localhost/app",
    "rtmp://169.254.169.254/app",
    "rtmp://10.0.0.1/",
    "rtmp://192.168.1.1/",
    "rtmp://172.16.0.1/",
    "rtmp://100.64.0.1/",
    "rtmp://[::1]/",
    "rtmp://[fd00::1]/",
    "rtmp://[::ffff:127.0.0.1]/",
    "rtmp://2130706433/",
    "rtmp://0x7f000001/",
    "rtmp://0177.0.0.1/",
    "rtmp://127.1/",
    "rtmp://ome:8081/",
    "rtmp://redis:6379/",
    "rtmp://postgres/",
    "rtmp://web:8000/",
    "rtmp://0.0.0.0/",
    "rtmp://224.0.0.1/",
]


@pytest.fixture(autouse=True)
def no_outbound_exceptions(settings):
    """Whatever the operator allows outbound (e.g. a test sink on 127.0.0.1), nothing here."""
    for name in dir(django_settings):
        if "OUTBOUND" in name and name.isupper():
            value = getattr(django_settings, name)
            if isinstance(value, str | list | tuple | set | dict):
                setattr(settings, name, type(value)())


def _streamer(world) -> probe.Identity:
    return probe.session_identity("A's streamer", world.a.members["streamer"])


def _token(world) -> probe.Identity:
    return probe.token_identity("A's streamer token", world.a.tokens["streamer"])


def _refused_by_the_form(outcome: probe.Outcome, url: str) -> None:
    assert outcome.status == 400, f"{outcome}: {url} was not refused"
    assert probe.form_errors(outcome), f"{outcome}: no message on the form"
    assert not outcome.changes, f"{outcome}: {url} was saved: {outcome.changes}"


def _refused_by_the_api(outcome: probe.Outcome, url: str, *, field: str = "url") -> None:
    assert outcome.status == 400, f"{outcome}: {url} was not refused"
    answer = json.loads(outcome.content)
    assert answer.get(field) or answer.get("detail") or answer.get("message"), f"{outcome}: no message: {answer!r}"
    assert not outcome.changes, f"{outcome}: {url} was saved: {outcome.changes}"


DESTINATION = {"name": "Inside", "platform": "custom", "stream_key": "k-1234", "enabled": "on"}


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_the_new_destination_form_refuses_an_internal_address(url, world, unthrottled, db):
    path = f"/rooms/{world.a.room.public_id}/restream/destinations/new"
    outcome = probe.send(world, _streamer(world), "POST", path, {**DESTINATION, "url": url}, suite=SUITE)
    _refused_by_the_form(outcome, url)


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_the_destination_edit_form_refuses_an_internal_address(url, world, unthrottled, db):
    a = world.a
    path = f"/rooms/{a.room.public_id}/restream/destinations/{a.destination.pk}/edit"
    outcome = probe.send(world, _streamer(world), "POST", path, {**DESTINATION, "url": url}, suite=SUITE)
    _refused_by_the_form(outcome, url)


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_the_api_refuses_a_new_destination_to_an_internal_address(url, world, unthrottled, db):
    path = f"/api/v1/rooms/{world.a.room.public_id}/destinations/"
    body = {**DESTINATION, "enabled": True, "url": url}
    _refused_by_the_api(probe.send(world, _token(world), "POST", path, body, suite=SUITE), url)


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_the_api_refuses_to_change_a_destination_to_an_internal_address(url, world, unthrottled, db):
    path = f"/api/v1/destinations/{world.a.destination.pk}/"
    _refused_by_the_api(probe.send(world, _token(world), "PATCH", path, {"url": url}, suite=SUITE), url)


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_the_api_refuses_to_push_to_an_internal_address(url, world, unthrottled, db):
    path = f"/api/v1/rooms/{world.a.room.public_id}/pushes/"
    body = {"url": url, "stream_key": "k-1234"}
    _refused_by_the_api(probe.send(world, _token(world), "POST", path, body, suite=SUITE), url)


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_the_original_api_refuses_to_push_to_an_internal_address(url, world, unthrottled, db):
    body = {"id": "inside", "stream": {"name": world.a.room.public_id}, "url": url, "protocol": "rtmp"}
    token = base64.b64encode(world.a.tokens["streamer"].encode()).decode()
    outcome = probe.send(
        world,
        probe.anonymous(),
        "POST",
        "/v1/vhosts/default/apps/app:startPush",
        suite=SUITE,
        raw=json.dumps(body).encode(),
        headers={"HTTP_AUTHORIZATION": f"Basic {token}"},
    )
    _refused_by_the_api(outcome, url, field="message")


def _admin(world) -> probe.Identity:
    return probe.session_identity("A's admin", world.a.members["admin"])


def _admin_token(world) -> probe.Identity:
    return probe.token_identity("A's admin token", world.a.tokens["admin"])


def _webhook_url(url: str) -> str:
    return "http" + url.removeprefix("rtmp")  # the same address, as a webhook endpoint's


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_the_webhook_forms_refuse_an_internal_address(url, world, unthrottled, db):
    hook = _webhook_url(url)
    body = {"url": hook, "events": ["room.live"]}
    _refused_by_the_form(probe.send(world, _admin(world), "POST", "/webhooks/", body, suite=SUITE), hook)
    edit = f"/webhooks/{world.a.endpoint.pk}/"
    _refused_by_the_form(probe.send(world, _admin(world), "POST", edit, {**body, "enabled": "on"}, suite=SUITE), hook)


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_the_api_refuses_a_webhook_endpoint_to_an_internal_address(url, world, unthrottled, db):
    hook = _webhook_url(url)
    body = {"url": hook, "events": ["room.live"]}
    _refused_by_the_api(probe.send(world, _admin_token(world), "POST", "/api/v1/webhooks/", body, suite=SUITE), hook)
    path = f"/api/v1/webhooks/{world.a.endpoint.pk}/"
    _refused_by_the_api(probe.send(world, _admin_token(world), "PATCH", path, {"url": hook}, suite=SUITE), hook)
