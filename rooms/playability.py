"""Telling waiting players the moment a starting room becomes playable.

OME lists a browser-published stream as soon as it is created but serves it only a moment later
(about 1.2 s on 0.21), and its REST API does not say which; the reconcile loop, every
RECONCILE_SECONDS, would mark the room live late or too early. So while players wait on a room
that is starting (or reconnecting), the portal asks OME itself, the way a player would: it
requests the room's LL-HLS playlist over the internal network (OME_LLHLS_INTERNAL_URL), which
OME answers 404 until it can serve the stream. One
request per room every PROBE_SECONDS across all web processes (a short lock in the cache), made
by one of the waiting status requests; when OME serves it, the room goes live (the same service
the reconcile loop calls), its facts are dropped, and every waiting status request answers.

The probe presents a playback token of its own (an embed-link token for a link that nobody
holds, valid for a minute), so private rooms are probed too. While a room is starting the
admission webhook counts no LL-HLS player, so the probe is not counted; if the reconcile loop
marked the room live first, the probe counts as one LL-HLS viewer (one per web host's address)
until the next statistics read of the room sets the count to OME's figure.
"""

from __future__ import annotations

import logging
import threading
import time

import requests
from django.conf import settings
from django.core.cache import cache

from core.outage import CACHE_ERRORS

from . import credentials, endpoints, facts, services
from .models import LiveState, Visibility

logger = logging.getLogger(__name__)

PROBE_SECONDS = 0.1
PROBE_TIMEOUT_SECONDS = 1.0
CHECK_SECONDS = 0.03  # how often a waiting status request looks at the room's state (one cache read)
WAITING_STATES = {LiveState.STARTING, LiveState.RECONNECTING}

_session = requests.Session()
# Two pools of waiting requests per process: players of rooms that are starting or reconnecting
# (their wait is short, and one of them probes OME for everybody), and players of offline rooms
# (whose wait may be long, and whose tab may have been closed meanwhile: a request cannot tell).
# The newest request takes the place of the oldest, which answers (unchanged) and is asked again
# by its player at once if it is still there: a closed tab's request does not hold a place for the
# rest of its wait.
_pools: dict[bool, tuple[threading.BoundedSemaphore, threading.Event]] = {}
_pools_lock = threading.Lock()
YIELD_SECONDS = 1.0


def _waiter_slots(*, starting: bool) -> tuple[threading.BoundedSemaphore, threading.Event]:
    with _pools_lock:
        if starting not in _pools:
            _pools[starting] = (threading.BoundedSemaphore(max(1, settings.WATCH_STATUS_WAITERS)), threading.Event())
        return _pools[starting]


def _probe_url(room: facts.RoomFacts) -> str:
    token = None
    if room.visibility == Visibility.PRIVATE:
        link = credentials.EmbedLink(room.pk, room.embed_link_generation, int(time.time()) + 60)
        token = credentials.mint_playback_token(room_id=room.pk, link=link)
    return endpoints.llhls_play_url(room.public_id, token, internal=True)


SERVED, NOT_YET, UNKNOWN = "served", "not yet", "unknown"


def _served_key(public_id: str) -> str:
    return f"playable:{public_id}"


def probe(room: facts.RoomFacts) -> str:
    """Whether OME serves the room's stream now: SERVED, NOT_YET, or UNKNOWN (OME could not be
    asked). Asked at most once per PROBE_SECONDS per room; meanwhile the last answer holds."""
    try:
        if cache.get(_served_key(room.public_id)):
            return SERVED
        if not cache.add(f"playable-probe:{room.public_id}", 1, timeout=1):
            return NOT_YET
    except CACHE_ERRORS:
        return UNKNOWN
    started = time.monotonic()
    try:
        response = _session.get(_probe_url(room), timeout=PROBE_TIMEOUT_SECONDS)
        answer = SERVED if response.status_code == 200 else NOT_YET
    except requests.RequestException as error:
        logger.info("could not ask OME whether %s is playable: %s", room.public_id, error)
        answer = UNKNOWN
    if answer == SERVED:
        services.confirm_playable(room_id=room.pk)  # saving the room drops the facts, and the flag
    try:
        if answer == SERVED:
            cache.set(_served_key(room.public_id), 1, timeout=30)
        else:
            # The lock lives a second in the cache (its smallest timeout): the next probe may go
            # after PROBE_SECONDS instead.
            time.sleep(max(0.0, PROBE_SECONDS - (time.monotonic() - started)))
        cache.delete(f"playable-probe:{room.public_id}")
    except CACHE_ERRORS:
        pass
    return answer


def wait_for_change(*, public_id: str, known: str, seconds: float) -> bool:
    """Wait until the room's state is no longer `known` (True) or `seconds` passed (False).

    At most WATCH_STATUS_WAITERS requests of a process wait at once for a starting room, and as
    many for an offline one (each holds one of its threads); the others return at once and the
    player asks again after its usual interval."""
    slots, wanted = _waiter_slots(starting=known in WAITING_STATES)
    if not slots.acquire(blocking=False):
        wanted.set()  # ask the oldest waiter to make room
        if not slots.acquire(timeout=YIELD_SECONDS):
            return False
    wanted.clear()
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if wanted.is_set():
                return False
            room = facts.room(public_id)
            if room is None:
                return True
            if room.live_state == LiveState.LIVE:
                # "Live" only once OME serves the stream. The reconcile loop marks a room live as
                # soon as OME lists its stream, a moment before OME serves it: a player told then
                # would fail. (UNKNOWN: OME cannot be asked; the player tries and retries.)
                if probe(room) != NOT_YET:
                    return True
            elif room.live_state != known:
                return True
            elif room.live_state in WAITING_STATES and probe(room) == SERVED:
                return True
            time.sleep(CHECK_SECONDS)
        return False
    finally:
        slots.release()
