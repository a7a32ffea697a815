"""Everything that changes recordings: start, stop, finish from OME's info file, delete, expire."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.core.exceptions import SuspiciousFileOperation
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from portal.celery import enqueue_on_commit, requeue_stale
from portal.errors import Conflict, LimitReached, NotAllowed
from portal.ome.client import RecordInfo

from . import storage
from .info import InfoFileError, parse_info
from .models import STOPPABLE_RECORDING_STATES, Recording, RecordingState

logger = logging.getLogger(__name__)

_OME_STATES = {
    "ready": RecordingState.WAITING,
    "recording": RecordingState.RECORDING,
    "stopping": RecordingState.STOPPING,
    "error": RecordingState.ERROR,
}
RECORDING_FAILED = "The media server could not record this stream."
# How long OME may take to write the info file after a record ended before we call it lost.
FINISH_GRACE_SECONDS = 120


def storage_used_bytes(organization) -> int:
    return Recording.objects.for_organization(organization).finished().aggregate(total=Sum("size_bytes"))["total"] or 0


def start_recording(*, room, requested_by=None, external_id: str = "") -> Recording:
    """Record the room now, or as soon as it goes live (OME waits for the stream).

    `external_id` is an API client's own id for it, unique among the organization's active recordings.
    """
    from .tasks import start_recording_task

    organization = room.organization
    if organization.is_suspended:
        raise NotAllowed(f"{organization.name} is suspended: recording is not possible.")
    if not room.is_enabled:
        raise NotAllowed("This room is disabled by the operators: recording is not possible.")
    limit = organization.recording_storage_limit_mb * 1_000_000
    if storage_used_bytes(organization) >= limit:
        raise LimitReached(
            f"Recordings of {organization.name} use all of its {organization.recording_storage_limit_mb} MB. "
            "Delete old recordings to record again."
        )
    if (
        external_id
        and Recording.objects.for_organization(organization).active().filter(external_id=external_id).exists()
    ):
        raise Conflict(f"A recording with the id '{external_id}' is already running.")
    recording = Recording(room=room, requested_by=requested_by, external_id=external_id)
    folder = (f"org-{organization.pk}", room.public_id)
    # OME fills in the times; the extension makes it an MP4 that browsers play and seek.
    recording.file_path = storage.ome_path(
        *folder, f"{recording.ome_id}_${{StartTime:YYYYMMDDhhmmss}}_${{EndTime:YYYYMMDDhhmmss}}.mp4"
    )
    recording.info_path = storage.ome_path(*folder, f"{recording.ome_id}.xml")
    try:
        with transaction.atomic():
            recording.save()
    except IntegrityError:
        raise Conflict("This room is already being recorded.") from None
    enqueue_on_commit(start_recording_task, recording.pk)
    return recording


def stop_recording(*, recording: Recording) -> Recording:
    from .tasks import stop_recording_task

    if not recording.can_stop:
        return recording
    recording.state = RecordingState.STOPPING
    recording.save(update_fields=["state", "updated_at"])
    enqueue_on_commit(stop_recording_task, recording.pk)
    return recording


def start_auto_recording(*, room) -> Recording | None:
    if not room.auto_record or Recording.objects.filter(room=room).active().exists():
        return None
    try:
        return start_recording(room=room)
    except (Conflict, NotAllowed, LimitReached) as error:
        logger.info("auto-record of %s skipped: %s", room.public_id, error.message)
        return None


def stop_room_recordings(*, room) -> None:
    for recording in Recording.objects.filter(room=room, state__in=STOPPABLE_RECORDING_STATES):
        stop_recording(recording=recording)


def requeue_stale_requests() -> int:
    """Queue again the starts and stops still waiting for their task after a while (a lost message).

    Recordings OME has accepted (waiting, recording) are the reconcile loop's business. A stopping
    one whose stop did reach OME is only asked again (OME answers "not found") and finished.
    """
    from .tasks import start_recording_task, stop_recording_task

    return requeue_stale(
        Recording.objects.filter(state=RecordingState.REQUESTED), task=start_recording_task
    ) + requeue_stale(Recording.objects.filter(state=RecordingState.STOPPING), task=stop_recording_task)


def delete_recording(*, recording: Recording) -> None:
    """Delete a recording; its files go with the row (see `delete_files`). Stop it first."""
    if recording.is_active:
        raise Conflict("This recording is still running. Stop it before deleting it.")
    recording.delete()


def delete_files(recording: Recording) -> None:
    """Remove a recording's media and info files; runs whenever a row goes, room deletions included."""
    for path in (recording.file_path, recording.info_path):
        if not path or "${" in path:
            continue
        try:
            storage.local_path(path).unlink(missing_ok=True)
        except (OSError, SuspiciousFileOperation) as error:
            logger.warning("could not delete %s: %s", path, error)


