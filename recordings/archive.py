"""Moving finished recordings from OME's folder into the recordings bucket (RECORDINGS_STORAGE=s3).

Runs only next to the folder: on the recordings worker (`upload_recording`, for recordings that
are Uploading) and in `manage.py move_recordings_to_storage` (`move_to_storage`, for recordings
finished before the bucket was used). The file goes up through Django's storage API (boto3's
managed transfer: parts of RECORDINGS_S3_PART_MB, several at once); the bucket's copy is then
checked against the file: its size, and its ETag, which S3 computes from the MD5 of the file (or
of each part) — or, where a service's ETag is no MD5, the SHA-256 of the copy read back. Only a
verified copy makes the recording ready; only then is the local file removed.

A failed try (the bucket unreachable, a copy that does not match, the worker killed) leaves the
file where it is and the recording Uploading, with the reason and a growing wait until the next
try (RECORDINGS_UPLOAD_RETRY_SECONDS, doubling up to RECORDINGS_UPLOAD_RETRY_MAX_SECONDS); the
beat sweep (`recordings.tasks.requeue_uploads`) hands due uploads to the worker again.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from boto3.exceptions import Boto3Error
from botocore.exceptions import BotoCoreError, ClientError
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files import File
from django.core.files.storage import Storage
from django.utils import timezone

from . import outcomes, storage
from .models import Recording, RecordingState

logger = logging.getLogger(__name__)

READ_SIZE = 1024 * 1024
_MD5_ETAG = re.compile(r"^[0-9a-f]{32}(-[0-9]+)?$")
STORAGE_ERRORS = (BotoCoreError, ClientError, Boto3Error, OSError)


class FileMissing(Exception):
    """The recording's file is not (or no longer) in the recordings folder."""


