"""Reads about restreaming for the room page and its live status endpoint."""

from __future__ import annotations

from django.db.models import OuterRef, Subquery

from .models import Destination, Push


def destinations_with_latest_push(*, room) -> list[Destination]:
    """The room's destinations, each with `.latest_push` (or None): two queries for any number."""
    latest = Push.objects.filter(destination=OuterRef("pk")).order_by("-created_at", "-pk").values("pk")[:1]
    destinations = list(Destination.objects.filter(room=room).annotate(latest_push_id=Subquery(latest)))
    pushes = Push.objects.in_bulk([d.latest_push_id for d in destinations if d.latest_push_id])
    for destination in destinations:
        destination.latest_push = pushes.get(destination.latest_push_id)
    return destinations


def other_active_pushes(*, room) -> list[Push]:
    """Pushes started without a saved destination (the original stack's API) that are still active."""
    return list(Push.objects.filter(room=room, destination__isnull=True).active())


def push_status(push: Push | None) -> dict:
    if push is None:
        return {"state": "idle", "push": None}
    return {
        "state": push.state,
        "push": push.pk,
        "error": push.error_message if push.state == "error" else "",
        "sent_bytes": push.sent_bytes,
        "sent_seconds": push.sent_time_ms // 1000,
        "can_stop": push.can_stop,
    }


def restream_status(*, room) -> dict:
    return {
        "destinations": [
            {"id": destination.pk, "enabled": destination.enabled, **push_status(destination.latest_push)}
            for destination in destinations_with_latest_push(room=room)
        ],
        "other_pushes": [{"target": push.target, **push_status(push)} for push in other_active_pushes(room=room)],
    }


def panel_context(*, room, request) -> dict:
    return {
        "destinations": destinations_with_latest_push(room=room),
        "other_pushes": other_active_pushes(room=room),
    }