def delete_expired_recordings(*, now=None) -> int:
    """Delete finished (and failed) recordings older than their organization's retention period."""
    from portal.models import Organization

    now = now or timezone.now()
    deleted = 0
    for organization in Organization.objects.filter(recording_retention_days__gt=0):
        cutoff = now - timedelta(days=organization.recording_retention_days)
        expired = Recording.objects.for_organization(organization).filter(
            state__in=[RecordingState.FINISHED, RecordingState.ERROR], created_at__lt=cutoff
        )
        for recording in expired:
            delete_recording(recording=recording)
            deleted += 1
    return deleted


# --- What OME answered (called by tasks and the reconcile loop) --------------------------------


def apply_ome_info(recording: Recording, info: RecordInfo) -> bool:
    """Copy OME's view of a running record onto the row (not saved); True when something changed."""
    before = (recording.state, recording.size_bytes, recording.duration_ms, recording.started_at)
    state = _OME_STATES.get(info.state)
    if state is RecordingState.ERROR:
        recording.error_message = RECORDING_FAILED
    # A stopping recording stays stopping while OME still records: its stop has not reached OME yet
    # (OME was down, or the message was lost) and is still on its way.
    if state is not None and not (
        recording.state == RecordingState.STOPPING and state in (RecordingState.WAITING, RecordingState.RECORDING)
    ):
        recording.state = state
    recording.size_bytes = max(recording.size_bytes, info.total_record_bytes or info.record_bytes)
    recording.duration_ms = max(recording.duration_ms, info.total_record_time_ms or info.record_time_ms)
    if state is RecordingState.RECORDING and recording.started_at is None:
        recording.started_at = info.start_time or timezone.now()
    return before != (recording.state, recording.size_bytes, recording.duration_ms, recording.started_at)


def recording_registered(*, recording_id: int, info: RecordInfo | None) -> None:
    with transaction.atomic():
        recording = Recording.objects.select_for_update().filter(pk=recording_id).first()
        if recording is None or recording.state not in (RecordingState.REQUESTED, RecordingState.WAITING):
            return
        recording.state = RecordingState.WAITING
        if info is not None:
            apply_ome_info(recording, info)
        recording.save()


def recording_failed(*, recording_id: int, message: str) -> None:
    Recording.objects.filter(pk=recording_id).exclude(state=RecordingState.FINISHED).update(
        state=RecordingState.ERROR, error_message=message[:500], updated_at=timezone.now()
    )


def finish_from_info_file(recording: Recording) -> bool:
    """Complete a recording from OME's info XML (not saved); False while OME has not written it."""
    try:
        xml = storage.local_path(recording.info_path).read_bytes()
        recorded = parse_info(xml)
    except FileNotFoundError:
        return False
    except (OSError, InfoFileError, ValueError) as error:
        recording.state = RecordingState.ERROR
        recording.error_message = f"OME's info file about this recording is unreadable: {error}"[:500]
        return True
    first, last = recorded[0], recorded[-1]
    if len(recorded) > 1:
        logger.warning("recording %s was split into %d files; keeping the first", recording.ome_id, len(recorded))
    recording.file_path = first.file_path
    recording.size_bytes = _size_on_disk(first.file_path) or first.record_bytes
    recording.duration_ms = first.record_time_ms
    recording.started_at = first.start_time or recording.started_at
    recording.finished_at = first.finish_time or last.finish_time or timezone.now()
    recording.state = RecordingState.FINISHED
    recording.error_message = ""
    return True


def _size_on_disk(ome_file_path: str) -> int:
    """What the file takes on disk (OME's recordBytes counts only the media payload)."""
    try:
        return storage.local_path(ome_file_path).stat().st_size
    except (OSError, SuspiciousFileOperation):
        return 0


def finish_recording(*, recording_id: int) -> bool:
    """Finish a stopped recording if OME has written its info file; True when it is settled."""
    with transaction.atomic():
        recording = Recording.objects.select_for_update().filter(pk=recording_id).first()
        if recording is None or recording.state in (RecordingState.FINISHED, RecordingState.ERROR):
            return True
        if not finish_from_info_file(recording):
            return False
        recording.save()
        return True
