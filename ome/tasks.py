"""The base of every Celery task that asks OME to do something for one push or recording.

Celery's own retry machinery does the waiting: while OME cannot be reached (`OmeUnavailable`)
the task is retried with exponential backoff and jitter (OME_RETRY_BASE_SECONDS, at most
OME_RETRY_MAX_SECONDS apart, OME_RETRY_MAX_ATTEMPTS tries in all). When the tries are used up,
or OME refuses for good (any other `OmeError`), the failure hook records why on the row through
the task's `record_failure(object_id, message)` — the app's `*_failed` service — so the page
shows it in words. A task's first argument is the id of the row it works for.
"""

from __future__ import annotations

from celery import Task
from django.conf import settings

from .client import OmeError, OmeUnavailable


def unreachable_message(error: OmeUnavailable) -> str:
    return f"The media server could not be reached ({error.message}). Try again in a moment."


class OmeCallTask(Task):
    abstract = True
    acks_late = True
    autoretry_for = (OmeUnavailable,)
    retry_jitter = True
    # OME refusing is part of normal operation: recorded on the row, not logged as a crash.
    throws = (OmeError,)

    # Read from the settings when Celery registers the task (retry_backoff, retry_backoff_max)
    # or when it retries (max_retries): tests and operators set them through the environment.
    @property
    def retry_backoff(self) -> float:
        return settings.OME_RETRY_BASE_SECONDS

    @property
    def retry_backoff_max(self) -> int:
        return max(1, round(settings.OME_RETRY_MAX_SECONDS))

    @property
    def max_retries(self) -> int:
        return max(0, settings.OME_RETRY_MAX_ATTEMPTS - 1)

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        if not isinstance(exc, OmeError):
            return  # a bug, not OME: Celery logs it, the sweep and the reconcile loop try again later
        message = unreachable_message(exc) if isinstance(exc, OmeUnavailable) else exc.message
        object_id = args[0] if args else next(iter(kwargs.values()))
        self.record_failure(object_id, message)

    def record_failure(self, object_id: int, message: str) -> None:
        raise NotImplementedError("an OME task says how its row records a failure")
