"""Destinations and pushes through the REST API: keys write-only and masked, the same rules as
the UI, and pushes that really reach the media server (the OME emulator, a separate process)."""

from __future__ import annotations

import pytest

from broadcasts.models import Destination, Push, PushState
from ome.reconcile import reconcile

from ..conftest import client_for
from .conftest import go_live

YOUTUBE = {"name": "YouTube main", "platform": "youtube", "stream_key": "abcd-efgh-ijkl-9876"}


def test_a_destination_key_is_write_only_and_masked(api, room):
    response = api.post("/api/v1/rooms/acme-live/destinations/", YOUTUBE, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["url"] == "rtmp://a.rtmp.youtube.com/live2" and data["room"] == "acme-live"
    assert data["stream_key_masked"] == "••••••••9876" and "stream_key" not in data
    for path in ("/api/v1/destinations/", f"/api/v1/destinations/{data['id']}/"):
        assert "abcd-efgh-ijkl" not in api.get(path).content.decode(), f"{path} leaked the key"
    assert Destination.objects.get().stream_key == "abcd-efgh-ijkl-9876"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": "x", "platform": "custom"}, "url", "Enter the server address"),
        ({"name": "x", "platform": "custom", "url": "http://example.com/live"}, "url", "rtmp://, rtmps:// or srt://"),
        ({"name": "x", "platform": "custom", "url": "rtmp://h:port/app"}, "url", "not a number"),
        ({"name": "x", "platform": "facebook"}, "stream_key", "needs the stream key"),
        ({"platform": "twitch", "stream_key": "k"}, "name", "required"),
        ({"name": "x", "platform": "myspace", "stream_key": "k"}, "platform", "not a valid choice"),
    ],
)
def test_bad_destinations_are_400_with_a_message_per_field(api, room, body, field, message):
    response = api.post("/api/v1/rooms/acme-live/destinations/", body, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()[field]), response.json()
    assert not Destination.objects.exists()


def test_changing_a_destination_without_a_key_keeps_the_old_one(api, room):
    destination_id = api.post("/api/v1/rooms/acme-live/destinations/", YOUTUBE, format="json").json()["id"]
    response = api.patch(
        f"/api/v1/destinations/{destination_id}/",
        {"name": "Renamed", "stream_key": "", "platform": "youtube_rtmps"},
        format="json",
    )
    assert response.status_code == 200
    destination = Destination.objects.get()
    assert (destination.name, destination.stream_key) == ("Renamed", "abcd-efgh-ijkl-9876")
    assert destination.url == "rtmps://a.rtmps.youtube.com/live2"


def test_a_room_has_a_destination_limit(api, room, team):
    team.organization.max_destinations_per_room = 1
    team.organization.save()
    assert api.post("/api/v1/rooms/acme-live/destinations/", YOUTUBE, format="json").status_code == 201
    response = api.post("/api/v1/rooms/acme-live/destinations/", YOUTUBE, format="json")
    assert response.status_code == 403
    assert "at most 1 destinations" in response.json()["detail"]


def test_destinations_are_filtered_by_room(api, room, team):
    from ..factories import RoomFactory

    RoomFactory(organization=team.organization, public_id="second")
    api.post("/api/v1/rooms/acme-live/destinations/", YOUTUBE, format="json")
    api.post("/api/v1/rooms/second/destinations/", {**YOUTUBE, "name": "Second"}, format="json")
    names = [item["name"] for item in api.get("/api/v1/destinations/", {"room": "second"}).json()["results"]]
    assert names == ["Second"]


