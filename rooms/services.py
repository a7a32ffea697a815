"""Everything that changes rooms: creation, settings, stream keys and live state."""

from __future__ import annotations

from collections.abc import Collection

from django.db import IntegrityError, models, transaction
from django.db.models.functions import Greatest
from django.utils import timezone

from core.bulk import bulk_update_rows
from core.errors import Conflict, LimitReached
from organizations.models import Organization

from . import signals, viewers
from .models import LiveSession, LiveState, Quality, Room, generate_room_id, generate_stream_key

EDITABLE_FIELDS = ("title", "description", "visibility", "allowed_embed_origins", "auto_record", "quality")


class AdaptiveLimitReached(LimitReached):
    field = "quality"


def _check_adaptive_limit(*, organization: Organization, room: Room | None = None) -> None:
    """Adaptive delivery costs the operator CPU (transcoding): an organization has a number of such rooms."""
    # Two rooms switched at once must not both slip under the limit: one waits for the other.
    Organization.objects.select_for_update().filter(pk=organization.pk).exists()
    others = Room.objects.for_organization(organization).adaptive()
    if room is not None and room.pk:
        others = others.exclude(pk=room.pk)
    limit = organization.max_adaptive_rooms
    if others.count() >= limit:
        if not limit:
            raise AdaptiveLimitReached(
                f"{organization.name} cannot use adaptive delivery (transcoding costs server CPU): ask us to allow it."
            )
        raise AdaptiveLimitReached(
            f"{organization.name} may have {limit} adaptive room{'s' if limit != 1 else ''} "
            "(transcoding costs server CPU) and has as many already. "
            "Switch another room to Original, or ask us for a higher limit."
        )


def create_room(*, organization: Organization, created_by=None, public_id: str = "", **fields) -> Room:
    if Room.objects.for_organization(organization).count() >= organization.max_rooms:
        raise LimitReached(
            f"{organization.name} already has {organization.max_rooms} rooms, its limit. "
            "Delete a room or ask us for a higher limit."
        )
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"create_room() got unexpected fields {sorted(unknown)}")
    room = Room(organization=organization, created_by=created_by, **fields)
    room.set_stream_key(generate_stream_key())
    chosen = bool(public_id)
    for _attempt in range(5):
        room.public_id = public_id or generate_room_id()
        try:
            with transaction.atomic():
                if fields.get("quality") == Quality.ADAPTIVE:
                    _check_adaptive_limit(organization=organization)
                room.full_clean()
                room.save()
            return room
        except IntegrityError:
            if chosen:
                raise Conflict(f"The room id '{public_id}' is taken. Choose another one.") from None
    raise Conflict("Could not find a free room id; try again.")


def update_room(*, room: Room, **fields) -> Room:
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"update_room() got unexpected fields {sorted(unknown)}")
    with transaction.atomic():
        # Forms set the new values on the instance before this runs: what is stored says whether it changes.
        if (
            fields.get("quality") == Quality.ADAPTIVE
            and not Room.objects.filter(pk=room.pk, quality=Quality.ADAPTIVE).exists()
        ):
            _check_adaptive_limit(organization=room.organization, room=room)
        for name, value in fields.items():
            setattr(room, name, value)
        room.full_clean()
        room.save(update_fields=[*fields, "updated_at"])
    return room


def delete_room(*, room: Room) -> None:
    if room.is_live:
        raise Conflict("This room is live. Stop the stream before deleting the room.")
    room.delete()


def rotate_stream_key(*, room: Room) -> str:
    """Give the room a new stream key; the old one is refused from now on."""
    key = generate_stream_key()
    room.set_stream_key(key)
    room.save(update_fields=["stream_key", "stream_key_digest", "stream_key_rotated_at", "updated_at"])
    return key


# --- Live state -------------------------------------------------------------------------------
# OME is the fact, these functions record it. The admission webhook reports a publish as it opens
# and closes (through Celery: the webhook itself never writes); the reconcile loop confirms it
# against OME's stream list and repairs what a lost webhook left behind. All of them are
# idempotent, so the two sources can report the same event in any order.

# A browser-published stream only appears in OME a few seconds after the publisher connects;
# a room stays "starting" at most this long before the reconcile loop gives up on it.
STARTING_GRACE_SECONDS = 30


def go_live(*, room_id: int, protocol: str = "", started_by_id: int | None = None, confirmed: bool = False):
    """Open the room's live session (once) and move it to starting, or to live when OME lists it.

    Sends `room_went_live` when a session opens, so that destinations marked "start
    automatically" and auto-recording start (OME accepts both before the stream exists).
    """
    with transaction.atomic():
        room = Room.objects.select_for_update().get(pk=room_id)
        session = room.sessions.open().first()
        opened = session is None
        if opened:
            session = LiveSession.objects.create(room=room, protocol=protocol.lower(), started_by_id=started_by_id)
            room.live_since = session.started_at
            # Every session counts its viewers from zero, whatever a pass that raced the last
            # go-offline left in the webhook's counter.
            transaction.on_commit(lambda: viewers.reset([room_id]))
        elif protocol and not session.protocol:
            session.protocol = protocol.lower()
            session.save(update_fields=["protocol"])
        became_watchable = False
        if confirmed or room.live_state == LiveState.LIVE:
            became_watchable = room.live_state in (LiveState.OFFLINE, LiveState.STARTING)
            room.live_state = LiveState.LIVE
            room.stream_lost_at = None
        elif room.live_state == LiveState.RECONNECTING:
            # The encoder is back after OME lost the stream: the same session goes on, and the
            # grace period starts again so that a stream that takes seconds to appear has them.
            room.stream_lost_at = timezone.now()
        else:
            room.live_state = LiveState.STARTING
        room.ingest_protocol = protocol.lower() if protocol and not opened else session.protocol
        room.save(update_fields=["live_state", "live_since", "ingest_protocol", "stream_lost_at", "updated_at"])
        if opened:
            signals.room_went_live.send(sender=Room, room=room, session=session)
        if became_watchable:
            signals.room_is_live.send(sender=Room, room=room, session=session)
        return session


