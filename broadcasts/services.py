"""What people ask of destinations and pushes (views, the API, admin actions and the reconcile
loop call these). What OME answers is recorded by broadcasts.outcomes."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from core.errors import Conflict, LimitReached, NotAllowed, PortalError
from core.queue import enqueue_on_commit

from .models import (
    PLATFORM_SERVERS,
    Destination,
    Platform,
    Push,
    PushState,
    ome_protocol,
    push_stream_name,
    validate_destination_url,
)
from .tasks import start_push_task, stop_push_task

DESTINATION_FIELDS = ("name", "platform", "url", "stream_key", "enabled", "auto_start")


# --- Destinations ------------------------------------------------------------------------------


def _apply_platform(destination: Destination) -> None:
    if destination.platform != Platform.CUSTOM:
        destination.url = PLATFORM_SERVERS[Platform(destination.platform)]
    destination.url = destination.url.strip()


def _check_key(destination: Destination) -> None:
    if destination.platform != Platform.CUSTOM and not destination.stream_key:
        raise NotAllowed(f"{destination.get_platform_display()} needs the stream key from its live dashboard.")


def add_destination(*, room, **fields) -> Destination:
    unknown = set(fields) - set(DESTINATION_FIELDS)
    if unknown:
        raise TypeError(f"add_destination() got unexpected fields {sorted(unknown)}")
    limit = room.organization.max_destinations_per_room
    if Destination.objects.filter(room=room).count() >= limit:
        raise LimitReached(f"A room can have at most {limit} destinations. Delete one you no longer use.")
    destination = Destination(room=room, **fields)
    destination.stream_key = (destination.stream_key or "").strip()
    _apply_platform(destination)
    _check_key(destination)
    destination.full_clean()
    destination.save()
    return destination


def update_destination(*, destination: Destination, **fields) -> Destination:
    """Change a destination. An empty stream key keeps the current one (it is never shown again)."""
    unknown = set(fields) - set(DESTINATION_FIELDS)
    if unknown:
        raise TypeError(f"update_destination() got unexpected fields {sorted(unknown)}")
    if not (fields.get("stream_key") or "").strip():
        fields.pop("stream_key", None)
    for name, value in fields.items():
        setattr(destination, name, value.strip() if name == "stream_key" else value)
    _apply_platform(destination)
    _check_key(destination)
    destination.full_clean()
    destination.save()
    return destination


def delete_destination(*, destination: Destination) -> None:
    if destination.pushes.active().exists():
        raise Conflict("This destination is being restreamed to. Stop the restream before deleting it.")
    destination.delete()


# --- Pushes ------------------------------------------------------------------------------------


def _check_can_push(room) -> None:
    if room.organization.is_suspended:
        raise NotAllowed(f"{room.organization.name} is suspended: restreaming is not possible.")
    if not room.is_enabled:
        raise NotAllowed("This room is disabled by the operators: restreaming is not possible.")


def start_push(*, destination: Destination, requested_by=None) -> Push:
    """Ask for a restream to `destination`: stored first, then OME is told by a task.

    Works before the room is live too: OME holds the push until the stream appears.
    """
    room = destination.room
    _check_can_push(room)
    if not destination.enabled:
        raise NotAllowed(f"“{destination.name}” is disabled. Enable it to restream to it.")
    push = Push(
        room=room,
        destination=destination,
        stream_name=destination.stream_name,
        protocol=ome_protocol(destination.url),
        url=destination.url,
        stream_key=destination.stream_key,
        requested_by=requested_by,
    )
    return _save_new_push(push, conflict=f"“{destination.name}” is already being restreamed to.")


def start_custom_push(
    *,
    room,
    url: str,
    stream_key: str = "",
    protocol: str = "",
    platform: str = Platform.CUSTOM,
    external_id: str = "",
    requested_by=None,
) -> Push:
    """A push to a URL given directly (an API client), without a saved destination.

    `external_id` is the client's own id for it, unique among the organization's active pushes.
    """
    _check_can_push(room)
    validate_destination_url(url)
    if (
        external_id
        and Push.objects.for_organization(room.organization).active().filter(external_id=external_id).exists()
    ):
        raise Conflict(f"A push with the id '{external_id}' is already running.")
    push = Push(
        room=room,
        external_id=external_id,
        stream_name=push_stream_name(room.public_id, platform),
        protocol=protocol or ome_protocol(url),
        url=url,
        stream_key=stream_key,
        requested_by=requested_by,
    )
    return _save_new_push(push, conflict="This push is already running.")


def _save_new_push(push: Push, *, conflict: str) -> Push:
    try:
        with transaction.atomic():
            push.save()
    except IntegrityError:
        raise Conflict(conflict) from None
    enqueue_on_commit(start_push_task, push.pk)
    return push


def stop_push(*, push: Push) -> Push:
    """Ask for a restream to end; a push that already ended is left as it is."""
    if not push.can_stop:
        return push
    push.state = PushState.STOPPING
    push.save(update_fields=["state", "updated_at"])
    enqueue_on_commit(stop_push_task, push.pk)
    return push


def retry_push(*, push: Push, requested_by=None) -> Push:
    """Start a failed restream again, as a new push (OME may still hold the failed one)."""
    if push.state != PushState.ERROR:
        raise Conflict("Only a failed restream can be retried.")
    if push.destination is not None:
        return start_push(destination=push.destination, requested_by=requested_by)
    try:
        return start_custom_push(
            room=push.room,
            url=push.url,
            stream_key=push.stream_key,
            protocol=push.protocol,
            external_id=push.external_id,
            requested_by=requested_by,
        )
    except ValidationError as refused:  # its server is no longer acceptable (a private address)
        raise PortalError(" ".join(refused.messages)) from None


def start_auto_pushes(*, room) -> list[Push]:
    """Start every enabled "start automatically" destination of a room that is not already running."""
    started = []
    for destination in room.destinations.filter(enabled=True, auto_start=True).exclude(
        pushes__state__in=[PushState.REQUESTED, PushState.STARTING, PushState.PUSHING, PushState.STOPPING]
    ):
        try:
            started.append(start_push(destination=destination))
        except (Conflict, NotAllowed):
            continue
    return started


def stop_room_pushes(*, room) -> None:
    for push in Push.objects.filter(room=room).active():
        stop_push(push=push)
