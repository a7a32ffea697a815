"""Reads about rooms: what members and viewers may see and what the pages need."""

from __future__ import annotations

from . import endpoints, panels
from .models import LiveSession, Room, Visibility


def is_member(*, room: Room, user) -> bool:
    return user.is_authenticated and room.organization.memberships.filter(user=user).exists()


def can_watch(*, room: Room, request) -> bool:
    if room.visibility != Visibility.PRIVATE:
        return True
    return is_member(room=room, user=request.user)


def room_status(*, room: Room, public: bool = False) -> dict:
    status = {
        "room": room.public_id,
        "state": room.live_state,
        "live": room.is_live,
        "viewers": room.viewer_count,
        "since": room.live_since.isoformat() if room.live_since else None,
    }
    if not public:
        status["protocol"] = room.ingest_protocol
    return status


def player_sources(*, room: Room, request) -> dict:
    return {
        "webrtcUrl": endpoints.webrtc_play_url(room.public_id),
        "llhlsUrl": endpoints.llhls_play_url(room.public_id),
    }


def publisher_extras(*, room: Room, request) -> dict:
    return {}


def embed_snippet(embed_url: str) -> str:
    return (
        f'<iframe src="{embed_url}" width="640" height="360" '
        'allow="autoplay; fullscreen; picture-in-picture" allowfullscreen style="border:0"></iframe>'
    )


def recent_sessions(*, room: Room, limit: int = 10):
    return LiveSession.objects.filter(room=room).order_by("-started_at")[:limit]


def room_page_extras(*, room: Room, request) -> dict:
    return {
        "sessions": recent_sessions(room=room),
        "panels": panels.render_panels(room=room, request=request),
    }
