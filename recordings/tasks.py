"""Celery tasks that tell OME to start and stop records, move finished files into the recordings
bucket (RECORDINGS_STORAGE=s3), remove files, and the retention clean-up.

With a bucket, the tasks that need the recordings folder (finishing from OME's info file,
uploading, removing local files) go to the recordings worker's queue (CELERY_TASK_ROUTES);
the others run on any worker."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.queue import REQUEUE_BATCH, enqueue, requeue_stale
from ome.client import OmeClient, OmeConflict, OmeNotFound
from ome.tasks import OmeCallTask

from . import archive, files, outcomes
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
    if Recording.objects.filter(pk=recording_id, state=RecordingState.UPLOADING).exists():
        queue_upload(recording_id)


# --- The recordings bucket --------------------------------------------------------------------

# A queued upload is not queued again for this long (the worker may be down: no pile-up).
UPLOAD_QUEUED_SECONDS = 600


def _queued_mark(recording_id: int) -> str:
    return f"recordings:upload-queued:{recording_id}"


def queue_upload(recording_id: int) -> bool:
    """Hand an Uploading recording to the recordings worker, unless it waits in the queue already."""
    if not cache.add(_queued_mark(recording_id), 1, timeout=UPLOAD_QUEUED_SECONDS):
        return False
    if not enqueue(upload_recording_task, recording_id):
        cache.delete(_queued_mark(recording_id))
        return False
    return True


# Not acks_late: an upload may outlast the broker's visibility timeout, and a worker that dies
# mid-upload loses nothing (the recording stays Uploading; the sweep queues it once its claim ends).
@shared_task(
    ignore_result=True,
    acks_late=False,
    soft_time_limit=settings.RECORDINGS_UPLOAD_TIME_LIMIT,
    time_limit=settings.RECORDINGS_UPLOAD_TIME_LIMIT + 30,
)
def upload_recording_task(recording_id: int) -> None:
    cache.delete(_queued_mark(recording_id))
    archive.upload_recording(recording_id=recording_id)


@shared_task(ignore_result=True)
def requeue_uploads() -> int:
    """Beat: uploads whose next try is due (after a failure, a lost message or a dead worker) go to
    the recordings worker again."""
    due = (
        Recording.objects.filter(state=RecordingState.UPLOADING)
        .filter(Q(upload_retry_at__isnull=True) | Q(upload_retry_at__lte=timezone.now()))
        .order_by("upload_retry_at")
        .values_list("pk", flat=True)[:REQUEUE_BATCH]
    )
    return sum(queue_upload(recording_id) for recording_id in due)


def queue_file_deletion(recording: Recording) -> None:
    """With a bucket: once the row's deletion commits, its object goes from the bucket (any worker)
    and whatever is left of it in OME's folder from there (the recordings worker)."""
    keys = [recording.storage_key] if recording.storage_key else []
    local = [path for path in (recording.file_path, recording.info_path) if path and "${" not in path]
    if keys:
        transaction.on_commit(lambda: enqueue(delete_objects_task, keys))
    if local:
        transaction.on_commit(lambda: enqueue(delete_local_files_task, local))


# Retries stay shorter than the broker's visibility timeout (settings.CELERY_VISIBILITY_TIMEOUT).
@shared_task(
    ignore_result=True,
    autoretry_for=archive.STORAGE_ERRORS,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=60,
)
def delete_objects_task(keys: list[str]) -> None:
    archive.delete_objects(keys)


@shared_task(ignore_result=True)
def delete_local_files_task(ome_paths: list[str]) -> None:
    archive.remove_local_files(*ome_paths)


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
