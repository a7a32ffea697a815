"""Restreams never reach into the stack's own network: a destination pointing at a private,
loopback, link-local or internal address is refused on the room page, and a push whose server
has started resolving to such an address since it was saved is failed right before OME would
be asked to connect (the REST and original APIs: tests/api/test_private_addresses.py)."""

from __future__ import annotations

import pytest

from broadcasts import services
from broadcasts.models import Destination, Platform, Push, PushState
from ome.reconcile import reconcile

NEW = "/rooms/acme-live/restream/destinations/new"


@pytest.fixture(autouse=True)
def _no_exceptions(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = []


def _add(client, url: str):
    return client.post(NEW, {"name": "Sneaky", "platform": "custom", "url": url, "stream_key": "k", "enabled": "on"})


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("rtmp://10.0.0.5/live", "This address points into a private network: 10.0.0.5 is a private network address"),
        ("rtmp://169.254.169.254/latest", "169.254.169.254 is a link-local address"),
        ("rtmp://[::1]:1935/live", "::1 is a loopback address"),
        ("rtmp://2130706433/live", "127.0.0.1 is a loopback address"),
        ("srt://0x7f000001:9999?streamid=x", "127.0.0.1 is a loopback address"),
        ("rtmp://ome:1935/app", "“ome” is a name on an internal network"),
        ("rtmp://redis:6379/", "“redis” is a name on an internal network"),
        ("rtmp://localhost/live", "“localhost” is a name on a local or internal network"),
    ],
)
def test_the_destination_form_refuses_a_private_address_with_a_message_and_saves_nothing(
    owner_client, room, url, message
):
    response = _add(owner_client, url)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Destination.objects.exists()


def test_the_destination_form_refuses_a_name_that_resolves_into_a_private_network(owner_client, room, fake_dns):
    fake_dns.point("sneaky.example.com", "192.168.1.20")
    response = _add(owner_client, "rtmp://sneaky.example.com/live")
    assert response.status_code == 400
    assert "“sneaky.example.com” resolves to a private network address" in response.content.decode()
    assert "192.168.1.20" not in response.content.decode()
    assert not Destination.objects.exists()


def test_changing_a_destination_to_a_private_address_is_refused_and_the_old_one_is_kept(owner_client, room, fake_dns):
    fake_dns.point("live.example.com", "93.184.216.34")
    destination = services.add_destination(
        room=room, name="Sink", platform=Platform.CUSTOM, url="rtmp://live.example.com/app", stream_key="k"
    )
    response = owner_client.post(
        f"/rooms/acme-live/restream/destinations/{destination.pk}/edit",
        {"name": "Sink", "platform": "custom", "url": "rtmp://[fd00::5]/app", "stream_key": ""},
    )
    assert response.status_code == 400
    assert "fd00::5 is a unique-local address" in response.content.decode()
    destination.refresh_from_db()
    assert destination.url == "rtmp://live.example.com/app"


def test_the_known_platforms_are_accepted_even_offline(owner_client, room, fake_dns):
    fake_dns.point("a.rtmp.youtube.com")  # does not resolve, as on a machine without internet
    response = owner_client.post(
        NEW, {"name": "YouTube", "platform": "youtube", "url": "", "stream_key": "k-1", "enabled": "on"}
    )
    assert response.status_code == 302
    assert Destination.objects.get().url == "rtmp://a.rtmp.youtube.com/live2"


# --- Right before OME connects ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_push_whose_server_now_resolves_into_a_private_network_fails_and_ome_is_never_asked(
    portal_ome, streamer_client, room, fake_dns
):
    fake_dns.point("sink.example.net", "93.184.216.34")
    destination = services.add_destination(
        room=room, name="Sink", platform=Platform.CUSTOM, url="rtmp://sink.example.net/live", stream_key="k-7777"
    )
    fake_dns.point("sink.example.net", "10.0.0.5")  # the name's owner changed it since

    response = streamer_client.post(
        f"/rooms/acme-live/restream/destinations/{destination.pk}/start", HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 200
    assert response.json()["state"] == "error"
    assert "“sink.example.net” resolves to a private network address" in response.json()["error"]
    push = Push.objects.get(destination=destination)
    assert push.state == PushState.ERROR and "not started" in push.error_message.lower()
    assert portal_ome.pushes() == [], "OME was never asked to push there"
    assert portal_ome.state()["pushes"] == []
    status = streamer_client.get("/rooms/acme-live/restream/status").json()["destinations"][0]
    assert status["state"] == "error" and "private network" in status["error"], "the room page shows why"


@pytest.mark.django_db(transaction=True)
def test_a_push_ome_lost_is_not_registered_again_once_its_server_resolves_into_a_private_network(
    portal_ome, room, fake_dns
):
    fake_dns.point("sink.example.net", "10.20.30.40")
    push = Push.objects.create(
        room=room, stream_name="acme-live_rtmp", url="rtmp://sink.example.net/live", state=PushState.STARTING
    )
    reconcile()  # OME does not list the push (it restarted): the loop would register it again
    push.refresh_from_db()
    assert push.state == PushState.ERROR and "private network" in push.error_message
    assert portal_ome.pushes() == []


@pytest.mark.django_db(transaction=True)
def test_retrying_a_failed_push_to_a_server_now_refused_answers_with_the_reason(portal_ome, streamer_client, room):
    failed = Push.objects.create(
        room=room, stream_name="acme-live_rtmp", url="rtmp://10.0.0.5/live", state=PushState.ERROR
    )
    response = streamer_client.post(
        f"/rooms/acme-live/restream/pushes/{failed.pk}/retry", HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400
    assert "points into a private network" in response.json()["detail"]
    assert Push.objects.count() == 1
    assert portal_ome.pushes() == []
