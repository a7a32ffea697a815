"""Everything that changes recordings: start, stop, finish from OME's info file, delete, expire."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path, PurePosixPath

from django.core.exceptions import SuspiciousFileOperation
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from core.errors import Conflict, LimitReached, NotAllowed
from core.queue import enqueue_on_commit, requeue_stale
from ome.client import RecordInfo

from . import storage
from .info import InfoFileError, parse_info
from .models import RECORDING_STATES_WITH_FILES, STOPPABLE_RECORDING_STATES, Recording, RecordingState

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
INTERRUPTED_WITH_FILE = (
    "The media server stopped while recording (it crashed or restarted). The file keeps what it had "
    "written until then; it was never finalized, so some players may not open it."
)
INTERRUPTED_WITHOUT_FILE = (
    "The media server stopped while recording (it crashed or restarted) and left no file of this recording."
)
# OME writes a record into `tmp_<random>` next to its target and renames it only when the record
# finishes (publishers/file/file_session.cpp): after a crash, the media is in such a file.
OME_TEMPORARY_PREFIX = "tmp_"


def storage_used_bytes(organization) -> int:
    recordings = Recording.objects.for_organization(organization).with_files()
    return recordings.aggregate(total=Sum("size_bytes"))["total"] or 0


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
    from organizations.models import Organization

    now = now or timezone.now()
    deleted = 0
    for organization in Organization.objects.filter(recording_retention_days__gt=0):
        cutoff = now - timedelta(days=organization.recording_retention_days)
        expired = Recording.objects.for_organization(organization).filter(
            state__in=[*RECORDING_STATES_WITH_FILES, RecordingState.ERROR], created_at__lt=cutoff
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
    Recording.objects.filter(pk=recording_id).exclude(state__in=RECORDING_STATES_WITH_FILES).update(
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


def mark_interrupted(recording: Recording, *, now=None) -> None:
    """OME lost a running record without finishing it (it crashed or restarted): keep what it wrote.

    OME wrote no info file, so the media is in OME's temporary file in the recording's folder
    (one folder per room, one running recording per room: the newest temporary file written since
    the recording started is this one's). It is renamed to a name of the portal's own, next to
    where the finished file would have been, and listed for download. Not saved.
    """
    now = now or timezone.now()
    recording.state = RecordingState.INTERRUPTED
    recording.finished_at = now
    leftover = _leftover_of(recording)
    if leftover is None:
        recording.file_path = ""
        recording.error_message = INTERRUPTED_WITHOUT_FILE
        return
    folder, _, template_name = recording.file_path.rpartition("/")
    suffix = PurePosixPath(template_name).suffix
    target = leftover.with_name(f"{recording.ome_id}_interrupted{suffix}")
    try:
        leftover.replace(target)
    except OSError as error:
        logger.warning("could not keep the file of interrupted recording %s: %s", recording.ome_id, error)
        recording.file_path, recording.error_message = "", INTERRUPTED_WITHOUT_FILE
        return
    recording.file_path = f"{folder}/{target.name}"
    recording.size_bytes = target.stat().st_size
    recording.error_message = INTERRUPTED_WITH_FILE


def _leftover_of(recording: Recording) -> Path | None:
    try:
        folder = storage.local_path(recording.file_path.rpartition("/")[0] or "/")
        since = (recording.started_at or recording.created_at).timestamp() - 2
        candidates = [
            path
            for path in folder.glob(f"{OME_TEMPORARY_PREFIX}*")
            if path.is_file() and path.stat().st_mtime >= since and path.stat().st_size > 0
        ]
    except (OSError, SuspiciousFileOperation):
        return None
    return max(candidates, key=lambda path: path.stat().st_mtime, default=None)


def resume_recording(*, interrupted: Recording) -> Recording | None:
    """Record again in a new file after OME lost a recording, while the room is (still) live.

    The recording was wanted running, by hand or because the room records automatically, like
    the pushes that the reconcile loop registers again: OME waits for the stream to come back.
    """
    room = interrupted.room
    if not room.is_live or Recording.objects.filter(room=room).active().exists():
        return None
    try:
        return start_recording(room=room, requested_by=interrupted.requested_by, external_id=interrupted.external_id)
    except (Conflict, NotAllowed, LimitReached) as error:
        logger.info("recording of %s not resumed after OME lost it: %s", room.public_id, error.message)
        return None


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
        if recording is None or recording.state in (*RECORDING_STATES_WITH_FILES, RecordingState.ERROR):
            return True
        if not finish_from_info_file(recording):
            return False
        recording.save()
        return True
