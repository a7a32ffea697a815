"""The reconcile loop's frame: read OME once, let each app compare it with the database.

The database holds intent, OME holds fact. Every RECONCILE_SECONDS a Celery beat task takes one
snapshot of the OME application and hands it to the reconcilers that rooms, broadcasts and
recordings register in their AppConfig.ready() — so this module, on the ground floor, knows none
of them.

A snapshot costs a bounded number of API calls, whatever the number of rooms: four (streams,
pushes, records, the application's statistics) plus the statistics of at most
RECONCILE_STATS_PER_PASS listed streams, taken in turn (round robin by name, the position kept in
the cache between passes). Those per-stream figures are OME's own viewer counts, which the rooms
reconciler uses to correct the counts the admission webhook keeps between reads. With L live
streams and a budget of B, every stream is read at least once every ceil(L / B) passes: at the
default B = 100 and RECONCILE_SECONDS = 5, 1,000 live rooms are all read within 10 passes, 50 s,
for 4 + 100 calls per pass (about 21 requests a second to OME's API); up to 100 live rooms, every
pass reads every room.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from .client import OmeClient, OmeError, OmeNotFound, PushInfo, RecordInfo, StreamStats

logger = logging.getLogger(__name__)

# The last stream whose statistics were read: the next pass goes on after it.
STATS_CURSOR_KEY = "ome-reconcile:stats-cursor"
# Statistics reads in flight at once (within the per-pass budget, RECONCILE_STATS_PER_PASS).
STATS_READERS = 8


@dataclass(frozen=True)
class OmeSnapshot:
    """What OME reported at `taken_at`: live input streams, pushes and records by id, app totals,
    and the statistics of this pass's share of the streams (by stream name)."""

    streams: frozenset[str]
    pushes: dict[str, PushInfo]
    records: dict[str, RecordInfo]
    app_stats: StreamStats | None
    stream_stats: dict[str, StreamStats] = field(default_factory=dict)
    taken_at: datetime = field(default_factory=timezone.now)  # when the first call went out


Reconciler = Callable[[OmeSnapshot], None]
_reconcilers: list[tuple[int, str, Reconciler]] = []


def register(*, order: int, name: str, reconciler: Reconciler) -> None:
    """Add a reconciler; lower `order` runs first (rooms' live state before pushes and records)."""
    if not any(existing == name for _, existing, _ in _reconcilers):
        _reconcilers.append((order, name, reconciler))
        _reconcilers.sort(key=lambda item: item[0])


def take_snapshot(client: OmeClient) -> OmeSnapshot:
    taken_at = timezone.now()
    streams = frozenset(client.list_streams())
    pushes = {push.id: push for push in client.pushes()}
    records = {record.id: record for record in client.records()}
    try:
        app_stats = client.app_stats()
    except OmeError as error:  # statistics are a nicety; never let them block the repairs
        logger.warning("OME statistics unavailable: %s", error)
        app_stats = None
    return OmeSnapshot(
        streams=streams,
        pushes=pushes,
        records=records,
        app_stats=app_stats,
        stream_stats=_read_stream_stats(client, streams) if app_stats is not None else {},
        taken_at=taken_at,
    )


def streams_in_turn(streams: frozenset[str], *, budget: int, after: str) -> list[str]:
    """At most `budget` of `streams`, in name order, starting after `after` and wrapping around.

    Keyed by name rather than by position, so streams that start or end between passes neither
    skip nor repeat the others."""
    ordered = sorted(streams)
    start = bisect.bisect_right(ordered, after)
    return (ordered[start:] + ordered[:start])[: max(0, budget)]


_SKIPPED = object()  # not asked: an earlier read of the share failed


def _stream_stats(client: OmeClient, name: str, failed: threading.Event):
    if failed.is_set():
        return _SKIPPED  # OME is failing: do not wait for it once per stream
    try:
        return client.stream_stats(name)
    except OmeNotFound:
        return None
    except OmeError as error:
        failed.set()
        return error


def _read_stream_stats(client: OmeClient, streams: frozenset[str]) -> dict[str, StreamStats]:
    budget = settings.RECONCILE_STATS_PER_PASS
    if budget <= 0 or not streams:
        return {}
    try:
        after = cache.get(STATS_CURSOR_KEY) or ""
    except Exception:  # the position is a nicety: without the cache, start from the first stream
        logger.warning("reconcile: statistics position unavailable", exc_info=True)
        after = ""
    stats: dict[str, StreamStats] = {}
    last_read = after
    share = streams_in_turn(streams, budget=budget, after=after)
    # A few at a time: each is a round trip to OME, and a pass waits for the slowest share.
    failed = threading.Event()
    with ThreadPoolExecutor(max_workers=STATS_READERS) as pool:
        answers = list(pool.map(lambda name: _stream_stats(client, name, failed), share))
    for name, answer in zip(share, answers, strict=True):
        if answer is _SKIPPED:
            break
        if isinstance(answer, OmeError):
            # OME is failing: the rest of the share waits for the next pass (and starts with this one).
            logger.warning("OME statistics of %s unavailable: %s", name, answer)
            break
        if answer is not None:
            stats[name] = answer  # None: it ended since the list was read
        last_read = name
    try:
        cache.set(STATS_CURSOR_KEY, last_read, timeout=None)
    except Exception:
        logger.warning("reconcile: could not keep the statistics position", exc_info=True)
    return stats


def reconcile(client: OmeClient | None = None) -> OmeSnapshot:
    """One pass: snapshot OME, then run every reconciler. OME errors propagate to the caller."""
    snapshot = take_snapshot(client or OmeClient.from_settings())
    for _order, name, reconciler in _reconcilers:
        try:
            reconciler(snapshot)
        except Exception:
            # One area's bug must not stop the others from repairing their drift.
            logger.exception("reconciler %s failed", name)
    return snapshot
