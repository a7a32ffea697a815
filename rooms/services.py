"""Everything that changes rooms: creation, settings, stream keys and live state."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from portal.errors import Conflict, LimitReached
from portal.models import Organization

from .models import Room, generate_room_id, generate_stream_key

EDITABLE_FIELDS = ("title", "description", "visibility", "allowed_embed_origins", "auto_record")


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
