"""What the viewer's hot paths need to know about a room, served from the shared cache.

OME asks the admission webhook once per viewer connection and every viewer loads a player
page, so these paths must not ask PostgreSQL each time. The few facts they read — a room's id,
visibility, embed-link generation, live state, whether it is enabled and its organization
suspended, which room a stream-key digest belongs to, and whether a user is still an active
member of an organization — are kept in the cache (Redis in production, shared by every web
process) and dropped at once by every change that could alter an answer:

The rendered player pages of public and unlisted rooms (rooms.pages) are dropped with the
room's facts.

- saving or deleting a room (key rotation, visibility, disabling, live state, allowed origins:
  everything goes through `Room.save()` or `delete()`), and withdrawing its embed links
  (a queryset update, which calls `forget_room` itself);
- saving an organization (suspension drops the facts of all its rooms);
- saving or deleting a membership, and saving a user (deactivation).

Each is dropped right away and again when the transaction commits, so a request that read the
old row just before the commit cannot leave a stale copy behind. FACTS_SECONDS bounds what an
invalidation lost to a cache outage could leave (the cache was away at the moment of the
change, and back before the entry expired). Without the cache every lookup falls back to the
database, as before.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from django.core.cache import cache
from django.db import transaction

from core.outage import CACHE_ERRORS, warn_once_in_a_while
from core.sharedredis import shared_client
from organizations.models import Membership

from . import viewers
from .models import LiveState, Room, Visibility

FACTS_SECONDS = 60
_UNKNOWN = "-"  # a stream-key digest that belongs to no room (refused encoders retry in a loop)


@dataclass(frozen=True)
class RoomFacts:
    pk: int
    public_id: str
    organization_id: int
    visibility: str
    embed_link_generation: int
    live_state: str
    is_enabled: bool
    organization_suspended: bool
    stream_key_digest: str


def _room_key(public_id: str) -> str:
    return f"room-facts:{public_id}"


def _digest_key(digest: str) -> str:
    return f"room-of-key:{digest}"


def pages_key(public_id: str) -> str:
    """Where rooms.pages keeps the room's rendered player pages: dropped with its facts."""
    return f"player-pages:{public_id}"


_MEMBER_KEY_PREFIX = "active-member:"


def _member_key(organization_id: int, user_id: int) -> str:
    return f"{_MEMBER_KEY_PREFIX}{organization_id}:{user_id}"


# On Redis, through one client per process (core.sharedredis: Django's cache builds a client per
# operation, which cost more than the round trip) and as JSON; on other caches, Django's cache.


def _cache_get(key: str):
    try:
        client = shared_client()
        if client is None:
            return cache.get(key)
        raw = client.get(cache.make_key(key))
        return None if raw is None else json.loads(raw)
    except CACHE_ERRORS as error:
        warn_once_in_a_while("room facts", error)
        return None


def _cache_set(key: str, value) -> None:
    try:
        client = shared_client()
        if client is None:
            cache.set(key, value, timeout=FACTS_SECONDS)
        else:
            client.set(cache.make_key(key), json.dumps(value), ex=FACTS_SECONDS)
    except CACHE_ERRORS as error:
        warn_once_in_a_while("room facts", error)


def _facts_rooms():
    return Room.objects.select_related("organization").only(
        "pk",
        "public_id",
        "organization_id",
        "visibility",
        "embed_link_generation",
        "live_state",
        "is_enabled",
        "stream_key_digest",
        "organization__is_suspended",
    )


def _facts_of(room: Room) -> RoomFacts:
    return RoomFacts(
        pk=room.pk,
        public_id=room.public_id,
        organization_id=room.organization_id,
        visibility=room.visibility,
        embed_link_generation=room.embed_link_generation,
        live_state=room.live_state,
        is_enabled=room.is_enabled,
        organization_suspended=room.organization.is_suspended,
        stream_key_digest=room.stream_key_digest,
    )


def room(public_id: str) -> RoomFacts | None:
    """The facts of the room with this id, or None when there is none (one query on a miss)."""
    cached = _cache_get(_room_key(public_id))
    if cached is not None:
        return RoomFacts(**cached)
    found = _facts_rooms().filter(public_id=public_id).first()
    if found is None:
        return None
    facts = _facts_of(found)
    _cache_set(_room_key(public_id), asdict(facts))
    return facts


@dataclass(frozen=True)
class Play:
    """What the webhook needs to decide a play: the room's facts (None: no such room), whether
    the player was counted already and, for a member's playback token, whether the member is
    still active (None: not known yet, ask `is_active_member`)."""

    room: RoomFacts | None
    counted: bool = False
    active_member: bool | None = None


