"""Recordings' part of the reconcile loop.

- A record OME reports gets its state, size and duration copied (one bulk update).
- A record OME no longer lists has finished (stopped, or its stream ended): its info file
  completes the row; one whose file never comes is marked failed.
- One waiting for its stream that OME forgot (a restart) is registered again; one that was
  recording when OME crashed or restarted is marked interrupted with the file OME left, and
  recording starts again in a new file while the room is live (or reconnecting).

Judging a record OME no longer lists needs the recordings folder (its info file, its leftover).
With local storage the loop does it at once; with a bucket the folder is only on the recordings
worker, so `settle_recording_task` does it there (and hands the finished file to the upload).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from core.bulk import bulk_update_rows
from core.queue import enqueue
from ome.client import OmeClient, OmeError
from ome.reconcile import OmeSnapshot

from . import outcomes, services, storage
from .models import Recording, RecordingState
from .signals import announce_state_changes
from .tasks import queue_upload, start_recording_task, stop_recording_task

logger = logging.getLogger(__name__)
RECORD_ID_PREFIX = "rec-"
UPDATED_FIELDS = [
    "state",
    "error_message",
    "file_path",
    "size_bytes",
    "duration_ms",
    "started_at",
    "finished_at",
    "updated_at",
    "interrupted",
    "upload_retry_at",
]


def reconcile_recordings(snapshot: OmeSnapshot) -> None:
    recordings = list(
        Recording.objects.filter(
            state__in=[RecordingState.WAITING, RecordingState.RECORDING, RecordingState.STOPPING]
        ).select_related("room")
    )
    now = timezone.now()
    before = {recording.pk: recording.state for recording in recordings}
    changed: list[Recording] = []
    to_register: list[int] = []
    to_stop: list[int] = []
    to_settle: list[int] = []
    interrupted: list[Recording] = []
    for recording in recordings:
        if recording.updated_at > snapshot.taken_at:
            continue  # changed since OME was read (a task just registered it): judged next time
        info = snapshot.records.get(recording.ome_id)
        if info is not None:
            if recording.state == RecordingState.STOPPING and info.state in ("ready", "recording"):
                # Its stop has not reached OME yet (OME was down, or the message was lost): left
                # untouched, so that the sweep (REQUEST_REQUEUE_SECONDS) sends it again if need be.
                continue
            if recording.state == RecordingState.RECORDING and info.state == "ready" and not recording.room.is_live:
                recording.state = RecordingState.STOPPING  # the stream ended; OME would wait for it
                to_stop.append(recording.pk)
                changed.append(recording)
            elif outcomes.apply_ome_info(recording, info):
                changed.append(recording)
            continue
        if recording.state == RecordingState.WAITING:
            to_register.append(recording.pk)
        elif storage.uses_bucket():
            to_settle.append(recording.pk)  # on the recordings worker, next to the folder
        elif outcomes.settle_vanished(recording, now=now):
            changed.append(recording)
            if recording.interrupted:  # OME crashed or restarted mid-recording
                interrupted.append(recording)
    for recording in changed:
        recording.updated_at = now
    if changed:
        with transaction.atomic():
            bulk_update_rows(changed, UPDATED_FIELDS)
            announce_state_changes((recording.pk, before[recording.pk], recording.state) for recording in changed)
    for recording in interrupted:
        services.resume_recording(interrupted=recording)
    for recording_id in to_register:
        start_recording_task.delay(recording_id)
    for recording_id in to_stop:
        stop_recording_task.delay(recording_id)
    for recording_id in to_settle:
        # Once a pass at most, whatever the recordings worker's backlog.
        if cache.add(f"recordings:settle:{recording_id}", 1, timeout=max(1, int(settings.RECONCILE_SECONDS))):
            enqueue(settle_recording_task, recording_id)
    _stop_abandoned(snapshot, known={recording.ome_id for recording in recordings})


@shared_task(ignore_result=True)
def settle_recording_task(recording_id: int) -> None:
    """The loop's judgement of a record OME no longer lists, made where the folder is (a bucket is
    used): finished or interrupted, its file goes to the upload; interrupted, recording starts again."""
    with transaction.atomic():
        recording = (
            Recording.objects.select_for_update(of=("self",))
            .select_related("room")
            .filter(pk=recording_id, state__in=[RecordingState.RECORDING, RecordingState.STOPPING])
            .first()
        )
        before = recording.state if recording is not None else None
        if recording is None or not outcomes.settle_vanished(recording, now=timezone.now()):
            return
        recording.save()
        announce_state_changes([(recording.pk, before, recording.state)])
    if recording.interrupted:
        services.resume_recording(interrupted=recording)
    if recording.state == RecordingState.UPLOADING:
        queue_upload(recording.pk)


def _stop_abandoned(snapshot: OmeSnapshot, *, known: set[str]) -> None:
    """Stop records OME keeps for us that the portal no longer has (e.g. an armed recording of a deleted room)."""
    unknown = [
        record_id for record_id in snapshot.records if record_id.startswith(RECORD_ID_PREFIX) and record_id not in known
    ]
    if not unknown:
        return
    still_requested = set(
        Recording.objects.filter(ome_id__in=unknown, state=RecordingState.REQUESTED).values_list("ome_id", flat=True)
    )
    client = OmeClient.from_settings()
    for record_id in unknown:
        if record_id in still_requested:
            continue
        try:
            client.stop_record(record_id)
        except OmeError as error:
            logger.warning("could not stop abandoned record %s: %s", record_id, error)
