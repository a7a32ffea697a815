"""Real processes for the OME crash tests: an OME emulator that can be killed, the portal's
reconcile loop as its own process, next to the live server (admission webhook) and a real
Celery worker (tests/celery_worker.py).

    emulator  ──webhook──▶  live_server (this test process)  ──tasks──▶ Redis ──▶ Celery worker
        ▲                                                                            │
        └──── REST API ◀── `manage.py reconcile --loop` (a separate process) ◀───────┘
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.db import connection

from ome_emulator.testing import EmulatorProcess

ROOT = Path(__file__).resolve().parent.parent.parent
# Production's default: the figures measured here are what an operator gets.
RECONCILE_SECONDS = 5.0


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class ReconcileLoop:
    """`manage.py reconcile --loop`: what Celery beat does in production, as a process of its own."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.log = Path(tempfile.mkstemp(prefix="reconcile-loop-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def start(self) -> ReconcileLoop:
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "reconcile", "--loop"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def kill_hard(ome: EmulatorProcess) -> None:
    """SIGKILL, like a crashed OME: no closing webhooks, no finished recordings, nothing flushed."""
    assert ome.process is not None
    ome.process.send_signal(signal.SIGKILL)
    ome.process.wait(10)
    ome.stop()  # only closes the pipe of the dead process


@pytest.fixture
def crashable_ome(live_server, settings, tmp_path):
    """An emulator of this test's own (the shared one must survive), asking the live portal."""
    ome = EmulatorProcess(
        token=settings.OME_API_TOKEN,
        webhook_url=live_server.url + "/ome/admission",
        webhook_secret=settings.OME_WEBHOOK_SECRET,
        recordings_dir=tmp_path / "recordings",
        webrtc_stream_delay=1.0,
    )
    ome.recordings_dir.mkdir()
    ome.start()
    settings.OME_API_URL = ome.api_url
    settings.RECORDINGS_DIR = ome.recordings_dir
    settings.OME_RECORDINGS_DIR = ""
    yield ome
    if ome.running:
        ome.reset()  # its closing webhooks reach the portal while the test database is still there
    ome.stop()


@pytest.fixture
def reconcile_loop(crashable_ome, settings, transactional_db):
    env = dict(
        os.environ,
        DATABASE_URL=_database_url(),
        CELERY_TASK_ALWAYS_EAGER="false",
        OME_API_URL=crashable_ome.api_url,
        OME_API_TOKEN=settings.OME_API_TOKEN,
        RECORDINGS_DIR=str(crashable_ome.recordings_dir),
        OME_RECORDINGS_DIR="",
        RECONCILE_SECONDS=str(RECONCILE_SECONDS),
        PYTHONPATH=str(ROOT),
    )
    loop = ReconcileLoop(env).start()
    yield loop
    loop.stop()


@pytest.fixture
def crash_stack(crashable_ome, celery_worker, reconcile_loop):
    """Emulator first (the worker takes the portal's OME settings when it starts), then the rest."""
    yield crashable_ome
    for process, name in ((celery_worker, "Celery worker"), (reconcile_loop, "reconcile loop")):
        if process.process and process.process.poll() is not None:
            raise AssertionError(f"the {name} died during the test:\n{process.log_tail()}")


def wait_until(predicate, *, timeout: float, what: str, interval: float = 0.25):
    """Poll `predicate()` until it returns something truthy; return (that, seconds waited)."""
    started = time.monotonic()
    while True:
        result = predicate()
        if result:
            return result, time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
