"""The REST API and the original stack's API refuse restream targets in private or internal
networks with a 400 and a message, and store nothing (the rules: tests/test_outbound.py)."""

from __future__ import annotations

import pytest

from broadcasts.models import Destination, Push
from organizations.models import Role

from .conftest import make_token
from .test_compat_api import APP, Ome

PRIVATE = "This address points into a private network"


@pytest.fixture(autouse=True)
def _no_exceptions(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = []


@pytest.fixture
def original_api(team) -> Ome:
    """A script of the original stack, with a streamer's token."""
    return Ome(make_token(team.organization, Role.STREAMER).value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("rtmp://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
        ("rtmp://[::ffff:10.0.0.5]/live", "10.0.0.5 is a private network address"),
        ("rtmp://0177.0.0.1/live", "127.0.0.1 is a loopback address"),
        ("rtmp://ome:8081/v1", "“ome” is a name on an internal network"),
        ("rtmp://tasks.web/", "“tasks.web” is a Docker service name on an internal network"),
    ],
)
def test_a_destination_in_a_private_network_is_a_400_with_a_message(api, room, url, message):
    response = api.post(
        "/api/v1/rooms/acme-live/destinations/",
        {"name": "Sneaky", "platform": "custom", "url": url, "stream_key": "k"},
        format="json",
    )
    assert response.status_code == 400
    assert message in " ".join(response.json()["url"]), response.json()
    assert not Destination.objects.exists()


def test_changing_a_destination_to_a_name_that_resolves_privately_is_a_400(api, room, fake_dns):
    fake_dns.point("live.example.com", "93.184.216.34")
    fake_dns.point("sneaky.example.com", "100.64.0.9")
    created = api.post(
        "/api/v1/rooms/acme-live/destinations/",
        {"name": "Sink", "platform": "custom", "url": "rtmp://live.example.com/app", "stream_key": "k"},
        format="json",
    )
    assert created.status_code == 201, created.content
    response = api.patch(
        f"/api/v1/destinations/{created.json()['id']}/", {"url": "rtmp://sneaky.example.com/app"}, format="json"
    )
    assert response.status_code == 400
    assert "“sneaky.example.com” resolves to a shared (carrier-grade NAT) address" in " ".join(response.json()["url"])
    assert Destination.objects.get().url == "rtmp://live.example.com/app"


@pytest.mark.parametrize(
    "url", ["rtmp://169.254.169.254/latest", "rtmp://10.0.0.5/live", "srt://[::1]:9999", "rtmp://redis:6379/"]
)
def test_a_custom_push_to_a_private_address_is_a_400_with_a_message(api, room, url):
    response = api.post("/api/v1/rooms/acme-live/pushes/", {"url": url, "stream_key": "k"}, format="json")
    assert response.status_code == 400
    assert "network" in " ".join(response.json()["url"]), response.json()
    assert not Push.objects.exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("rtmp://2130706433/app", "127.0.0.1 is a loopback address"),
        ("rtmp://192.168.0.10/app", "192.168.0.10 is a private network address"),
        ("srt://[fe80::1]:9999", "fe80::1 is a link-local address"),
    ],
)
def test_the_original_apis_start_push_refuses_a_private_address_in_omes_envelope(original_api, room, url, message):
    protocol = url.split(":")[0].replace("rtmps", "rtmp")
    body = {"id": "p1", "stream": {"name": "acme-live_youtube"}, "protocol": protocol, "url": url, "streamKey": "k"}
    response = original_api.post(f"{APP}:startPush", body)
    assert response.status_code == 400
    data = response.json()
    assert data["statusCode"] == 400 and set(data) == {"message", "statusCode"}
    assert data["message"].startswith(f"[HTTP] {PRIVATE}") and message in data["message"]
    assert data["message"].endswith("(400)")
    assert not Push.objects.exists()


def test_the_original_apis_start_push_refuses_a_name_that_resolves_privately(original_api, room, fake_dns):
    fake_dns.point("sneaky.example.com", "172.17.0.1")
    body = {"id": "p1", "stream": {"name": "acme-live"}, "protocol": "rtmp", "url": "rtmp://sneaky.example.com/a"}
    response = original_api.post(f"{APP}:startPush", body)
    assert response.status_code == 400
    assert "“sneaky.example.com” resolves to a private network address" in response.json()["message"]
    assert "172.17.0.1" not in response.json()["message"]
    assert not Push.objects.exists()
