"""Where recordings live: OME's folder, and the recordings storage.

OME writes into a folder it shares with the portal: OME_RECORDINGS_DIR as OME sees it (e.g.
/recordings in its container), mounted at RECORDINGS_DIR here. Every path that comes from OME or
the database goes through `local_path`, which refuses anything outside RECORDINGS_DIR — a path is
data from another server, never trusted as is.

Finished recordings are kept in Django's `storages["recordings"]`, chosen by RECORDINGS_STORAGE:
`RecordingsFolder` (local: that same folder, served by the portal) or
`recordings.bucket.RecordingsBucket` (s3: an S3-compatible bucket; recordings.archive moves each
finished file there and members get presigned URLs). With the bucket, only the recordings worker
runs next to the folder (`uses_bucket()`: the folder's work goes to its queue).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import FileSystemStorage, Storage, storages


def recordings_root() -> Path:
    return Path(settings.RECORDINGS_DIR).resolve()


def local_path(ome_path: str) -> Path:
    prefix = settings.OME_RECORDINGS_DIR.rstrip("/")
    relative = ome_path
    if prefix and (ome_path == prefix or ome_path.startswith(prefix + "/")):
        relative = ome_path[len(prefix) :]
    root = recordings_root()
    path = (root / relative.lstrip("/")).resolve()
    if path != root and root not in path.parents:
        raise SuspiciousFileOperation(f"{ome_path!r} is outside the recordings folder")
    return path


def ome_path(*parts: str) -> str:
    """A path as OME must be given it (startRecord's filePath/infoPath)."""
    prefix = settings.OME_RECORDINGS_DIR.rstrip("/")
    return "/".join([prefix, *parts])


def folder_name(ome_file_path: str) -> str:
    """The name of one of OME's files in `folder()`; SuspiciousFileOperation outside the folder."""
    return local_path(ome_file_path).relative_to(recordings_root()).as_posix()


class RecordingsFolder(FileSystemStorage):
    """OME's recordings folder (RECORDINGS_DIR) through Django's storage API."""

    # Read on each use rather than once: tests and `make run` point RECORDINGS_DIR elsewhere.
    @property
    def base_location(self):
        return str(settings.RECORDINGS_DIR)

    @property
    def location(self):
        return str(recordings_root())


def folder() -> RecordingsFolder:
    return RecordingsFolder()


def uses_bucket() -> bool:
    """RECORDINGS_STORAGE=s3: finished files go into the bucket, and the folder is only on the
    recordings worker's node (web and the other workers may run anywhere)."""
    return settings.RECORDINGS_STORAGE == "s3"


def archive() -> Storage:
    """The recordings storage: the folder, or the bucket."""
    return storages["recordings"]


def _key_prefix(recording) -> str:
    room = recording.room
    return f"org-{room.organization_id}/{room.public_id}/{recording.ome_id}/"


def new_storage_key(recording) -> str:
    """Where a recording's file goes in the bucket: by organization, room and recording for the
    operators, under a random part nobody can derive from ids or names they know.

    An object an interrupted upload left for this recording is reused (and overwritten), so that
    trying again leaves nothing behind in the bucket.
    """
    prefix = _key_prefix(recording)
    leftovers, _ = archive().listdir(prefix)
    random_part = sorted(leftovers)[0] if leftovers else secrets.token_hex(16)
    return f"{prefix}{random_part}/{recording.file_name}"