def confirm_playable(*, room_id: int) -> bool:
    """OME serves the starting (or reconnecting) room's stream: the room is live. False, and
    nothing changed, when the room is no longer waiting for its stream (it stopped meanwhile)."""
    with transaction.atomic():
        waiting = Room.objects.select_for_update().filter(
            pk=room_id, live_state__in=[LiveState.STARTING, LiveState.RECONNECTING]
        )
        if not waiting.exists():
            return False
        go_live(room_id=room_id, confirmed=True)
    return True


def stream_lost(*, room_id: int) -> bool:
    """OME no longer lists a live room's stream, and no closing said the publisher left.

    That is what an OME crash or restart looks like (OME forgets everything and sends no
    closing): the room waits for its encoder as "reconnecting" for OME_RECONNECT_GRACE_SECONDS
    with its session, pushes and recording intent kept, instead of going offline and stopping
    them. Viewers are gone with the old OME: their counts start again. True when it changed.
    """
    with transaction.atomic():
        room = Room.objects.select_for_update().get(pk=room_id)
        if room.live_state != LiveState.LIVE:
            return False
        room.live_state = LiveState.RECONNECTING
        room.stream_lost_at = timezone.now()
        room.viewer_count = 0
        room.save(update_fields=["live_state", "stream_lost_at", "viewer_count", "updated_at"])
        transaction.on_commit(lambda: viewers.reset([room_id]))
        return True


def go_offline(*, room_id: int):
    """Close the room's live session and take the room offline; a no-op when it is offline.

    A session that never got past "starting" (the publisher never sent media) is dropped rather
    than listed as a past session. Sends `room_went_offline` so that pushes and the recording stop.
    """
    with transaction.atomic():
        room = Room.objects.select_for_update().get(pk=room_id)
        session = room.sessions.open().first()
        if session is None and room.live_state == LiveState.OFFLINE:
            return None
        was_confirmed = room.live_state in (LiveState.LIVE, LiveState.RECONNECTING)
        if session is not None:
            # The peak stays what OME's statistics showed (record_viewer_counts): the room's
            # last figure may be the webhook's estimate.
            session.ended_at = timezone.now()
            if was_confirmed:
                session.save(update_fields=["ended_at"])
        room.live_state = LiveState.OFFLINE
        room.live_since = None
        room.ingest_protocol = ""
        room.viewer_count = 0
        room.stream_lost_at = None
        # The next stream is given its delivery by the transcode webhook; without one (OME fell back
        # to its local profiles) it is the original.
        room.delivered_quality = Quality.ORIGINAL
        room.save(
            update_fields=[
                "live_state",
                "live_since",
                "ingest_protocol",
                "viewer_count",
                "stream_lost_at",
                "delivered_quality",
                "updated_at",
            ]
        )
        signals.room_went_offline.send(sender=Room, room=room, session=session, was_live=was_confirmed)
        transaction.on_commit(lambda: viewers.reset([room_id]))  # players still leaving count nothing
        if session is not None and not was_confirmed:
            session.delete()
            session = None
        return session


def record_viewer_counts(*, counts: dict[int, int], measured: Collection[int] = ()) -> None:
    """Store current viewer counts of live rooms (by room pk) and raise their sessions' peaks.

    `measured` are the rooms whose figure is OME's own statistics; the others' come from the
    admission webhook, which can count players whose session never started. Only measured
    figures raise a session's peak, so a peak is never an inflated count.

    Two bulk updates whatever the number of rooms: the reconcile loop calls it on every tick.
    """
    if not counts:
        return
    rooms = list(Room.objects.filter(pk__in=counts).exclude(live_state=LiveState.OFFLINE).only("pk", "viewer_count"))
    changed = [room for room in rooms if room.viewer_count != counts[room.pk]]
    for room in changed:
        room.viewer_count = counts[room.pk]
    if changed:
        bulk_update_rows(changed, ["viewer_count"])
    peaks = {pk: counts[pk] for pk in measured if counts.get(pk)}
    if peaks:
        LiveSession.objects.open().filter(room_id__in=list(peaks)).update(
            peak_viewers=Greatest(
                "peak_viewers",
                models.Case(
                    *[models.When(room_id=pk, then=models.Value(count)) for pk, count in peaks.items()],
                    default=models.F("peak_viewers"),
                    output_field=models.PositiveIntegerField(),
                ),
            )
        )
