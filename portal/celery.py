"""The Celery app: broker REDIS_URL, tasks in each app's tasks.py, beat schedule in settings,
the redaction of secrets in the worker's and beat's logs, and the worker's metrics."""

import os

from celery import Celery, signals
from celery.utils.log import get_multiprocessing_logger
from prometheus_client import Counter, start_http_server

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _redact_secrets_in_celery_logs(logger, **_kwargs) -> None:
    """The worker and beat replace the root logger's handlers with their own (worker_hijack_root_logger):
    those mask secrets too (task retry messages, exception texts, redirected output)."""
    from .redaction import redact_handlers  # here: Django's settings are loaded by now

    redact_handlers(logger, get_multiprocessing_logger())


# --- Metrics ----------------------------------------------------------------------------------
# Retries and failures are counted where Celery reports them, for every task alike; a worker
# serves its figures on METRICS_PORT (the web service's /metrics cannot see other containers).

TASK_RETRIES = Counter("portal_task_retries_total", "Task runs that were retried, by task.", ["task"])
TASK_FAILURES = Counter("portal_task_failures_total", "Task runs that failed for good, by task.", ["task"])


@signals.task_retry.connect
def _count_retry(sender=None, request=None, **kwargs) -> None:
    TASK_RETRIES.labels(getattr(request, "task", None) or getattr(sender, "name", "unknown")).inc()


@signals.task_failure.connect
def _count_failure(sender=None, **kwargs) -> None:
    TASK_FAILURES.labels(getattr(sender, "name", "unknown")).inc()


@signals.worker_init.connect
def _serve_worker_metrics(**kwargs) -> None:
    port = os.environ.get("METRICS_PORT")
    if port:
        from .metrics import registry

        start_http_server(int(port), registry=registry())
