"""The Celery app: broker REDIS_URL, tasks in each app's tasks.py, beat schedule in settings,
and the redaction of secrets in the worker's and beat's logs."""

import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger
from celery.utils.log import get_multiprocessing_logger

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_secrets_in_celery_logs(logger, **_kwargs) -> None:
    """The worker and beat replace the root logger's handlers with their own (worker_hijack_root_logger):
    those mask secrets too (task retry messages, exception texts, redirected output)."""
    from .redaction import redact_handlers  # here: Django's settings are loaded by now

    redact_handlers(logger, get_multiprocessing_logger())


def enqueue_on_commit(task, *args) -> None:
    """Queue `task` once the current transaction commits, so it never sees an uncommitted row."""
    from django.db import transaction

    transaction.on_commit(lambda: task.delay(*args))
