"""A real Celery worker process on Redis, for tests about the queue (not eager execution).

The worker runs the project's code against the same test database and Redis as the test, so
a test must use `transactional_db` (the worker only sees committed rows).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection

from portal.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class CeleryWorker:
    def __init__(self, env: dict[str, str], *, args: tuple[str, ...] = ()):
        self.env = env
        self.args = args  # more options of `celery worker`, e.g. ("--queues", "recordings")
        self.log = Path(tempfile.mkstemp(prefix="celery-worker-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def start(self) -> CeleryWorker:
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", "solo", "--loglevel", "INFO",
                    "--without-gossip", "--without-mingle", "--without-heartbeat", *self.args,
                ],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while "ready." not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start:\n{self.log_tail()}")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def queued_tasks():
    """Send tasks to the broker instead of running them inline (the test process's side)."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = before


@pytest.fixture
def celery_worker(transactional_db, settings):
    """Start a worker with the portal's current OME settings; tasks from the test go to it."""
    celery_app.control.purge()
    env = dict(
        os.environ,
        DATABASE_URL=_database_url(),
        CELERY_TASK_ALWAYS_EAGER="false",
        OME_API_URL=settings.OME_API_URL,
        OME_API_TOKEN=settings.OME_API_TOKEN,
        RECORDINGS_DIR=str(settings.RECORDINGS_DIR),
        OME_RETRY_BASE_SECONDS=str(settings.OME_RETRY_BASE_SECONDS),
        OME_RETRY_MAX_SECONDS=str(settings.OME_RETRY_MAX_SECONDS),
        OME_RETRY_MAX_ATTEMPTS=str(settings.OME_RETRY_MAX_ATTEMPTS),
        PYTHONPATH=str(ROOT),
    )
    worker = CeleryWorker(env).start()
    with queued_tasks():
        yield worker
    worker.stop()
