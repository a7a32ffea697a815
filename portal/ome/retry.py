"""How Celery tasks that call OME behave while OME is unreachable: back off, then give up."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from .client import OmeUnavailable


def retry_delay(attempt: int) -> float:
    """Seconds before retry number `attempt` (0-based): exponential, capped."""
    return min(settings.OME_RETRY_BASE_SECONDS * (2**attempt), settings.OME_RETRY_MAX_SECONDS)


def retry_or_give_up(task, error: OmeUnavailable, *, give_up: Callable[[str], None]) -> None:
    """Re-queue `task` with backoff, or call `give_up(message)` once the attempts are used up."""
    attempt = task.request.retries
    if attempt + 1 >= settings.OME_RETRY_MAX_ATTEMPTS:
        give_up(f"The media server could not be reached ({error.message}). Try again in a moment.")
        return
    raise task.retry(exc=error, countdown=retry_delay(attempt), max_retries=settings.OME_RETRY_MAX_ATTEMPTS)