def play(public_id: str, *, protocol: str, address: str, port: int, token: tuple[str, int, int] | None = None) -> Play:
    """A player's opening in one Redis round trip when the room's facts are cached (and, for a
    member's token, the membership): the webhook's most frequent request. `token` is the play's
    playback token, already read (signature and expiry checked), as ("member", room pk, user id)
    or ("link", room pk, link generation). Counted False: the caller counts the player itself
    once admitted (rooms.viewers.joined)."""
    client = shared_client()
    if client is not None:
        try:
            raw, counted, member = viewers.facts_and_join(
                facts_key=_room_key(public_id),
                public_id=public_id,
                protocol=protocol,
                address=address,
                port=port,
                private=Visibility.PRIVATE,
                live=LiveState.LIVE,
                token=token,
                member_key_prefix=cache.make_key(_MEMBER_KEY_PREFIX),
            )
        except CACHE_ERRORS as error:
            warn_once_in_a_while("room facts", error)
            raw, counted, member = None, False, None
        if raw is not None:
            return Play(RoomFacts(**json.loads(raw)), counted, None if member is None else json.loads(member))
    return Play(room(public_id))


def room_of_key(digest: str) -> RoomFacts | None:
    """The facts of the room whose stream key has this digest, or None (one query on a miss)."""
    public_id = _cache_get(_digest_key(digest))
    if public_id == _UNKNOWN:
        return None
    if public_id is not None:
        facts = room(public_id)
        # A digest entry left from before a rotation points at a room whose key is now another.
        if facts is not None and facts.stream_key_digest == digest:
            return facts
    found = _facts_rooms().filter(stream_key_digest=digest).first()
    if found is None:
        _cache_set(_digest_key(digest), _UNKNOWN)
        return None
    facts = _facts_of(found)
    _cache_set(_room_key(found.public_id), asdict(facts))
    _cache_set(_digest_key(digest), found.public_id)
    return facts


def is_active_member(*, user_id: int, organization_id: int) -> bool:
    """Whether the user is an active member of the organization (one query on a miss)."""
    key = _member_key(organization_id, user_id)
    cached = _cache_get(key)
    if cached is not None:
        return cached
    member = Membership.objects.filter(user_id=user_id, organization_id=organization_id, user__is_active=True).exists()
    _cache_set(key, member)
    return member


# --- Invalidation ----------------------------------------------------------------------------


def _forget(keys: list[str]) -> None:
    def drop() -> None:
        try:
            cache.delete_many(keys)  # a key is a key, whichever client wrote it
        except CACHE_ERRORS as error:
            warn_once_in_a_while("room facts", error)

    drop()
    transaction.on_commit(drop)


def forget_room(*, public_id: str, stream_key_digest: str = "") -> None:
    """Drop what is cached about a room (and about its stream key's digest, new or unknown)."""
    # With the room's state, whether OME was last seen serving its stream (rooms.playability).
    keys = [_room_key(public_id), pages_key(public_id), f"playable:{public_id}"]
    if stream_key_digest:
        keys.append(_digest_key(stream_key_digest))
    _forget(keys)


def forget_rooms(queryset) -> None:
    """Drop the facts of every room in `queryset` (after a queryset update, which sends no signal)."""
    public_ids = list(queryset.values_list("public_id", flat=True))
    _forget([_room_key(public_id) for public_id in public_ids] + [pages_key(public_id) for public_id in public_ids])


def forget_organization(*, organization_id: int) -> None:
    public_ids = Room.objects.filter(organization_id=organization_id).values_list("public_id", flat=True)
    _forget([_room_key(public_id) for public_id in public_ids])


def forget_membership(*, user_id: int, organization_id: int) -> None:
    _forget([_member_key(organization_id, user_id)])


def forget_user(*, user_id: int) -> None:
    organization_ids = Membership.objects.filter(user_id=user_id).values_list("organization_id", flat=True)
    _forget([_member_key(organization_id, user_id) for organization_id in organization_ids])


def _room_changed(sender, instance: Room, **kwargs) -> None:
    forget_room(public_id=instance.public_id, stream_key_digest=instance.stream_key_digest)


def _organization_changed(sender, instance, **kwargs) -> None:
    forget_organization(organization_id=instance.pk)


def _membership_changed(sender, instance: Membership, **kwargs) -> None:
    forget_membership(user_id=instance.user_id, organization_id=instance.organization_id)


def _user_changed(sender, instance, **kwargs) -> None:
    forget_user(user_id=instance.pk)


def connect() -> None:
    """Drop the facts on every save and delete that could change them (called once, at start)."""
    from django.contrib.auth import get_user_model
    from django.db.models.signals import post_delete, post_save

    from organizations.models import Organization

    for signal in (post_save, post_delete):
        signal.connect(_room_changed, sender=Room, dispatch_uid=f"room-facts-room-{signal}")
        signal.connect(_membership_changed, sender=Membership, dispatch_uid=f"room-facts-membership-{signal}")
    post_save.connect(_organization_changed, sender=Organization, dispatch_uid="room-facts-organization")
    post_save.connect(_user_changed, sender=get_user_model(), dispatch_uid="room-facts-user")
