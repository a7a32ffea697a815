"""What OME answered and wrote about recordings, recorded on their rows (the tasks and the
reconcile loop call these): its record states, the info XML of a finished record, the file a
crashed OME left behind, and where the file went in the recordings storage.

A recording's state changes here, in a few functions: `recording_registered`, `recording_failed`,
`apply_ome_info`, `settle_vanished` (finished, interrupted or lost, through `file_complete`),
`recording_uploaded` (Uploading → Ready with a bucket) and `upload_lost`. A recording becomes
ready (Ready, or Interrupted with a file) in `file_complete` with local storage and in
`recording_uploaded` with a bucket.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

from django.core.exceptions import SuspiciousFileOperation
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ome.client import RecordInfo

from . import storage
from .info import InfoFileError, parse_info
from .models import RECORD_STATE_FROM_OME, RECORDING_STATES_WITH_COMPLETE_FILES, Recording, RecordingState
from .signals import announce_state_changes

logger = logging.getLogger(__name__)

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

# A record OME lost (no longer listed) that never got an info file within FINISH_GRACE_SECONDS.
LOST = "The media server stopped recording unexpectedly (it may have restarted)."

FILE_MISSING = "The file of this recording disappeared from the recordings folder before it was uploaded."

# OME writes a record into `tmp_<random>` next to its target and renames it only when the record
# finishes (publishers/file/file_session.cpp): after a crash, the media is in such a file.
OME_TEMPORARY_PREFIX = "tmp_"


def apply_ome_info(recording: Recording, info: RecordInfo) -> bool:
    """Copy OME's view of a running record onto the row (not saved); True when something changed."""
    before = (recording.state, recording.size_bytes, recording.duration_ms, recording.started_at)
    state = RECORD_STATE_FROM_OME.get(info.state)
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
        announce_state_changes([(recording.pk, RecordingState.WAITING, recording.state)])


