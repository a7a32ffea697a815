"""Where recordings live on the portal's side of the folder it shares with OME.

OME reports paths as it sees them (its recording folder is OME_RECORDINGS_DIR, e.g. /recordings
in its container); the portal mounts the same folder at RECORDINGS_DIR. Every path that comes
from OME or the database goes through `local_path`, which refuses anything outside
RECORDINGS_DIR — a path is data from another server, never trusted as is.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation


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
