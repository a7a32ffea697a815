"""What /healthz checks: the database, the cache and the task queue's broker, each on its own.

Only the database decides whether web is healthy (without it nothing works); the cache and the
broker being down make the portal "degraded" (it still serves pages, the API answers 503 where
it needs them, OME's webhook decides from the database), which the body says for operators.
"""

from __future__ import annotations

from django.core.cache import cache
from django.db import connection

OK = "ok"


def _problem(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"unavailable: {type(error).__name__}{': ' + text[:200] if text else ''}"


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # any failure means the same to an operator: not answering
        return _problem(error)
    return OK


def check_cache() -> str:
    try:
        cache.get("healthz:probe")
    except Exception as error:
        return _problem(error)
    return OK


def check_broker() -> str:
    from .celery import app

    if app.conf.task_always_eager:
        return "ok (tasks run in the web process)"
    try:
        with app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
            broker.default_channel  # noqa: B018 — opening a channel talks to the broker
    except Exception as error:
        return _problem(error)
    return OK


def report() -> tuple[int, dict]:
    """(HTTP status, body) of /healthz."""
    checks = {"database": check_database(), "cache": check_cache(), "broker": check_broker()}
    if checks["database"] != OK:
        return 503, {"status": "unavailable", "checks": checks}
    degraded = any(not value.startswith(OK) for value in checks.values())
    return 200, {"status": "degraded" if degraded else "ok", "checks": checks}