def recording_failed(*, recording_id: int, message: str) -> None:
    with transaction.atomic():
        failed_now = (
            Recording.objects.filter(pk=recording_id)
            .exclude(state__in=[*RECORDING_STATES_WITH_COMPLETE_FILES, RecordingState.ERROR])
            .update(state=RecordingState.ERROR, error_message=message[:500], updated_at=timezone.now())
        )
        if failed_now:
            announce_state_changes([(recording_id, "", RecordingState.ERROR)])
        else:  # failed already: the newer reason
            Recording.objects.filter(pk=recording_id, state=RecordingState.ERROR).update(
                error_message=message[:500], updated_at=timezone.now()
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
    recording.error_message = ""
    file_complete(recording, state=RecordingState.FINISHED)
    return True


def file_complete(recording: Recording, *, state: RecordingState) -> None:
    """OME is done with the file (not saved): the recording is ready in `state` (Ready, or
    Interrupted for a file OME never finalized) with local storage; with a bucket it is
    Uploading first, and `recording_uploaded` makes it ready once the bucket's copy is verified."""
    recording.interrupted = state == RecordingState.INTERRUPTED
    if storage.uses_bucket():
        recording.state = RecordingState.UPLOADING
        recording.upload_retry_at = timezone.now()
    else:
        recording.state = state


def settle_vanished(recording: Recording, *, now: datetime) -> bool:
    """A recording OME no longer lists (not saved): finished (its info file is there), interrupted
    (it was recording: OME crashed or restarted) or, past FINISH_GRACE_SECONDS without an info
    file, lost. False while it is too early to say. Needs the recordings folder."""
    if finish_from_info_file(recording):
        return True
    if recording.state == RecordingState.RECORDING:
        mark_interrupted(recording, now=now)
        return True
    if recording.updated_at < now - timedelta(seconds=FINISH_GRACE_SECONDS):
        recording.state, recording.error_message = RecordingState.ERROR, LOST
        return True
    return False


def mark_interrupted(recording: Recording, *, now=None) -> None:
    """OME lost a running record without finishing it (it crashed or restarted): keep what it wrote.

    OME wrote no info file, so the media is in OME's temporary file in the recording's folder
    (one folder per room, one running recording per room: the newest temporary file written since
    the recording started is this one's). It is renamed to a name of the portal's own, next to
    where the finished file would have been, and listed for download. Not saved.
    """
    now = now or timezone.now()
    recording.state = RecordingState.INTERRUPTED
    recording.interrupted = True
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
    file_complete(recording, state=RecordingState.INTERRUPTED)


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
        if recording is None or recording.state in (*RECORDING_STATES_WITH_COMPLETE_FILES, RecordingState.ERROR):
            return True
        before = recording.state
        if not finish_from_info_file(recording):
            return False
        recording.save()
        announce_state_changes([(recording.pk, before, recording.state)])
        return True


# --- The recordings bucket (recordings.archive) -------------------------------------------------


def recording_uploaded(*, recording_id: int, storage_key: str, size_bytes: int, checksum_sha256: str) -> bool:
    """Uploading → Ready: the bucket's copy of the file is verified. With a bucket, the one moment
    a recording becomes ready (Ready, or Interrupted for a file OME never finalized).

    False when the recording is no longer uploading (deleted meanwhile): the copy belongs to nobody.
    """
    with transaction.atomic():
        recording = Recording.objects.select_for_update().filter(pk=recording_id).first()
        if recording is None or recording.state != RecordingState.UPLOADING:
            return False
        recording.state = RecordingState.INTERRUPTED if recording.interrupted else RecordingState.FINISHED
        recording.storage_key = storage_key
        recording.size_bytes = size_bytes
        recording.checksum_sha256 = checksum_sha256
        recording.upload_error = ""
        recording.upload_retry_at = None
        recording.save()
        announce_state_changes([(recording.pk, RecordingState.UPLOADING, recording.state)])
    return True


def upload_started(*, recording_id: int, until: datetime) -> bool:
    """Claim an uploading recording for one upload until `until` (its time limit): False when it is
    not uploading, or another worker has it, or its next try is not due yet."""
    now = timezone.now()
    claimed = (
        Recording.objects.filter(pk=recording_id, state=RecordingState.UPLOADING)
        .exclude(upload_retry_at__gt=now)
        .update(upload_retry_at=until)
    )
    return claimed == 1


def upload_failed(*, recording_id: int, message: str, retry_in: timedelta) -> None:
    """An upload try failed: the recording stays Uploading (its file stays where it is), says why,
    and is tried again after `retry_in`."""
    Recording.objects.filter(pk=recording_id, state=RecordingState.UPLOADING).update(
        upload_attempts=F("upload_attempts") + 1,
        upload_error=message[:500],
        upload_retry_at=timezone.now() + retry_in,
        updated_at=timezone.now(),
    )


def upload_lost(*, recording_id: int, message: str = FILE_MISSING) -> None:
    """The file to upload is gone: nothing can make this recording ready any more."""
    with transaction.atomic():
        lost = Recording.objects.filter(pk=recording_id, state=RecordingState.UPLOADING).update(
            state=RecordingState.ERROR, error_message=message[:500], upload_retry_at=None, updated_at=timezone.now()
        )
        if lost:
            announce_state_changes([(recording_id, RecordingState.UPLOADING, RecordingState.ERROR)])


def file_moved_to_storage(*, recording_id: int, storage_key: str, size_bytes: int, checksum_sha256: str) -> bool:
    """A recording finished before the bucket was used now has its file there (`manage.py
    move_recordings_to_storage`); its state does not change. False when it is gone or moved already."""
    moved = Recording.objects.filter(
        pk=recording_id, state__in=[RecordingState.FINISHED, RecordingState.INTERRUPTED], storage_key=""
    ).update(storage_key=storage_key, size_bytes=size_bytes, checksum_sha256=checksum_sha256, updated_at=timezone.now())
    return moved == 1
