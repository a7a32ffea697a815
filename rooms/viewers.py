"""Live viewer counts between two reads of OME's statistics, kept in the cache (Redis) by the
admission webhook.

OME asks the webhook when a player opens a stream (`opening`, counted +1 when allowed) and
tells it when a WebRTC player leaves (`closing`, −1). Only players the webhook admitted are
counted down, so a closing that follows a refused play changes nothing. LL-HLS players are only
counted in: OME 0.21 reports their session closing right after every playlist request (when the
request's connection closes) while they go on watching, and nothing when they leave, so the
webhook ignores LL-HLS closings (`rooms.admission`). The webhook never writes these counts to
the database: the reconcile loop reads them for all live rooms in one round trip (`counts`) and
stores them with `rooms.services.record_viewer_counts`, and clears the counters of rooms that
went offline (`reset`).

These counts are only an estimate that keeps the figure fresh: OME sends an `opening` but never a
`closing` for a session that never starts (a player retrying while a stream is listed but not
yet playable made 126 openings for one viewer against OME 0.19), and LL-HLS players who left
stay counted. OME's own statistics are the truth: whenever the reconcile loop reads a room's, it
shows that figure and sets the room's counter to it (`realign`), so the webhook then counts on
from OME's figure (an LL-HLS player that left and comes back shows again from the next read).

Each OME session counts once, however often OME asks about it. A session is the player's
connection for WebRTC (address and port: OME reports the same ones when it leaves). LL-HLS is
plain HTTP: a player's playlist requests and its closing can come over other connections, so
an LL-HLS session is a client address watching a room.

Every viewer's opening and closing is on the webhook's hot path: with Redis, an opening is one
round trip (a small script: remember the session if it is new, and only then count it) and a
closing two (keys made by the cache so `counts` reads them back). Other cache backends (local
development) take the portable path through Django's cache API.
"""

from __future__ import annotations

from django.core.cache import cache

from core.outage import cache_optional
from core.sharedredis import shared_client

# A viewer's admission is remembered at most this long; a player watching longer than that
# is simply not counted down when it leaves (the reset at the end of the live fixes the count).
VIEWER_MEMORY_SECONDS = 2 * 24 * 3600


_COUNT_KEY_PREFIX = "viewers:"


def _count_key(room_id: int) -> str:
    return f"{_COUNT_KEY_PREFIX}{room_id}"


def _connection_key(address: str, port: int) -> str:
    return f"viewer:{address}:{port}"


def _hls_key(public_id: str, address: str) -> str:
    return f"viewer-hls:{public_id}:{address}"


def _session_key(*, public_id: str, protocol: str, address: str, port: int) -> str:
    """What identifies one OME playback session; its value is the room's pk."""
    return _hls_key(public_id, address) if protocol == "llhls" else _connection_key(address, port)


# KEYS: the session, the room's count; ARGV: the room's pk, the session's memory in seconds.
_JOIN_SCRIPT = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return false
"""


def _redis():
    """A Redis client on the default cache's own server and database, or None for other backends."""
    return shared_client()


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


@cache_optional(default=False, what="viewer count")  # Redis down: the viewer is admitted, not counted
def joined(*, room_id: int, public_id: str, protocol: str, address: str, port: int) -> bool:
    """An admitted player opened the room's stream; counted once per session. True when new."""
    session_key = _session_key(public_id=public_id, protocol=protocol, address=address, port=port)
    redis = _redis()
    if redis is not None:
        counted = redis.register_script(_JOIN_SCRIPT)(
            keys=[_key(session_key), _key(_count_key(room_id))], args=[room_id, VIEWER_MEMORY_SECONDS]
        )
        return counted is not None
    if not cache.add(session_key, room_id, timeout=VIEWER_MEMORY_SECONDS):
        return False  # OME asked again about a session already counted
    _increment(_count_key(room_id), None)
    return True


