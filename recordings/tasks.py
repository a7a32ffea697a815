"""Celery tasks that tell OME to start and stop records, and the retention clean-up."""

from __future__ import annotations

import logging

from celery import shared_task

from core.queue import requeue_stale
from ome.client import OmeClient, OmeConflict, OmeNotFound
from ome.tasks import OmeCallTask

from . import files, outcomes
from .models import Recording, RecordingState

logger = logging.getLogger(__name__)


class RecordingTask(OmeCallTask):
    abstract = True

    def record_failure(self, recording_id: int, message: str) -> None:
        outcomes.recording_failed(recording_id=recording_id, message=message)


@shared_task(bind=True, base=RecordingTask)
def start_recording_task(self, recording_id: int) -> None:
    recording = Recording.objects.select_related("room").filter(pk=recording_id).first()
    if recording is None or recording.state not in (RecordingState.REQUESTED, RecordingState.WAITING):
        return
    try:
        info = OmeClient.from_settings().start_record(
            record_id=recording.ome_id,
            stream_name=recording.room.public_id,
            file_path=recording.file_path,
            info_path=recording.info_path,
        )
    except OmeConflict:
        info = None  # "Duplicate ID already exists": OME already records this very recording
    outcomes.recording_registered(recording_id=recording_id, info=info)


@shared_task(bind=True, base=RecordingTask)
def stop_recording_task(self, recording_id: int) -> None:
    recording = Recording.objects.filter(pk=recording_id).first()
    if recording is None or recording.state != RecordingState.STOPPING:
        return
    try:
        OmeClient.from_settings().stop_record(recording.ome_id)
    except OmeNotFound:
        pass  # already finished (the stream ended) or never started: its info file tells
    # OME writes the info file as the record finishes; the reconcile loop finishes it otherwise.
    finish_recording_task.apply_async((recording_id,), countdown=1)


@shared_task(bind=True, acks_late=True, max_retries=10)
def finish_recording_task(self, recording_id: int) -> None:
    if not outcomes.finish_recording(recording_id=recording_id):
        raise self.retry(countdown=2)


@shared_task(ignore_result=True)
def delete_expired_recordings() -> None:
    deleted = files.delete_expired_recordings()
    if deleted:
        logger.info("deleted %d expired recording(s)", deleted)


@shared_task(ignore_result=True)
def requeue_stale_requests() -> int:
    """Beat, every REQUEST_REQUEUE_SECONDS / 4: starts and stops whose queue message was lost go again.

    Recordings OME has accepted (waiting, recording) are the reconcile loop's business. A stopping
    one whose stop did reach OME is only asked again (OME answers "not found") and finished.
    """
    return requeue_stale(
        Recording.objects.filter(state=RecordingState.REQUESTED), task=start_recording_task
    ) + requeue_stale(Recording.objects.filter(state=RecordingState.STOPPING), task=stop_recording_task)
