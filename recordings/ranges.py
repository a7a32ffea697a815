"""Serving a recording's file after the permission check, so players can seek and downloads resume.

From the recordings folder the portal answers HTTP Range requests itself. From the bucket it
answers with a redirect to a presigned URL that expires after RECORDINGS_S3_URL_SECONDS: the
bucket serves the bytes (and the ranges) and names the download as the portal would.
"""

from __future__ import annotations

import mimetypes
import re

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect, StreamingHttpResponse

from . import storage

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 64 * 1024


def _chunks(handle, start: int, length: int):
    with handle:
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


def _disposition(download_name: str, *, as_attachment: bool) -> str:
    return f'{"attachment" if as_attachment else "inline"}; filename="{download_name}"'


def serve_file(request, handle, *, size: int, download_name: str, as_attachment: bool) -> HttpResponse:
    """An open file of `size` bytes, whole or the range the request asks for."""
    content_type = mimetypes.guess_type(download_name)[0] or "application/octet-stream"
    header = request.headers.get("Range", "")
    try:
        byte_range = parse_range(header, size) if header else None
    except ValueError:
        handle.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    if byte_range is None:
        response = FileResponse(handle, content_type=content_type)
        response["Content-Length"] = str(size)
    else:
        start, end = byte_range
        response = StreamingHttpResponse(_chunks(handle, start, end - start + 1), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = _disposition(download_name, as_attachment=as_attachment)
    response["Cache-Control"] = "private, max-age=3600"
    return response


def redirect_to_bucket(recording, *, download_name: str, as_attachment: bool) -> HttpResponse:
    """A short-lived presigned URL of the recording's object, with the portal's file name."""
    url = storage.archive().url(
        recording.storage_key,
        parameters={
            "ResponseContentDisposition": _disposition(download_name, as_attachment=as_attachment),
            "ResponseContentType": mimetypes.guess_type(download_name)[0] or "application/octet-stream",
        },
        expire=settings.RECORDINGS_S3_URL_SECONDS,
    )
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "private, no-store"  # the URL expires; ask the portal again
    return response


def serve_recording(request, recording, *, as_attachment: bool) -> HttpResponse:
    """A recording's file (UI and API alike); 404 unless it is finished (or interrupted) and stored."""
    if not recording.is_downloadable:
        raise Http404("This recording has no file yet.")
    download_name = f"{recording.room.public_id}-{recording.file_name}"
    if recording.storage_key and storage.uses_bucket():
        return redirect_to_bucket(recording, download_name=download_name, as_attachment=as_attachment)
    try:
        name = storage.folder_name(recording.file_path)
    except SuspiciousFileOperation:
        raise Http404("This recording's file is not in the recordings folder.") from None
    folder = storage.folder()
    try:
        size = folder.size(name)
        handle = folder.open(name, "rb")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        if storage.uses_bucket():  # finished before the bucket was used, and not moved yet
            raise Http404("This recording's file is being moved to the recordings storage.") from None
        raise Http404("This recording's file is missing from the recordings folder.") from None
    return serve_file(request, handle, size=size, download_name=download_name, as_attachment=as_attachment)