# KEYS: the room's cached facts (rooms.facts, JSON), the session. ARGV: the rooms' count keys up
# to the pk, the session's memory in seconds, the private visibility, the live state, and the
# play's playback token as Python read it (its signature and expiry checked): its kind ("" for
# none, "member" or "link"), its room's pk, its member's user id or its link's generation; then
# the membership keys up to "<organization id>:<user id>" (rooms.facts).
# Answers the room's facts; 1 when the play was counted here (the room is live, and not private
# or the token passes every check the webhook makes), else 0; and, for a member's token of this
# private room, the cached membership ("true"/"false", absent when not cached). Nil when the
# facts are not cached.
_OPEN_SCRIPT = """
local raw = redis.call('GET', KEYS[1])
if not raw then
  return false
end
local room = cjson.decode(raw)
local pk = string.format('%d', room['pk'])
local member = false
if room['visibility'] == ARGV[3] then
  if ARGV[5] == '' or ARGV[6] ~= pk then
    return {raw, 0}
  end
  if ARGV[5] == 'link' then
    if string.format('%d', room['embed_link_generation']) ~= ARGV[7] then
      return {raw, 0}
    end
  else
    member = redis.call('GET', ARGV[8] .. string.format('%d', room['organization_id']) .. ':' .. ARGV[7])
    if member ~= 'true' then
      return {raw, 0, member}
    end
  end
end
if room['live_state'] ~= ARGV[4] then
  return {raw, 0, member}
end
if redis.call('SET', KEYS[2], pk, 'NX', 'EX', ARGV[2]) then
  redis.call('INCR', ARGV[1] .. pk)
end
return {raw, 1, member}
"""


def facts_and_join(
    *,
    facts_key: str,
    public_id: str,
    protocol: str,
    address: str,
    port: int,
    private: str,
    live: str,
    token: tuple[str, int, int] | None,
    member_key_prefix: str,
) -> tuple[str | None, bool, str | None]:
    """One round trip for a play's opening: the room's cached facts (JSON, None when not cached),
    whether the player was counted here, and the cached membership of a member's token (JSON,
    None when not asked or not cached). `token`: (kind, room pk, user id or link generation) of
    a playback token whose signature and expiry were checked. Redis only; raises its errors."""
    redis = _redis()
    session_key = _session_key(public_id=public_id, protocol=protocol, address=address, port=port)
    kind, token_room, subject = token or ("", 0, 0)
    answer = redis.register_script(_OPEN_SCRIPT)(
        keys=[cache.make_key(facts_key), _key(session_key)],
        args=[
            _key(_COUNT_KEY_PREFIX),
            VIEWER_MEMORY_SECONDS,
            private,
            live,
            kind,
            token_room,
            subject,
            member_key_prefix,
        ],
    )
    if not answer:
        return None, False, None
    raw, counted, *member = answer
    return raw, bool(counted), (member[0] if member else None)


@cache_optional(default=False, what="viewer count")
def left(*, public_id: str, protocol: str, address: str, port: int) -> bool:
    """A player closed; counts it down if it was admitted. True when it was."""
    session_key = _session_key(public_id=public_id, protocol=protocol, address=address, port=port)
    redis = _redis()
    if redis is not None:
        return _left_redis(redis, session_key=session_key)
    room_id = cache.get(session_key)
    if room_id is None or not cache.delete(session_key):
        return False
    _decrement(_count_key(room_id))
    return True


# KEYS: the session; ARGV: the rooms' count keys up to the room's pk. One round trip: a player's
# closing is as frequent as its opening.
_LEAVE_SCRIPT = """
local room = redis.call('GETDEL', KEYS[1])
if not room then
  return false
end
local count_key = ARGV[1] .. room
if redis.call('DECR', count_key) < 0 then
  redis.call('SET', count_key, 0)
end
return room
"""


def _left_redis(redis, *, session_key: str) -> bool:
    # Never admitted, or already counted out: nothing to count down.
    counted_out = redis.register_script(_LEAVE_SCRIPT)(keys=[_key(session_key)], args=[_key(_COUNT_KEY_PREFIX)])
    return counted_out is not None


# --- The reconcile loop's side --------------------------------------------------------------


def counts(room_ids: list[int]) -> dict[int, int]:
    """Current viewers of each room (0 when nobody watches), in one cache round trip."""
    keys = {_count_key(room_id): room_id for room_id in room_ids}
    found = cache.get_many(list(keys))
    return {room_id: max(0, int(found.get(key) or 0)) for key, room_id in keys.items()}


@cache_optional(default=None, what="viewer count reset")  # Redis down: counts are realigned from OME's statistics
def reset(room_ids: list[int]) -> None:
    """Forget the counts of rooms that are offline (players that leave later count nothing)."""
    if room_ids:
        cache.delete_many([_count_key(room_id) for room_id in room_ids])


def realign(figures: dict[int, int]) -> None:
    """Set rooms' counters to the viewers OME's statistics report (by room pk), in one round trip.

    The webhook counts on from there. Openings and closings that cross the read (the statistics
    taken before the counter is set) are off by those few players until the room's next read."""
    if figures:
        cache.set_many({_count_key(room_id): max(0, count) for room_id, count in figures.items()}, timeout=None)
