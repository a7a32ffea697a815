"""Live thumbnails, served by the portal with the room's access rules.

OME's Thumbnail publisher (`/APP/STREAM/thumb.jpg`, fed by the image encode every transcode
answer carries, see rooms.quality) asks no admission webhook: anyone who reaches it gets any
stream's thumbnail, private rooms included. So the stack never routes it to the outside; the
portal fetches it over the internal network (OME_THUMBNAIL_URL) and hands it out at
`/watch/ID/thumbnail.jpg` to whoever may watch the room. Each room's image is kept in the cache
for THUMBNAIL_CACHE_SECONDS, so however many pages show it, OME is asked at most once a period.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import requests
from django.conf import settings
from django.core.cache import cache

from core.outage import CACHE_ERRORS, warn_once_in_a_while

from .models import Room

logger = logging.getLogger(__name__)

MAX_BYTES = 2 * 1024 * 1024
JPEG_START = b"\xff\xd8"
_session = requests.Session()


def ome_thumbnail_url(room: Room) -> str:
    """Where OME serves the room's thumbnail (internal network only)."""
    base = settings.OME_THUMBNAIL_URL.rstrip("/")
    return f"{base}/{quote(settings.OME_APP, safe='')}/{quote(room.public_id, safe='')}/thumb.jpg"


def _fetch(room: Room) -> bytes | None:
    try:
        response = _session.get(ome_thumbnail_url(room), timeout=(1.0, 2.0), stream=True)
    except requests.RequestException as error:
        warn_once_in_a_while("thumbnails", error, unavailable="OME's thumbnail publisher cannot be reached")
        return None
    with response:
        if response.status_code != 200 or not response.headers.get("Content-Type", "").startswith("image/jpeg"):
            return None  # 404 before the stream started, or for a stream OME does not have
        try:
            image = response.raw.read(MAX_BYTES + 1, decode_content=True)
        except (requests.RequestException, OSError):
            return None
    return image if image.startswith(JPEG_START) and len(image) <= MAX_BYTES else None


def live_thumbnail(room: Room) -> bytes | None:
    """The room's current thumbnail (a JPEG), or None when OME has none (yet)."""
    key = f"room-thumbnail:{room.pk}"
    try:
        cached = cache.get(key)
    except CACHE_ERRORS as error:
        warn_once_in_a_while("thumbnail cache", error)
        return _fetch(room)
    if cached is not None:
        return cached or None
    image = _fetch(room)
    try:
        cache.set(key, image or b"", settings.THUMBNAIL_CACHE_SECONDS)  # "none yet" is kept as briefly
    except CACHE_ERRORS as error:
        warn_once_in_a_while("thumbnail cache", error)
    return image
