"""The reconcile loop's frame: read OME once, let each app compare it with the database.

The database holds intent, OME holds fact. Every RECONCILE_SECONDS a Celery beat task takes one
snapshot of the OME application (a fixed number of API calls, whatever the number of rooms)
and hands it to the reconcilers that rooms, broadcasts and recordings register in their
AppConfig.ready() — so this module, on the ground floor, knows none of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from .client import OmeClient, OmeError, PushInfo, RecordInfo, StreamStats

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OmeSnapshot:
    """What OME reported at `taken_at`: live input streams, pushes and records by id, app totals."""

    streams: frozenset[str]
    pushes: dict[str, PushInfo]
    records: dict[str, RecordInfo]
    app_stats: StreamStats | None
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
    return OmeSnapshot(streams=streams, pushes=pushes, records=records, app_stats=app_stats, taken_at=taken_at)


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