class UploadFailed(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Digests:
    size: int
    sha256: str
    etag: str  # what S3 reports as ETag for this file uploaded in `part_size` parts


def file_digests(path: Path, *, part_size: int | None) -> Digests:
    """One read of the file: its SHA-256, and the ETag S3 gives it (MD5, or MD5 of the parts' MD5s)."""
    sha256, whole, parts = hashlib.sha256(), hashlib.md5(usedforsecurity=False), []
    part, in_part = hashlib.md5(usedforsecurity=False), 0
    size = 0
    with path.open("rb") as handle:
        while data := handle.read(READ_SIZE if part_size is None else min(READ_SIZE, part_size - in_part)):
            size += len(data)
            sha256.update(data)
            whole.update(data)
            if part_size is not None:
                part.update(data)
                in_part += len(data)
                if in_part == part_size:
                    parts.append(part.digest())
                    part, in_part = hashlib.md5(usedforsecurity=False), 0
    if part_size is None:
        etag = whole.hexdigest()
    else:
        if in_part or not parts:
            parts.append(part.digest())
        etag = f"{hashlib.md5(b''.join(parts), usedforsecurity=False).hexdigest()}-{len(parts)}"
    return Digests(size=size, sha256=sha256.hexdigest(), etag=etag)


def copy_mismatch(store: Storage, name: str, digests: Digests) -> str:
    """Why the stored copy `name` is not the file described by `digests`; "" when it is."""
    head = getattr(store, "head", None)
    size, etag = head(name) if head else (store.size(name), "")
    if size != digests.size:
        return f"the bucket holds {size} bytes of the file's {digests.size}"
    if _MD5_ETAG.match(etag):
        return "" if etag == digests.etag else "its checksum differs from the file's"
    sha256 = hashlib.sha256()
    with store.open(name, "rb") as copy:
        while data := copy.read(READ_SIZE):
            sha256.update(data)
    return "" if sha256.hexdigest() == digests.sha256 else "its checksum differs from the file's"


def store_file(recording: Recording, *, key: str) -> tuple[str, Digests]:
    """Upload the recording's file to `key` and verify the copy; (name stored under, digests).

    FileMissing when the file is not in the folder; UploadFailed (the copy removed) otherwise.
    """
    try:
        path = storage.local_path(recording.file_path)
    except SuspiciousFileOperation:
        raise FileMissing(recording.file_path) from None
    if not path.is_file():
        raise FileMissing(recording.file_path)
    bucket = storage.archive()
    part_size = bucket.part_size(path.stat().st_size) if hasattr(bucket, "part_size") else None
    digests = file_digests(path, part_size=part_size)
    try:
        with path.open("rb") as handle:
            name = bucket.save(key, File(handle, name=path.name))
        problem = copy_mismatch(bucket, name, digests)
    except STORAGE_ERRORS as error:
        raise UploadFailed(f"The recordings bucket could not be reached or refused the file ({error}).") from error
    except SoftTimeLimitExceeded:
        raise UploadFailed(
            f"The upload took longer than {settings.RECORDINGS_UPLOAD_TIME_LIMIT} s (RECORDINGS_UPLOAD_TIME_LIMIT)."
        ) from None
    if problem:
        _delete_quietly(bucket, name)
        raise UploadFailed(
            f"The copy in the recordings bucket did not match the file ({problem}); it is uploaded again."
        )
    return name, digests


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed try."""
    seconds = settings.RECORDINGS_UPLOAD_RETRY_SECONDS * 2 ** max(0, attempts - 1)
    return timedelta(seconds=min(seconds, settings.RECORDINGS_UPLOAD_RETRY_MAX_SECONDS))


def upload_recording(*, recording_id: int) -> str:
    """One try at moving an Uploading recording's file into the bucket; says what happened."""
    until = timezone.now() + timedelta(seconds=settings.RECORDINGS_UPLOAD_TIME_LIMIT + 60)
    if not outcomes.upload_started(recording_id=recording_id, until=until):
        return "not due"  # done, deleted, another worker has it, or its next try is later
    recording = Recording.objects.select_related("room").get(pk=recording_id)
    try:
        if not recording.storage_key:
            # Kept from the first try on: a retry replaces its own unfinished object, a deletion finds it.
            recording.storage_key = _new_key(recording)
            Recording.objects.filter(pk=recording_id).update(storage_key=recording.storage_key)
        name, digests = store_file(recording, key=recording.storage_key)
    except FileMissing:
        logger.warning(
            "recording %s: its file %s is missing; it cannot be uploaded", recording.ome_id, recording.file_path
        )
        outcomes.upload_lost(recording_id=recording_id)
        return "file missing"
    except UploadFailed as failure:
        attempts = recording.upload_attempts + 1
        wait = retry_delay(attempts)
        logger.warning(
            "recording %s: upload try %d failed, next in %.0f s: %s",
            recording.ome_id,
            attempts,
            wait.total_seconds(),
            failure,
        )
        outcomes.upload_failed(recording_id=recording_id, message=_retry_message(failure.message, wait), retry_in=wait)
        return "failed"
    if not outcomes.recording_uploaded(
        recording_id=recording_id, storage_key=name, size_bytes=digests.size, checksum_sha256=digests.sha256
    ):
        _delete_quietly(storage.archive(), name)  # deleted while it was uploading
        remove_local_files(recording.file_path, recording.info_path)
        return "deleted meanwhile"
    remove_local_files(recording.file_path, recording.info_path)
    logger.info("recording %s: uploaded and verified (%d bytes)", recording.ome_id, digests.size)
    return "uploaded"


def move_to_storage(recording: Recording) -> str:
    """Move a recording finished before the bucket was used (`manage.py move_recordings_to_storage`).

    Safe to interrupt at any point and to run again: the recording points at the bucket only once
    the copy is verified, and the local file is removed only after that.
    """
    try:
        name, digests = store_file(recording, key=_new_key(recording))
    except FileMissing:
        return "missing"
    except UploadFailed as failure:
        logger.warning("recording %s was not moved: %s", recording.ome_id, failure.message)
        return "failed"
    if not outcomes.file_moved_to_storage(
        recording_id=recording.pk, storage_key=name, size_bytes=digests.size, checksum_sha256=digests.sha256
    ):
        _delete_quietly(storage.archive(), name)
        return "gone"
    remove_local_files(recording.file_path, recording.info_path)
    return "moved"


def remove_local_files(*ome_paths: str) -> None:
    """Remove files from OME's folder (the local copy once it is in the bucket, an info file)."""
    for ome_path in ome_paths:
        if not ome_path or "${" in ome_path:
            continue
        try:
            storage.local_path(ome_path).unlink(missing_ok=True)
        except (OSError, SuspiciousFileOperation) as error:
            logger.warning("could not remove %s: %s", ome_path, error)


def delete_objects(keys: list[str]) -> None:
    """Delete objects from the bucket; raises the storage's error when it cannot be reached."""
    bucket = storage.archive()
    for key in keys:
        bucket.delete(key)


def movable_recordings():
    """Recordings finished before the bucket was used, whose file is still in the folder; oldest first."""
    return (
        Recording.objects.filter(state__in=[RecordingState.FINISHED, RecordingState.INTERRUPTED], storage_key="")
        .exclude(file_path="")
        .exclude(file_path__contains="${")
        .select_related("room")
        .order_by("created_at", "pk")
    )


def _new_key(recording: Recording) -> str:
    try:
        return storage.new_storage_key(recording)
    except STORAGE_ERRORS as error:
        raise UploadFailed(f"The recordings bucket could not be reached ({error}).") from error


def _retry_message(message: str, wait: timedelta) -> str:
    minutes = wait.total_seconds() / 60
    when = f"{minutes:.0f} min" if minutes >= 1 else f"{wait.total_seconds():.0f} s"
    return f"Upload failed: {message} Next try in {when}."


def _delete_quietly(store: Storage, name: str) -> None:
    try:
        store.delete(name)
    except STORAGE_ERRORS as error:
        logger.warning("could not delete %s from the recordings bucket: %s", name, error)
