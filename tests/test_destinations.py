"""Restream destinations: added per room, keys encrypted and never shown again in full."""

import pytest
from django.db import connection

from broadcasts.models import Destination

from .conftest import client_for

NEW = "/rooms/acme-live/restream/destinations/new"


def _add(client, **data):
    payload = {"name": "Main channel", "platform": "youtube", "url": "", "stream_key": "", "enabled": "on"}
    payload.update(data)
    return client.post(NEW, payload)


def test_a_streamer_adds_a_youtube_destination_and_sees_only_the_last_four_characters_of_its_key(team, room):
    client = client_for(team.streamer)
    response = _add(client, stream_key="abcd-efgh-ijkl-9876", auto_start="on")
    assert response.status_code == 302
    destination = Destination.objects.get(room=room)
    assert destination.url == "rtmp://a.rtmp.youtube.com/live2", "known platforms fill in their server"
    assert destination.stream_key == "abcd-efgh-ijkl-9876"
    assert destination.auto_start
    with connection.cursor() as cursor:
        cursor.execute("SELECT stream_key FROM broadcasts_destination WHERE id = %s", [destination.pk])
        assert "9876" not in cursor.fetchone()[0], "the key is encrypted at rest"
    page = client.get("/rooms/acme-live/")
    assert b"Main channel" in page.content
    assert "••••••••9876".encode() in page.content
    assert b"abcd-efgh-ijkl" not in page.content
    edit = client.get(f"/rooms/acme-live/restream/destinations/{destination.pk}/edit")
    assert b"abcd-efgh-ijkl" not in edit.content, "the edit form never shows the key either"
    status = client.get("/rooms/acme-live/restream/status").json()
    assert status["destinations"] == [{"id": destination.pk, "enabled": True, "state": "idle", "push": None}]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"platform": "custom", "url": "http://example.com/live"}, b"starting with rtmp://, rtmps:// or srt://"),
        ({"platform": "custom", "url": ""}, b"Enter the server address"),
        ({"platform": "custom", "url": "rtmp://example.com:port/app"}, b"port in this address is not a number"),
        ({"platform": "facebook", "stream_key": ""}, b"needs the stream key"),
        ({"name": ""}, b"This field is required"),
    ],
)
def test_bad_destinations_are_refused_with_a_message_and_nothing_is_saved(owner_client, room, data, message):
    response = _add(owner_client, **data)
    assert response.status_code == 400
    assert message in response.content
    assert not Destination.objects.exists()


@pytest.mark.parametrize(
    "url", ["rtmp://live.example.com/app", "rtmps://live.example.com:443/app", "srt://srt.example.com:9000?streamid=x"]
)
def test_custom_rtmp_rtmps_and_srt_servers_are_accepted(owner_client, room, url):
    assert _add(owner_client, platform="custom", url=url, stream_key="k").status_code == 302
    assert Destination.objects.get().url == url


def test_editing_a_destination_without_a_new_key_keeps_the_old_one(owner_client, room):
    _add(owner_client, stream_key="first-key-1111")
    destination = Destination.objects.get()
    response = owner_client.post(
        f"/rooms/acme-live/restream/destinations/{destination.pk}/edit",
        {"name": "Renamed", "platform": "youtube_rtmps", "url": "", "stream_key": "", "auto_start": "on"},
    )
    assert response.status_code == 302
    destination.refresh_from_db()
    assert (destination.name, destination.stream_key) == ("Renamed", "first-key-1111")
    assert destination.url == "rtmps://a.rtmps.youtube.com/live2"
    assert not destination.enabled


def test_a_room_has_a_destination_limit(owner_client, room, team):
    team.organization.max_destinations_per_room = 1
    team.organization.save()
    _add(owner_client, stream_key="k1")
    response = _add(owner_client, name="Second", stream_key="k2")
    assert response.status_code == 400
    assert b"at most 1 destinations" in response.content
    assert Destination.objects.count() == 1


def test_deleting_a_destination_removes_it(owner_client, room):
    _add(owner_client, stream_key="k1")
    destination = Destination.objects.get()
    assert owner_client.get(f"/rooms/acme-live/restream/destinations/{destination.pk}/delete").status_code == 200
    response = owner_client.post(f"/rooms/acme-live/restream/destinations/{destination.pk}/delete")
    assert response.status_code == 302
    assert not Destination.objects.exists()


def test_another_organization_can_neither_see_nor_touch_a_rooms_destinations(outsider_client, owner_client, room):
    _add(owner_client, stream_key="secret-key-4242")
    destination = Destination.objects.get()
    base = f"/rooms/acme-live/restream/destinations/{destination.pk}"
    assert outsider_client.get(NEW).status_code == 404
    assert outsider_client.get("/rooms/acme-live/restream/status").status_code == 404
    assert outsider_client.get(f"{base}/edit").status_code == 404
    assert outsider_client.post(f"{base}/delete").status_code == 404
    assert outsider_client.post(f"{base}/start").status_code == 404
    assert Destination.objects.filter(pk=destination.pk).exists()
