"""Queueing work for Celery from the apps, so that nothing asked for is lost.

The database row is the request; a queued task is only how it reaches a worker. `enqueue`
never raises when the broker is down (the row stays, and `requeue_stale`, run by each app's
beat sweep, queues it again once the broker is back).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from .outage import BROKER_ERRORS, note_unqueued, warn_once_in_a_while

logger = logging.getLogger(__name__)
# A sweep queues at most this many rows of one kind per run; the next run takes the rest.
REQUEUE_BATCH = 500


def enqueue(task, *args) -> bool:
    """Queue `task` now; False when the broker cannot be reached.

    Nothing is lost then: callers queue work that a database row asks for, and the sweep
    (`requeue_stale`) or the reconcile loop queues it again once the broker is back.
    """
    try:
        task.delay(*args)
    except BROKER_ERRORS as error:
        warn_once_in_a_while(f"queueing {task.name}", error)
        note_unqueued()
        return False
    return True


def enqueue_on_commit(task, *args) -> None:
    """Queue `task` once the current transaction commits, so it never sees an uncommitted row."""
    from django.db import transaction

    transaction.on_commit(lambda: enqueue(task, *args))


def requeue_after() -> timedelta:
    """How long a request may wait for its task before the sweep queues it again.

    3/4 of REQUEST_REQUEUE_SECONDS, with a sweep every 1/4 of it: a request whose message was
    lost is queued again at most REQUEST_REQUEUE_SECONDS after it was last touched.
    """
    from django.conf import settings

    return timedelta(seconds=settings.REQUEST_REQUEUE_SECONDS * 3 / 4)


def requeue_stale(rows, *, task, older_than: timedelta | None = None) -> int:
    """Queue `task` again for the rows of `rows` (a queryset) unchanged for `older_than`.

    The tasks are idempotent (they reload the row, and OME knows each push and record by the id
    the portal gave it), so a request whose first message is still alive somewhere is done once.
    A row queued again is remembered in the cache for `older_than`, so the next sweeps leave it
    alone meanwhile; the row itself is not touched (its `updated_at` keeps meaning "last changed",
    which the reconcile loop relies on). The sweep runs in a worker, so Redis is up when it runs;
    if Redis restarted empty, the queued messages went with the marks and it queues them all again.
    """
    from django.core.cache import cache
    from django.utils import timezone

    older_than = older_than or requeue_after()
    stale = rows.filter(updated_at__lt=timezone.now() - older_than).order_by("updated_at")
    queued = []
    for pk in stale.values_list("pk", flat=True)[:REQUEUE_BATCH]:
        mark = f"requeued:{task.name}:{pk}"
        if not cache.add(mark, 1, timeout=max(1, int(older_than.total_seconds()))):
            continue  # queued again a moment ago: give it time
        if not enqueue(task, pk):
            cache.delete(mark)
            break  # the broker is gone again: the next sweep goes on
        queued.append(pk)
    if queued:
        logger.warning("queued %s again for %d request(s) still waiting: %s", task.name, len(queued), queued)
    return len(queued)
