"""With a bucket, uploads are the recordings worker's: real Celery workers on Redis, a general one
on "another node" (a recordings folder of its own, empty) and the recordings worker next to the
folder (`--queues recordings`). The general worker's sweep hands the due upload over; only the
recordings worker, which has the file, uploads it."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings

from portal.celery import app as celery_app
from recordings.models import Recording, RecordingState
from recordings.storage import local_path

from .celery_worker import CeleryWorker, _database_url, queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)


def _worker(bucket, *, recordings_dir: str, args: tuple[str, ...]) -> CeleryWorker:
    env = dict(
        os.environ,
        **bucket.settings_env(),
        DATABASE_URL=_database_url(),
        CELERY_TASK_ALWAYS_EAGER="false",
        RECORDINGS_DIR=recordings_dir,
        OME_RECORDINGS_DIR="",
        RECORDINGS_UPLOAD_RETRY_SECONDS="0.5",
        PYTHONPATH=str(Path(__file__).resolve().parent.parent),
    )
    return CeleryWorker(env, args=args).start()


def test_the_general_workers_sweep_hands_uploads_to_the_recordings_worker_next_to_the_folder(bucket, room):
    folder = Path(settings.RECORDINGS_DIR) / f"org-{room.organization_id}" / room.public_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rec-w_1.mp4").write_bytes(b"w" * 20_000)
    recording = Recording.objects.create(
        room=room,
        state=RecordingState.UPLOADING,
        file_path=f"/org-{room.organization_id}/{room.public_id}/rec-w_1.mp4",
        size_bytes=20_000,
    )
    celery_app.control.purge()
    general = _worker(bucket, recordings_dir=tempfile.mkdtemp(prefix="another-node-"), args=("-n", "general@%h"))
    recorder = _worker(
        bucket, recordings_dir=str(settings.RECORDINGS_DIR), args=("--queues", "recordings", "-n", "recordings@%h")
    )
    try:
        with queued_tasks():
            celery_app.send_task("recordings.tasks.requeue_uploads")
        deadline = time.monotonic() + 30
        while Recording.objects.get(pk=recording.pk).state == RecordingState.UPLOADING:
            assert time.monotonic() < deadline, f"{general.log_tail()}\n---\n{recorder.log_tail()}"
            time.sleep(0.2)
        recording.refresh_from_db()
        assert recording.state == RecordingState.FINISHED, recording.error_message
        assert bucket.body(recording.storage_key) == b"w" * 20_000
        assert not local_path(recording.file_path).exists()
        ran = "Task recordings.tasks.{}["  # a worker's "received" and "succeeded" lines
        assert ran.format("requeue_uploads") in general.log.read_text()
        assert ran.format("upload_recording_task") not in general.log.read_text()
        assert ran.format("upload_recording_task") in recorder.log.read_text()
    finally:
        general.stop()
        recorder.stop()
