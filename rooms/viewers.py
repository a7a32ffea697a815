"""Live viewer counts, kept in the cache (Redis) by the admission webhook.

OME asks the webhook when a player opens a stream (`opening`, counted +1 when allowed) and
tells it when the player leaves (`closing`, −1). Only players the webhook admitted are
counted down, so a closing that follows a refused play changes nothing. The webhook never
writes these counts to the database: the reconcile loop reads them for all live rooms in one
round trip (`counts`) and stores them with `rooms.services.record_viewer_counts`, and clears the
counters of rooms that went offline (`reset`).

WebRTC players are told apart by their connection (address and port: OME reports the same
ones when they leave). LL-HLS is plain HTTP: the closing can come from another connection of
the same player, so LL-HLS viewers are counted per client address and room instead.
"""

from __future__ import annotations

from django.core.cache import cache

# A viewer's admission is remembered at most this long; a player watching longer than that
# is simply not counted down when it leaves (the loop's reset at the end of the live fixes it).
VIEWER_MEMORY_SECONDS = 2 * 24 * 3600


def _count_key(room_id: int) -> str:
    return f"viewers:{room_id}"


def _connection_key(address: str, port: int) -> str:
    return f"viewer:{address}:{port}"


def _hls_key(public_id: str, address: str) -> str:
    return f"viewer-hls:{public_id}:{address}"


def _room_key(public_id: str) -> str:
    return f"viewer-room:{public_id}"


def _increment(key: str, timeout: int | None) -> int:
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired or reset between add() and incr()
        cache.add(key, 1, timeout=timeout)
        return 1


def _decrement(key: str) -> int | None:
    """Count one down, never below zero; None when there was nothing to count down."""
    try:
        value = cache.decr(key)
    except ValueError:
        return None
    if value < 0:
        cache.set(key, 0, timeout=None)
        return None
    return value


def joined(*, room_id: int, public_id: str, protocol: str, address: str, port: int) -> None:
    """An admitted player opened the room's stream."""
    if protocol == "llhls":
        # The closing names the stream, not the room's pk: remember which room that is.
        cache.set(_room_key(public_id), room_id, timeout=VIEWER_MEMORY_SECONDS)
        _increment(_hls_key(public_id, address), VIEWER_MEMORY_SECONDS)
    else:
        cache.set(_connection_key(address, port), room_id, timeout=VIEWER_MEMORY_SECONDS)
    _increment(_count_key(room_id), None)


def left(*, public_id: str, protocol: str, address: str, port: int) -> bool:
    """A player closed; counts it down if it was admitted. True when it was."""
    if protocol == "llhls":
        room_id = cache.get(_room_key(public_id))
        if room_id is None or _decrement(_hls_key(public_id, address)) is None:
            return False
    else:
        key = _connection_key(address, port)
        room_id = cache.get(key)
        if room_id is None or not cache.delete(key):
            return False
    _decrement(_count_key(room_id))
    return True


def counts(room_ids: list[int]) -> dict[int, int]:
    """Current viewers of each room (0 when nobody watches), in one cache round trip."""
    keys = {_count_key(room_id): room_id for room_id in room_ids}
    found = cache.get_many(list(keys))
    return {room_id: max(0, int(found.get(key) or 0)) for key, room_id in keys.items()}


def reset(room_ids: list[int]) -> None:
    """Forget the counts of rooms that are offline (players that leave later count nothing)."""
    if room_ids:
        cache.delete_many([_count_key(room_id) for room_id in room_ids])
