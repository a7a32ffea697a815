"""What the portal does while Redis (its cache and its task queue) is down.

The database holds everything that matters; Redis holds what can be rebuilt or waited for
(viewer counts, rate-limit counters, single-use marks, queued tasks). So while Redis is away:

- the admission webhook goes on deciding from the database (see rooms.admission);
- a start or stop that cannot be queued is kept in the database and queued again by the sweep
  (REQUEST_REQUEUE_SECONDS); the page that asked says so (`queue_unavailable`);
- anything else that needs Redis answers 503 with `Retry-After`: JSON for the REST API, OME's
  envelope for the original /v1/ API, a short page in words for people (portal.middleware);
- /healthz reports each dependency (portal.health).
"""

from __future__ import annotations

import functools
import logging
import time
from contextvars import ContextVar

from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# Redis cannot be reached (refused, reset, timed out, still loading its data after a restart).
CACHE_ERRORS: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError)
# Celery could not hand a task to the broker.
BROKER_ERRORS: tuple[type[Exception], ...] = (BrokerOperationalError, *CACHE_ERRORS)
OUTAGE_ERRORS = BROKER_ERRORS

_last_warning: dict[str, float] = {}


def warn_once_in_a_while(
    what: str, error: Exception, *, every: float = 10.0, unavailable: str = "Redis is unavailable"
) -> None:
    """Log an outage at most every `every` seconds per `what`, not once per request."""
    now = time.monotonic()
    if now - _last_warning.get(what, -every) >= every:
        _last_warning[what] = now
        logger.warning("%s: %s (%s)", what, unavailable, error)


def cache_optional(*, default, what: str):
    """Decorate a function whose work can be skipped while the cache is down: it returns `default`."""

    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except CACHE_ERRORS as error:
                warn_once_in_a_while(what, error)
                return default

        return wrapper

    return decorate


# --- Requests that could not be queued ------------------------------------------------------

_unqueued: ContextVar[int] = ContextVar("unqueued_tasks", default=0)


def note_unqueued() -> None:
    _unqueued.set(_unqueued.get() + 1)


def queue_unavailable() -> bool:
    """True when this request stored work that it could not queue (the sweep will)."""
    return _unqueued.get() > 0


def queue_delay_notice() -> str:
    from django.conf import settings

    minutes = max(1, round(settings.REQUEST_REQUEUE_SECONDS / 60))
    about = "a minute" if minutes == 1 else f"{minutes} minutes"
    return (
        "The task queue is unavailable right now, so this waits: it is carried out automatically "
        f"within about {about} of the queue coming back. There is no need to press again."
    )


def start_unqueued():
    """Start counting this request's unqueued work; give the token back to `reset_unqueued`."""
    return _unqueued.set(0)


def reset_unqueued(token) -> None:
    _unqueued.reset(token)
