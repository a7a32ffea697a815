"""`manage.py move_recordings_to_storage`: an archive recorded with local storage moves into the
bucket, each recording verified before its local file goes; killed halfway, the command goes on
where it stopped when run again and leaves nothing twice in the bucket. Members play every
recording throughout: from the folder until it moved, from the bucket afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from recordings.models import Recording, RecordingState
from recordings.storage import local_path

from .recordings_bucket import CorruptingProxy

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024


def _archived(room, name: str, content: bytes) -> Recording:
    folder = Path(settings.RECORDINGS_DIR) / f"org-{room.organization_id}" / room.public_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    (folder / f"{name}.xml").write_text("<files/>")
    return Recording.objects.create(
        room=room,
        state=RecordingState.FINISHED,
        file_path=f"/org-{room.organization_id}/{room.public_id}/{name}",
        info_path=f"/org-{room.organization_id}/{room.public_id}/{name}.xml",
        size_bytes=len(content),
        duration_ms=1000,
    )


def _command(bucket, *, endpoint_url: str | None = None, args: tuple[str, ...] = ()) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        **bucket.settings_env(endpoint_url),
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "RECORDINGS_DIR": str(settings.RECORDINGS_DIR),
        "OME_RECORDINGS_DIR": "",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "move_recordings_to_storage", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _moved(recording: Recording) -> bool:
    return bool(Recording.objects.get(pk=recording.pk).storage_key)


def test_an_archive_moves_into_the_bucket_and_a_killed_run_goes_on_where_it_stopped(
    bucket, settings, streamer_client, room
):
    contents = {
        "rec-a_1.mp4": b"a" * 50_000,
        "rec-b_1.mp4": bytes(range(256)) * (12 * MB // 256),  # three parts, on a slow link
        "rec-c_1.mp4": b"c" * 70_000,
    }
    recordings = [_archived(room, name, content) for name, content in contents.items()]
    settings.RECORDINGS_STORAGE = "s3"  # the portal now uses the bucket; these are still local
    for recording in recordings:
        assert streamer_client.get(f"/rooms/acme-live/recordings/{recording.pk}/file").status_code == 200

    slow = CorruptingProxy(bucket.server, uploads=0, delay=0.02)
    try:
        first = _command(bucket, endpoint_url=slow.endpoint_url)
        deadline = time.monotonic() + 60
        while not _moved(recordings[0]):
            assert first.poll() is None and time.monotonic() < deadline, first.stdout.read()
            time.sleep(0.05)
        time.sleep(0.5)  # well into the large file's upload
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        slow.close()
    assert _moved(recordings[0]) and not _moved(recordings[1]) and not _moved(recordings[2]), "killed halfway"
    assert not local_path(recordings[0].file_path).exists(), "a moved recording's local file is gone"
    assert local_path(recordings[1].file_path).read_bytes() == contents["rec-b_1.mp4"], "the rest is untouched"
    # Played from wherever it is meanwhile.
    assert streamer_client.get(f"/rooms/acme-live/recordings/{recordings[0].pk}/file").status_code == 302
    assert streamer_client.get(f"/rooms/acme-live/recordings/{recordings[1].pk}/file").status_code == 200

    second = _command(bucket)
    output = second.communicate(timeout=120)[0]
    assert second.returncode == 0, output
    assert "2 recording(s) to move." in output and "Done: 2 moved." in output

    keys = []
    for recording, (name, content) in zip(recordings, contents.items(), strict=True):
        recording.refresh_from_db()
        assert recording.state == RecordingState.FINISHED and recording.storage_key.endswith(f"/{name}")
        assert bucket.body(recording.storage_key) == content
        assert not local_path(recording.file_path).exists() and not local_path(recording.info_path).exists()
        keys.append(recording.storage_key)
        assert streamer_client.get(f"/rooms/acme-live/recordings/{recording.pk}/file").status_code == 302
    assert bucket.keys() == sorted(keys), "nothing left twice or half-way in the bucket"

    third = _command(bucket)
    assert "0 recording(s) to move." in third.communicate(timeout=60)[0] and third.returncode == 0


def test_the_command_refuses_to_run_without_a_bucket(room):
    result = subprocess.run(
        [sys.executable, "manage.py", "move_recordings_to_storage"],
        cwd=ROOT, env={**os.environ, "RECORDINGS_STORAGE": "local"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0 and "RECORDINGS_STORAGE is not s3" in result.stderr
