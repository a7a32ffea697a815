"""The player learns that its room started, and that it became playable, by being told: the status
request waits for the room's state to change (long polling), and while a room is starting the
portal asks OME whether it serves the stream yet, so the answer comes the moment it does."""

import threading
import time

import pytest

from rooms import services
from rooms.models import LiveState, Room

pytestmark = pytest.mark.django_db(transaction=True)


def _status(client, room, known: str):
    started = time.monotonic()
    response = client.get(f"/watch/{room.public_id}/status?known={known}")
    assert response.status_code == 200
    return response.json(), time.monotonic() - started


def test_a_waiting_player_is_told_the_moment_the_room_starts(client, room, settings):
    settings.WATCH_STATUS_WAIT_SECONDS = 10
    threading.Timer(0.5, lambda: services.go_live(room_id=room.pk, protocol="webrtc")).start()
    status, took = _status(client, room, "offline")
    assert status["state"] == LiveState.STARTING
    assert 0.4 < took < 3.0, f"told after {took:.2f} s (the wait was 10 s)"


def test_without_a_change_the_answer_comes_after_the_bounded_wait(client, room, settings):
    settings.WATCH_STATUS_WAIT_SECONDS = 0.5
    status, took = _status(client, room, "offline")
    assert status["state"] == LiveState.OFFLINE and 0.45 < took < 1.5


def test_a_player_that_does_not_know_the_state_or_knows_another_is_answered_at_once(client, room, settings):
    settings.WATCH_STATUS_WAIT_SECONDS = 10
    assert _status(client, room, "")[1] < 3.0  # not held for the 10 s wait
    assert _status(client, room, "live")[0]["state"] == LiveState.OFFLINE


def test_a_live_rooms_players_are_not_held(client, room, settings):
    settings.WATCH_STATUS_WAIT_SECONDS = 10
    Room.objects.filter(pk=room.pk).update(live_state=LiveState.LIVE)
    status, took = _status(client, room, "live")
    assert status["state"] == LiveState.LIVE and took < 3.0  # not held for the 10 s wait


@pytest.mark.emulator
def test_a_starting_room_is_told_live_within_half_a_second_of_ome_serving_it(ome, live_server, client, room, settings):
    """The emulator serves an OBS stream 1.5 s after it is published (as OME serves a browser's a
    moment after it connects); the waiting status request answers "live" right after that."""
    ome.config(webhook_url=live_server.url + "/ome/admission", webhook_secret=settings.OME_WEBHOOK_SECRET)
    settings.OME_API_URL = ome.api_url
    settings.OME_LLHLS_URL = settings.OME_LLHLS_INTERNAL_URL = ome.llhls_url
    settings.WATCH_STATUS_WAIT_SECONDS = 10
    delay = 1.5
    try:
        published = time.monotonic()
        ome.publish(f"rtmp://127.0.0.1:1935/app/{room.stream_key}", delay=delay)
        assert Room.objects.get(pk=room.pk).live_state == LiveState.STARTING
        status, _ = _status(client, room, "starting")
        told = time.monotonic() - published
        assert status["state"] == LiveState.LIVE
        assert delay - 0.1 < told < delay + 1.5, f"told {told:.2f} s after publishing; OME served it after {delay} s"
    finally:
        ome.reset()


@pytest.mark.emulator
def test_the_portal_asks_ome_over_the_internal_network_not_the_address_browsers_use(
    ome, live_server, client, room, settings
):
    """In the stack the web service reaches OME as http://ome:3333 (OME_LLHLS_INTERNAL_URL); the
    public https://DOMAIN:3334 may not be reachable from inside the swarm."""
    ome.config(webhook_url=live_server.url + "/ome/admission", webhook_secret=settings.OME_WEBHOOK_SECRET)
    settings.OME_API_URL = ome.api_url
    settings.OME_LLHLS_URL = "http://127.0.0.1:9"  # what browsers use: not reachable from here
    settings.OME_LLHLS_INTERNAL_URL = ome.llhls_url
    settings.WATCH_STATUS_WAIT_SECONDS = 10
    try:
        ome.publish(f"rtmp://127.0.0.1:1935/app/{room.stream_key}", delay=0.5)
        status, took = _status(client, room, "starting")
        assert status["state"] == LiveState.LIVE, f"still {status['state']} after {took:.1f} s"
    finally:
        ome.reset()


@pytest.mark.emulator
def test_a_room_marked_live_because_ome_lists_it_is_told_only_once_ome_serves_it(
    ome, live_server, client, room, settings
):
    """OME lists a stream a moment before it serves it: the reconcile loop marks the room live
    then, but a waiting player told at that moment would fail; it is told once OME serves it."""
    from ome.reconcile import reconcile

    ome.config(webhook_url=live_server.url + "/ome/admission", webhook_secret=settings.OME_WEBHOOK_SECRET)
    settings.OME_API_URL = ome.api_url
    settings.OME_LLHLS_URL = settings.OME_LLHLS_INTERNAL_URL = ome.llhls_url
    settings.WATCH_STATUS_WAIT_SECONDS = 10
    delay = 1.5
    try:
        published = time.monotonic()
        ome.publish(f"rtmp://127.0.0.1:1935/app/{room.stream_key}", delay=delay)
        reconcile()
        assert Room.objects.get(pk=room.pk).live_state == LiveState.LIVE, "listed, so live for the reconcile loop"
        status, _ = _status(client, room, "starting")
        told = time.monotonic() - published
        assert status["state"] == LiveState.LIVE
        assert delay - 0.1 < told < delay + 1.5, f"told {told:.2f} s after publishing; OME served it after {delay} s"
    finally:
        ome.reset()


def test_a_room_stopped_while_a_probe_was_on_its_way_stays_offline(room):
    services.go_live(room_id=room.pk, protocol="rtmp")
    services.go_offline(room_id=room.pk)
    assert services.confirm_playable(room_id=room.pk) is False
    assert Room.objects.get(pk=room.pk).live_state == LiveState.OFFLINE
