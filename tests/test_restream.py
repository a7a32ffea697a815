"""Restreaming a room through OME (the emulator): start, watch it push, stop, fail and retry,
start automatically with the room, and survive an OME restart — the reconcile loop keeping
the database and OME in step."""

import json
from pathlib import Path

import pytest

from broadcasts import outcomes, services
from broadcasts.models import Destination, Platform, Push, PushState
from ome.client import PushInfo
from ome.reconcile import reconcile
from rooms.models import LiveState

from .factories import UserFactory

# Tasks are enqueued on commit, as in production: these tests commit.
pytestmark = pytest.mark.django_db(transaction=True)

RTMP_SINK = "rtmp://127.0.0.1:19352/live"


@pytest.fixture
def destination(room):
    return Destination.objects.create(
        room=room, name="Sink", platform=Platform.CUSTOM, url=RTMP_SINK, stream_key="sink-key-7777"
    )


def _push(destination) -> Push:
    return Push.objects.filter(destination=destination).latest("created_at")


def _reconcile_until(ome, predicate, what):
    def step():
        reconcile()
        return predicate()

    return ome.wait_for(step, timeout=15, interval=0.3, what=what)


def test_a_push_started_from_the_room_page_reaches_ome_and_shows_its_progress(
    portal_ome, streamer_client, room, destination
):
    response = streamer_client.post(
        f"/rooms/acme-live/restream/destinations/{destination.pk}/start", HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 200
    assert response.json()["state"] == "starting", "OME holds the push until the room is live"
    push = _push(destination)
    (ome_push,) = portal_ome.pushes()
    assert ome_push["id"] == push.ome_id
    assert ome_push["stream"]["name"] == "acme-live_rtmp", "the AAC variant, because browsers send Opus"
    assert (ome_push["url"], ome_push["streamKey"]) == (RTMP_SINK, "sink-key-7777")

    portal_ome.publish("rtmp://127.0.0.1:1935/app/acme-live")
    _reconcile_until(portal_ome, lambda: _push(destination).sent_bytes > 0, "the push to send bytes")
    push.refresh_from_db()
    assert push.state == PushState.PUSHING and push.started_at is not None
    status = streamer_client.get("/rooms/acme-live/restream/status").json()["destinations"][0]
    assert status["state"] == "pushing" and status["sent_bytes"] > 0 and status["can_stop"]
    assert "sink-key" not in str(status)

    response = streamer_client.post(f"/rooms/acme-live/restream/pushes/{push.pk}/stop", HTTP_ACCEPT="application/json")
    assert response.json()["state"] in ("stopping", "stopped")
    _reconcile_until(portal_ome, lambda: _push(destination).state == PushState.STOPPED, "the push to stop")
    portal_ome.wait_for(lambda: not portal_ome.pushes(), what="OME to drop the push")


def test_a_second_start_of_a_running_destination_is_refused(portal_ome, streamer_client, destination):
    url = f"/rooms/acme-live/restream/destinations/{destination.pk}/start"
    streamer_client.post(url, HTTP_ACCEPT="application/json")
    response = streamer_client.post(url, HTTP_ACCEPT="application/json")
    assert response.status_code == 409
    assert "already being restreamed" in response.json()["detail"]
    assert Push.objects.count() == 1 and len(portal_ome.pushes()) == 1


def test_a_destination_that_fails_shows_an_error_and_can_be_retried(portal_ome, streamer_client, destination):
    portal_ome.fail_destination(RTMP_SINK)
    portal_ome.publish("rtmp://127.0.0.1:1935/app/acme-live")
    reconcile()
    services.start_push(destination=destination)
    _reconcile_until(portal_ome, lambda: _push(destination).state == PushState.ERROR, "the push to fail")
    failed = _push(destination)
    assert "refused the stream or could not be reached" in failed.error_message
    status = streamer_client.get("/rooms/acme-live/restream/status").json()["destinations"][0]
    assert status["state"] == "error" and status["error"] == failed.error_message

    portal_ome.heal_destination(RTMP_SINK)
    response = streamer_client.post(
        f"/rooms/acme-live/restream/pushes/{failed.pk}/retry", HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 200
    _reconcile_until(portal_ome, lambda: _push(destination).state == PushState.PUSHING, "the retry to push")
    # OME forgets a stopped push a moment after stopPush answers: wait for it to leave the list.
    _reconcile_until(
        portal_ome,
        lambda: {push["id"] for push in portal_ome.pushes()} == {_push(destination).ome_id},
        "the failed push to be removed from OME",
    )


def test_omes_own_refusal_is_shown_in_its_words(portal_ome, room, destination):
    push = services.start_custom_push(room=room, url="rtmp://127.0.0.1:19352/live", protocol="mpeg-dash")
    push.refresh_from_db()
    assert push.state == PushState.ERROR
    assert push.error_message.startswith("[HTTP] ") and "(400)" in push.error_message


def test_an_unreachable_ome_marks_the_push_failed_after_the_retries(settings, room, destination):
    settings.OME_API_URL = "http://127.0.0.1:9"
    push = services.start_push(destination=destination)
    push.refresh_from_db()
    assert push.state == PushState.ERROR
    assert "media server could not be reached" in push.error_message


def test_going_live_starts_automatic_destinations_and_going_offline_stops_them(portal_ome, room, destination, settings):
    settings.OME_RECONNECT_GRACE_SECONDS = 0  # no webhooks here: the stream's end takes the room offline
    destination.auto_start = True
    destination.save()
    manual = Destination.objects.create(room=room, name="Manual", platform=Platform.CUSTOM, url=RTMP_SINK + "2")
    portal_ome.publish("rtmp://127.0.0.1:1935/app/acme-live")
    reconcile()
    room.refresh_from_db()
    assert room.live_state == LiveState.LIVE
    assert not manual.pushes.exists()
    _reconcile_until(portal_ome, lambda: _push(destination).state == PushState.PUSHING, "the auto push")

    portal_ome.unpublish("acme-live")
    _reconcile_until(portal_ome, lambda: _push(destination).state == PushState.STOPPED, "the push to stop")
    room.refresh_from_db()
    assert room.live_state == LiveState.OFFLINE
    portal_ome.wait_for(lambda: not portal_ome.pushes(), what="OME to drop the push")


def test_pushes_are_registered_again_after_an_ome_restart(portal_ome, room, destination):
    portal_ome.publish("rtmp://127.0.0.1:1935/app/acme-live")
    reconcile()
    services.start_push(destination=destination)
    _reconcile_until(portal_ome, lambda: _push(destination).state == PushState.PUSHING, "pushing")

    portal_ome.restart()  # OME keeps pushes in memory only
    assert portal_ome.pushes() == []
    portal_ome.publish("rtmp://127.0.0.1:1935/app/acme-live")  # the encoder reconnects
    # Until a pass has read OME with the push pushing again (the check after a pass may see OME ahead of it).
    _reconcile_until(portal_ome, lambda: _push(destination).state == PushState.PUSHING, "re-registered and pushing")
    assert [(p["id"], p["state"]) for p in portal_ome.pushes()] == [(_push(destination).ome_id, "pushing")]


def test_an_organization_cannot_start_stop_or_see_another_organizations_pushes(
    portal_ome, outsider_client, room, destination
):
    push = services.start_push(destination=destination)
    assert outsider_client.post(f"/rooms/acme-live/restream/pushes/{push.pk}/stop").status_code == 404
    assert outsider_client.post(f"/rooms/acme-live/restream/pushes/{push.pk}/retry").status_code == 404
    assert outsider_client.post(f"/rooms/acme-live/restream/destinations/{destination.pk}/start").status_code == 404
    push.refresh_from_db()
    assert push.state == PushState.STARTING


def test_a_suspended_organization_cannot_restream(portal_ome, streamer_client, team, destination):
    team.organization.is_suspended = True
    team.organization.save()
    response = streamer_client.post(
        f"/rooms/acme-live/restream/destinations/{destination.pk}/start", HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 403
    assert "suspended" in response.json()["detail"]
    assert not Push.objects.exists() and portal_ome.pushes() == []


def test_staff_stop_pushes_from_the_admin(portal_ome, room, destination, client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    push = services.start_push(destination=destination)
    assert client.get("/admin/broadcasts/push/").status_code == 200
    response = client.post("/admin/broadcasts/push/", {"action": "stop_pushes", "_selected_action": [push.pk]})
    assert response.status_code == 302
    push.refresh_from_db()
    assert push.state == PushState.STOPPED
    portal_ome.wait_for(lambda: not portal_ome.pushes(), what="OME to drop the push")


def test_a_push_ome_is_connecting_again_after_an_error_shows_starting():
    # OME 0.21 passes through `connecting` each time it (re)starts a push's session.
    golden = json.loads((Path(__file__).parent / "ome_golden" / "rest-api.json").read_text())
    reported = next(item for item in golden if item["name"] == "startPush")["response"]["body"]["response"]
    push = Push(state=PushState.ERROR, error_message=outcomes.DESTINATION_FAILED)
    assert outcomes.apply_ome_info(push, PushInfo.from_json(reported | {"state": "connecting"}))
    assert push.state == PushState.STARTING
