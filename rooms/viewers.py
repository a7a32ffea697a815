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

Every viewer's opening and closing is on the webhook's hot path: with Redis, an opening is one
round trip and a closing two (pipelined commands on the cache's own connection pool, keys made
by the cache so `counts` reads them back). Other cache backends (local development) take the
portable path through Django's cache API.
"""

from __future__ import annotations

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

from portal.outage import cache_optional

# A viewer's admission is remembered at most this long; a player watching longer than that
# is simply not counted down when it leaves (the reset at the end of the live fixes the count).
VIEWER_MEMORY_SECONDS = 2 * 24 * 3600


def _count_key(room_id: int) -> str:
    return f"viewers:{room_id}"


def _connection_key(address: str, port: int) -> str:
    return f"viewer:{address}:{port}"


def _hls_key(public_id: str, address: str) -> str:
    return f"viewer-hls:{public_id}:{address}"


def _room_key(public_id: str) -> str:
    return f"viewer-room:{public_id}"


def _redis():
    """The raw Redis client behind the default cache, or None for other backends."""
    backend = caches["default"]
    return backend._cache.get_client(write=True) if isinstance(backend, RedisCache) else None


def _key(name: str) -> str:
    return cache.make_and_validate_key(name)


# --- Portable path (any cache backend) --------------------------------------------------------


def _increment(key: str, timeout: int | None) -> None:
    if cache.add(key, 1, timeout=timeout):
        return
    try:
        cache.incr(key)
    except ValueError:  # expired or reset between add() and incr()
        cache.add(key, 1, timeout=timeout)


def _decrement(key: str) -> bool:
    """Count one down, never below zero; False when there was nothing to count down."""
    try:
        value = cache.decr(key)
    except ValueError:
        return False
    if value < 0:
        cache.set(key, 0, timeout=None)
        return False
    return True


# --- The webhook's side ---------------------------------------------------------------------


@cache_optional(default=None, what="viewer count")  # Redis down: the viewer is admitted, not counted
def joined(*, room_id: int, public_id: str, protocol: str, address: str, port: int) -> None:
    """An admitted player opened the room's stream."""
    redis = _redis()
    if redis is not None:
        pipe = redis.pipeline(transaction=False)
        if protocol == "llhls":
            # The closing names the stream, not the room's pk: remember which room that is.
            pipe.set(_key(_room_key(public_id)), room_id, ex=VIEWER_MEMORY_SECONDS)
            hls_key = _key(_hls_key(public_id, address))
            pipe.incr(hls_key)
            pipe.expire(hls_key, VIEWER_MEMORY_SECONDS)
        else:
            pipe.set(_key(_connection_key(address, port)), room_id, ex=VIEWER_MEMORY_SECONDS)
        pipe.incr(_key(_count_key(room_id)))
        pipe.execute()
        return
    if protocol == "llhls":
        cache.set(_room_key(public_id), room_id, timeout=VIEWER_MEMORY_SECONDS)
        _increment(_hls_key(public_id, address), VIEWER_MEMORY_SECONDS)
    else:
        cache.set(_connection_key(address, port), room_id, timeout=VIEWER_MEMORY_SECONDS)
    _increment(_count_key(room_id), None)


@cache_optional(default=False, what="viewer count")
def left(*, public_id: str, protocol: str, address: str, port: int) -> bool:
    """A player closed; counts it down if it was admitted. True when it was."""
    redis = _redis()
    if redis is not None:
        return _left_redis(redis, public_id=public_id, protocol=protocol, address=address, port=port)
    if protocol == "llhls":
        room_id = cache.get(_room_key(public_id))
        if room_id is None or not _decrement(_hls_key(public_id, address)):
            return False
    else:
        key = _connection_key(address, port)
        room_id = cache.get(key)
        if room_id is None or not cache.delete(key):
            return False
    _decrement(_count_key(room_id))
    return True


def _left_redis(redis, *, public_id: str, protocol: str, address: str, port: int) -> bool:
    if protocol == "llhls":
        hls_key = _key(_hls_key(public_id, address))
        room_id, remaining = redis.pipeline(transaction=False).get(_key(_room_key(public_id))).decr(hls_key).execute()
        if remaining < 0:
            redis.set(hls_key, 0, ex=VIEWER_MEMORY_SECONDS)
        if room_id is None or remaining < 0:
            return False
    else:
        room_id = redis.getdel(_key(_connection_key(address, port)))
        if room_id is None:
            return False  # never admitted, or already counted out
    count_key = _key(_count_key(int(room_id)))
    if redis.decr(count_key) < 0:
        redis.set(count_key, 0)
    return True


# --- The reconcile loop's side --------------------------------------------------------------


def counts(room_ids: list[int]) -> dict[int, int]:
    """Current viewers of each room (0 when nobody watches), in one cache round trip."""
    keys = {_count_key(room_id): room_id for room_id in room_ids}
    found = cache.get_many(list(keys))
    return {room_id: max(0, int(found.get(key) or 0)) for key, room_id in keys.items()}


def reset(room_ids: list[int]) -> None:
    """Forget the counts of rooms that are offline (players that leave later count nothing)."""
    if room_ids:
        cache.delete_many([_count_key(room_id) for room_id in room_ids])
