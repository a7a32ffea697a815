"""The Celery app: broker REDIS_URL, tasks in each app's tasks.py, beat schedule in settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def enqueue_on_commit(task, *args) -> None:
    """Queue `task` once the current transaction commits, so it never sees an uncommitted row."""
    from django.db import transaction

    transaction.on_commit(lambda: task.delay(*args))
