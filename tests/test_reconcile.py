"""The reconcile loop: a fixed number of OME calls and database queries whatever the number of
live rooms, and the database's intent repaired against OME's facts."""

import time
from datetime import timedelta

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from broadcasts.models import Destination, Platform, Push, PushState
from ome.client import OmeClient
from ome.reconcile import reconcile
from recordings.models import Recording, RecordingState
from rooms import services as room_services
from rooms.models import LiveSession, LiveState, Room

from .factories import RoomFactory

pytestmark = pytest.mark.django_db(transaction=True)


class CountingSession(requests.Session):
    """A real HTTP session that counts the requests it sends."""

    calls = 0

    def request(self, *args, **kwargs):
        self.calls += 1
        return super().request(*args, **kwargs)


def _live_rooms_with_pushes_and_recordings(ome, team, count: int) -> list[Room]:
    rooms = [
        RoomFactory(organization=team.organization, public_id=f"{team.organization.slug}-{index:03d}")
        for index in range(count)
    ]
    client = OmeClient(ome.api_url, ome.token)
    for room in rooms:
        ome.publish(f"rtmp://127.0.0.1:1935/app/{room.public_id}")
        destination = Destination.objects.create(
            room=room, name="sink", platform=Platform.CUSTOM, url="rtmp://127.0.0.1:1/live"
        )
        push = Push.objects.create(
            room=room,
            destination=destination,
            stream_name=destination.stream_name,
            url=destination.url,
            state=PushState.STARTING,
        )
        client.start_push(push_id=push.ome_id, stream_name=push.stream_name, url=push.url)
        recording = Recording.objects.create(room=room, state=RecordingState.WAITING)
        client.start_record(record_id=recording.ome_id, stream_name=room.public_id)
    reconcile()  # the transitions: every room goes live once
    reconcile()  # pushes and records seen pushing and recording
    deadline = time.monotonic() + 10
    while Push.objects.filter(state=PushState.STARTING).exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # OME connects a push a moment after it is started: no transition left to measure
        reconcile()
    return rooms


def _measure(ome) -> tuple[int, int]:
    """One steady-state pass, once OME has moved every counter on (it ticks twice a second)."""
    time.sleep(1.2)
    session = CountingSession()
    with CaptureQueriesContext(connection) as queries:
        reconcile(OmeClient(ome.api_url, ome.token, session=session))
    return session.calls, len(queries)


def test_a_pass_costs_the_same_with_200_live_rooms_as_with_2(portal_ome, team, other_team, settings):
    settings.RECONCILE_STATS_PER_PASS = budget = 5
    _live_rooms_with_pushes_and_recordings(portal_ome, team, 2)
    few_calls, few_queries = _measure(portal_ome)
    _live_rooms_with_pushes_and_recordings(portal_ome, other_team, 198)
    many_calls, many_queries = _measure(portal_ome)
    assert Room.objects.filter(live_state=LiveState.LIVE).count() == 200
    assert Recording.objects.filter(state=RecordingState.RECORDING).count() == 200
    assert many_queries == few_queries, f"queries with 200 rooms {many_queries} vs with 2 rooms {few_queries}"
    assert many_queries <= 20, f"a pass costs {many_queries} database queries"
    # Streams, pushes, records and app statistics: one call each; then the statistics of at most
    # `budget` streams (round robin), whatever the number of live rooms.
    assert few_calls == 4 + 2, "both rooms' statistics fit in the budget"
    assert many_calls == 4 + budget, f"{many_calls} OME calls for 200 live rooms"


