"""Serving a file with HTTP Range support, so players can seek and downloads can resume."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

from django.core.exceptions import SuspiciousFileOperation
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse

from . import storage

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 64 * 1024


def _chunks(path: Path, start: int, length: int):
    with path.open("rb") as handle:
        handle.seek(start)
        while length > 0:
            data = handle.read(min(CHUNK, length))
            if not data:
                return
            length -= len(data)
            yield data


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `bytes=` range; None to send the whole file. ValueError if unsatisfiable."""
    match = _RANGE.match(header.strip())
    if not match:
        return None  # several ranges or another unit: answering with the whole file is allowed
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = int(last)
        if length == 0:
            raise ValueError("empty suffix range")
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise ValueError("range not satisfiable")
    return start, end


def serve_file(request, path: Path, *, download_name: str, as_attachment: bool) -> HttpResponse:
    size = path.stat().st_size
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    header = request.headers.get("Range", "")
    try:
        byte_range = parse_range(header, size) if header else None
    except ValueError:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    if byte_range is None:
        response = FileResponse(path.open("rb"), content_type=content_type)
        response["Content-Length"] = str(size)
    else:
        start, end = byte_range
        response = StreamingHttpResponse(_chunks(path, start, end - start + 1), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    disposition = "attachment" if as_attachment else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{download_name}"'
    response["Cache-Control"] = "private, max-age=3600"
    return response


def serve_recording(request, recording, *, as_attachment: bool) -> HttpResponse:
    """A recording's file (UI and API alike); 404 unless it is finished (or interrupted) and on disk."""
    if not recording.is_downloadable:
        raise Http404("This recording has no file yet.")
    try:
        path = storage.local_path(recording.file_path)
    except SuspiciousFileOperation:
        raise Http404("This recording's file is not in the recordings folder.") from None
    if not path.is_file():
        raise Http404("This recording's file is missing from the recordings folder.")
    download_name = f"{recording.room.public_id}-{recording.file_name}"
    return serve_file(request, path, download_name=download_name, as_attachment=as_attachment)
