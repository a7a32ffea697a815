"""Reads about recordings for the room page."""

from __future__ import annotations

from .models import Recording
from .services import storage_used_bytes

PANEL_LIMIT = 20


def room_recordings(*, room, limit: int = PANEL_LIMIT) -> list[Recording]:
    return list(Recording.objects.filter(room=room).order_by("-created_at", "-pk")[:limit])


def panel_context(*, room, request) -> dict:
    recordings = room_recordings(room=room)
    active = next((recording for recording in recordings if recording.is_active), None)
    organization = room.organization
    return {
        "recordings": recordings,
        "active_recording": active,
        "storage_used_bytes": storage_used_bytes(organization),
        "storage_limit_bytes": organization.recording_storage_limit_mb * 1_000_000,
    }
