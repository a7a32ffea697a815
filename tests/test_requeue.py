"""Starts and stops whose queue message was lost are queued again by the beat sweep.

A "lost message" here is a row left in its requested or stopping state with no task behind it,
what a killed worker, Redis down at the moment of the request, or Redis restarted without its
data leave behind (tests/faults/ makes those happen for real).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from broadcasts import services as broadcast_services
from broadcasts import tasks as broadcast_tasks
from broadcasts.models import Destination, Platform, Push, PushState
from core.queue import requeue_after
from ome.reconcile import reconcile
from portal.celery import app as celery_app
from recordings import services as recording_services
from recordings import tasks as recording_tasks
from recordings.models import Recording, RecordingState

from .celery_worker import queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def destination(room):
    return Destination.objects.create(
        room=room, name="Sink", platform=Platform.CUSTOM, url="rtmp://127.0.0.1:19352/live", stream_key="k"
    )


def _lost_push(destination, *, state=PushState.REQUESTED, age: timedelta) -> Push:
    """A push row whose task never ran: stored, then its message vanished."""
    push = Push.objects.create(
        room=destination.room,
        destination=destination,
        stream_name=destination.stream_name,
        url=destination.url,
        stream_key=destination.stream_key,
        state=state,
    )
    Push.objects.filter(pk=push.pk).update(updated_at=timezone.now() - age)
    return push


def _state(row) -> str:
    row.refresh_from_db()
    return row.state


def test_a_start_whose_message_was_lost_reaches_ome_through_the_worker_after_the_sweep(
    portal_ome, destination, celery_worker
):
    push = _lost_push(destination, age=requeue_after() + timedelta(seconds=1))
    broadcast_tasks.requeue_stale_requests.delay()  # what beat sends every REQUEST_REQUEUE_SECONDS / 4
    portal_ome.wait_for(
        lambda: [p for p in portal_ome.pushes() if p["id"] == push.ome_id],
        timeout=20,
        what=f"the requeued start to reach OME:\n{celery_worker.log_tail()}",
    )
    portal_ome.wait_for(lambda: _state(push) == PushState.STARTING, what="the worker to record OME's answer")
    assert len(portal_ome.pushes()) == 1


def test_a_request_younger_than_the_bound_is_left_to_its_own_task(portal_ome, destination):
    push = _lost_push(destination, age=requeue_after() - timedelta(seconds=5))
    assert broadcast_tasks.requeue_stale_requests() == 0
    assert portal_ome.pushes() == [] and _state(push) == PushState.REQUESTED


def test_a_request_queued_again_is_not_queued_again_by_the_next_sweep_of_the_same_period(destination):
    push = _lost_push(destination, age=requeue_after() + timedelta(seconds=1))
    with queued_tasks():  # to the broker, where no worker takes it: the request stays waiting
        try:
            assert broadcast_tasks.requeue_stale_requests() == 1
            assert broadcast_tasks.requeue_stale_requests() == 0
        finally:
            celery_app.control.purge()
    assert _state(push) == PushState.REQUESTED


def test_a_stop_whose_message_was_lost_stops_the_push_in_ome(portal_ome, room, destination):
    push = broadcast_services.start_push(destination=destination)  # tasks run inline here
    assert [p["id"] for p in portal_ome.pushes()] == [push.ome_id]
    Push.objects.filter(pk=push.pk).update(
        state=PushState.STOPPING, updated_at=timezone.now() - requeue_after() - timedelta(seconds=1)
    )
    reconcile()  # OME still pushes it: the loop leaves a stopping push to its stop
    assert _state(push) == PushState.STOPPING
    assert broadcast_tasks.requeue_stale_requests() == 1
    assert _state(push) == PushState.STOPPED
    portal_ome.wait_for(lambda: portal_ome.pushes() == [], what="OME to drop the stopped push")


def test_a_recording_start_whose_message_was_lost_reaches_ome_after_the_sweep(portal_ome, room):
    recording = Recording.objects.create(room=room, file_path="/r/x.mp4", info_path="/r/x.xml")
    Recording.objects.filter(pk=recording.pk).update(updated_at=timezone.now() - requeue_after() - timedelta(seconds=1))
    assert recording_tasks.requeue_stale_requests() == 1
    assert [r["id"] for r in portal_ome.records()] == [recording.ome_id]
    assert _state(recording) == RecordingState.WAITING


def test_a_stopping_recording_stays_stopping_while_its_stop_has_not_reached_ome_and_the_sweep_stops_it(
    portal_ome, room
):
    portal_ome.publish("rtmp://127.0.0.1:1935/app/acme-live")
    reconcile()
    recording = recording_services.start_recording(room=room)
    portal_ome.wait_for(lambda: (reconcile(), _state(recording) == RecordingState.RECORDING)[1], what="recording")
    # The stop was asked, but its message was lost (or OME was down): OME still records.
    Recording.objects.filter(pk=recording.pk).update(
        state=RecordingState.STOPPING, updated_at=timezone.now() - requeue_after() - timedelta(seconds=1)
    )
    reconcile()
    assert _state(recording) == RecordingState.STOPPING, "the loop must not undo a stop on its way to OME"
    assert recording_tasks.requeue_stale_requests() == 1
    portal_ome.wait_for(
        lambda: not [r for r in portal_ome.records() if r["id"] == recording.ome_id and r["state"] == "recording"],
        what="OME to stop recording",
    )