@pytest.mark.django_db(transaction=True)
def test_a_push_to_a_destination_reaches_the_media_server_and_stops(api, room, portal_ome):
    destination_id = api.post("/api/v1/rooms/acme-live/destinations/", YOUTUBE, format="json").json()["id"]
    response = api.post(f"/api/v1/destinations/{destination_id}/start-push/")
    assert response.status_code == 201, response.content
    push = Push.objects.get(pk=response.json()["id"])
    assert [(item["id"], item["stream"]["name"], item["url"], item["streamKey"]) for item in portal_ome.pushes()] == [
        (push.ome_id, "acme-live_rtmp", "rtmp://a.rtmp.youtube.com/live2", "abcd-efgh-ijkl-9876")
    ], "OME got the RTMP variant, the platform's server and the key"
    again = api.post(f"/api/v1/destinations/{destination_id}/start-push/")
    assert again.status_code == 409 and "already" in again.json()["detail"]

    go_live(portal_ome, room)
    portal_ome.wait_for(lambda: portal_ome.push_state(push.ome_id) == "pushing", what="the push to start")
    reconcile()
    pushing = api.get("/api/v1/pushes/", {"state": "pushing", "room": "acme-live"}).json()["results"]
    assert [item["id"] for item in pushing] == [push.pk]
    assert api.delete(f"/api/v1/destinations/{destination_id}/").status_code == 409, "in use"

    stopped = api.post(f"/api/v1/pushes/{push.pk}/stop/")
    assert stopped.status_code == 200
    portal_ome.wait_for(lambda: portal_ome.push_state(push.ome_id) is None, what="OME to drop the push")
    assert api.get(f"/api/v1/pushes/{push.pk}/").json()["state"] == PushState.STOPPED


@pytest.mark.django_db(transaction=True)
def test_a_custom_push_keeps_the_clients_id_and_shows_on_the_room_page(api, room, team, portal_ome):
    body = {"url": "rtmp://live.example.com/app", "stream_key": "sk-custom-4321", "external_id": "my-push-1"}
    response = api.post("/api/v1/rooms/acme-live/pushes/", body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["external_id"], data["stream_key_masked"], data["can_stop"]) == ("my-push-1", "••••••••4321", True)
    assert "sk-custom" not in response.content.decode()
    push = Push.objects.get(pk=data["id"])
    assert portal_ome.push_state(push.ome_id) == "ready", "OME holds the push until the room goes live"
    duplicate = api.post("/api/v1/rooms/acme-live/pushes/", body, format="json")
    assert duplicate.status_code == 409 and "my-push-1" in duplicate.json()["detail"]
    found = api.get("/api/v1/pushes/", {"external_id": "my-push-1"}).json()["results"]
    assert [item["id"] for item in found] == [push.pk]
    page = client_for(team.streamer).get("/rooms/acme-live/").content.decode()
    assert "rtmp://live.example.com/app" in page, "a push started through the API shows on the room page"


def test_a_custom_push_needs_a_good_url(api, room):
    response = api.post("/api/v1/rooms/acme-live/pushes/", {"url": "http://example.com"}, format="json")
    assert response.status_code == 400
    assert "rtmp://" in " ".join(response.json()["url"])
    assert api.post("/api/v1/rooms/acme-live/pushes/", {}, format="json").json() == {"url": ["This field is required."]}


def test_a_failed_push_is_retried_as_a_new_one_and_only_failed_ones_can_be(api, room):
    failed = Push.objects.create(
        room=room, stream_name="acme-live_rtmp", url="rtmp://down.example.com/app", state=PushState.ERROR
    )
    response = api.post(f"/api/v1/pushes/{failed.pk}/retry/")
    assert response.status_code == 201
    assert response.json()["id"] != failed.pk and response.json()["url"] == "rtmp://down.example.com/app"
    again = api.post(f"/api/v1/pushes/{response.json()['id']}/retry/")
    assert again.status_code == 409 and "Only a failed restream" in again.json()["detail"]


def test_push_lists_are_ordered_and_filtered_by_several_states(api, room):
    for state in (PushState.STOPPED, PushState.ERROR, PushState.PUSHING):
        Push.objects.create(room=room, stream_name="acme-live_rtmp", url=f"rtmp://{state}.example.com/a", state=state)
    newest_first = [item["state"] for item in api.get("/api/v1/pushes/").json()["results"]]
    assert newest_first == ["pushing", "error", "stopped"]
    both = api.get("/api/v1/pushes/?state=error&state=stopped&ordering=created_at").json()["results"]
    assert [item["state"] for item in both] == ["stopped", "error"]
