"""Telling waiting players the moment a starting room becomes playable.

OME lists a browser-published stream as soon as it is created but serves it only a moment later
(about 1.2 s on 0.21), and its REST API does not say which; the reconcile loop, every
RECONCILE_SECONDS, would mark the room live late or too early. So while players wait on a room
that is starting (or reconnecting), the portal asks OME itself, the way a player would: it
requests the room's LL-HLS playlist, which OME answers 404 until it can serve the stream. One
request per room every PROBE_SECONDS across all web processes (a short lock in the cache), made
by one of the waiting status requests; when OME serves it, the room goes live (the same service
the reconcile loop calls), its facts are dropped, and every waiting status request answers.

The probe presents a playback token of its own (an embed-link token for a link that nobody
holds, valid for a minute), so private rooms are probed too; while a room is starting the
admission webhook does not count LL-HLS players, so the probe is never counted as a viewer.
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
_waiters: threading.BoundedSemaphore | None = None
_waiters_lock = threading.Lock()


def _waiter_slots() -> threading.BoundedSemaphore:
    global _waiters
    with _waiters_lock:
        if _waiters is None:
            _waiters = threading.BoundedSemaphore(max(0, settings.WATCH_STATUS_WAITERS) or 1)
        return _waiters


def _probe_url(room: facts.RoomFacts) -> str:
    token = None
    if room.visibility == Visibility.PRIVATE:
        link = credentials.EmbedLink(room.pk, room.embed_link_generation, int(time.time()) + 60)
        token = credentials.mint_playback_token(room_id=room.pk, link=link)
    return endpoints.llhls_play_url(room.public_id, token)


def probe(room: facts.RoomFacts) -> bool:
    """Whether OME serves the room's stream now: asked at most once per PROBE_SECONDS per room."""
    try:
        if not cache.add(f"playable-probe:{room.public_id}", 1, timeout=1):
            return False
    except CACHE_ERRORS:
        return False
    started = time.monotonic()
    try:
        response = _session.get(_probe_url(room), timeout=PROBE_TIMEOUT_SECONDS)
        served = response.status_code == 200
    except requests.RequestException as error:
        logger.info("could not ask OME whether %s is playable: %s", room.public_id, error)
        served = False
    if not served:
        # The lock lives a second in the cache (its smallest timeout): the next probe may go
        # after PROBE_SECONDS instead.
        time.sleep(max(0.0, PROBE_SECONDS - (time.monotonic() - started)))
    try:
        cache.delete(f"playable-probe:{room.public_id}")
    except CACHE_ERRORS:
        pass
    if served:
        services.go_live(room_id=room.pk, confirmed=True)
    return served


def wait_for_change(*, public_id: str, known: str, seconds: float) -> bool:
    """Wait until the room's state is no longer `known` (True) or `seconds` passed (False).

    At most WATCH_STATUS_WAITERS requests of a process wait at once (each holds one of its
    threads); the others return at once and the player asks again after its usual interval."""
    slots = _waiter_slots()
    if not slots.acquire(blocking=False):
        return False
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            room = facts.room(public_id)
            if room is None or room.live_state != known:
                return True
            if room.live_state in WAITING_STATES and probe(room):
                return True
            time.sleep(CHECK_SECONDS)
        return False
    finally:
        slots.release()