def test_a_room_that_ome_lists_goes_live_even_if_its_webhook_was_lost_and_back_offline(portal_ome, room):
    portal_ome.publish("rtmp://127.0.0.1:1935/app/acme-live")
    reconcile()
    room.refresh_from_db()
    assert room.live_state == LiveState.LIVE
    assert LiveSession.objects.get(room=room).ended_at is None
    portal_ome.unpublish("acme-live")  # no webhook reaches the portal: the loop alone finds out
    reconcile()
    room.refresh_from_db()
    assert room.live_state == LiveState.RECONNECTING, "gone without a closing: the encoder may come back"
    assert LiveSession.objects.get(room=room).ended_at is None
    Room.objects.filter(pk=room.pk).update(stream_lost_at=timezone.now() - timedelta(minutes=5))
    reconcile()
    room.refresh_from_db()
    assert room.live_state == LiveState.OFFLINE
    assert LiveSession.objects.get(room=room).ended_at is not None


def test_a_live_room_whose_stream_vanished_goes_offline_at_once_without_a_reconnect_grace(portal_ome, room, settings):
    settings.OME_RECONNECT_GRACE_SECONDS = 0
    portal_ome.publish("rtmp://127.0.0.1:1935/app/acme-live")
    reconcile()
    portal_ome.unpublish("acme-live")
    reconcile()
    assert Room.objects.get(pk=room.pk).live_state == LiveState.OFFLINE


def test_a_reconnecting_room_whose_stream_comes_back_is_live_again_in_the_same_session(portal_ome, room):
    portal_ome.publish("rtmp://127.0.0.1:1935/app/acme-live")
    reconcile()
    session = LiveSession.objects.get(room=room)
    portal_ome.unpublish("acme-live")
    reconcile()
    assert Room.objects.get(pk=room.pk).live_state == LiveState.RECONNECTING
    portal_ome.publish("rtmp://127.0.0.1:1935/app/acme-live")
    reconcile()
    room.refresh_from_db()
    assert (room.live_state, room.stream_lost_at) == (LiveState.LIVE, None)
    assert list(LiveSession.objects.filter(room=room)) == [session]


def test_a_room_starting_without_a_stream_gives_up_after_the_grace_period(portal_ome, room):
    room_services.go_live(room_id=room.pk, protocol="webrtc")
    reconcile()
    assert Room.objects.get(pk=room.pk).live_state == LiveState.STARTING, "a browser stream takes seconds to appear"
    Room.objects.filter(pk=room.pk).update(live_since=timezone.now() - timedelta(minutes=5))
    reconcile()
    assert Room.objects.get(pk=room.pk).live_state == LiveState.OFFLINE
    assert not LiveSession.objects.filter(room=room).exists(), "it never went live: no past session"


def test_a_room_disabled_while_live_is_disconnected(portal_ome, room):
    portal_ome.publish("rtmp://127.0.0.1:1935/app/acme-live")
    reconcile()
    Room.objects.filter(pk=room.pk).update(is_enabled=False)
    reconcile()
    assert "acme-live" not in [stream["name"] for stream in portal_ome.state()["streams"]]
    reconcile()
    assert Room.objects.get(pk=room.pk).live_state == LiveState.OFFLINE


def test_nothing_changes_while_ome_cannot_be_read(settings, room):
    room_services.go_live(room_id=room.pk, protocol="rtmp", confirmed=True)
    settings.OME_API_URL = "http://127.0.0.1:9"
    from portal.tasks import reconcile as reconcile_task

    reconcile_task.apply()
    assert Room.objects.get(pk=room.pk).live_state == LiveState.LIVE, "OME's silence is not a fact about streams"


def test_pushes_counters_written_in_one_statement_are_the_ones_ome_reported(portal_ome, team):
    """The reconcile loop writes every push's changes in one UPDATE (core.bulk on PostgreSQL)."""
    rooms = _live_rooms_with_pushes_and_recordings(portal_ome, team, 3)
    time.sleep(1.2)
    reconcile()
    reported = {push["id"]: push for push in portal_ome.pushes()}
    for push in Push.objects.filter(room__in=rooms):
        assert push.state == PushState.PUSHING
        assert push.sent_bytes > 0 and push.sent_bytes <= reported[push.ome_id]["sentBytes"]
        assert push.started_at is not None and push.updated_at > push.created_at
