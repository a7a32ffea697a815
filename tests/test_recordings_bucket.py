"""Recordings in S3-compatible object storage (RECORDINGS_STORAGE=s3), against a real S3 server
on loopback (moto in server mode): a finished recording is uploaded, verified and only then
Ready with its local copy removed; a copy that does not match and a bucket that is away for a
while lose nothing; members get presigned URLs (with ranges) after the usual permission check,
nobody else does; deleting and expiring recordings deletes their objects."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.conf import settings
from django.db.models.signals import post_save
from django.utils import timezone

from ome.reconcile import reconcile
from portal.redaction import RedactSecrets
from recordings import files, services, tasks
from recordings.models import Recording, RecordingState
from recordings.storage import local_path

from .api.conftest import make_token
from .recordings_bucket import ACCESS_KEY_ID, SECRET_ACCESS_KEY, CorruptingProxy, use_bucket

# Tasks are queued on commit, as in production (they run at once here: Celery is eager).
pytestmark = pytest.mark.django_db(transaction=True)

MB = 1024 * 1024


def _saved_states(recording_states: list[str]):
    def receiver(sender, instance, **kwargs):
        recording_states.append(instance.state)

    post_save.connect(receiver, sender=Recording, weak=False, dispatch_uid="test-saved-states")
    return receiver


@pytest.fixture
def saved_states():
    states: list[str] = []
    _saved_states(states)
    yield states
    post_save.disconnect(sender=Recording, dispatch_uid="test-saved-states")


def finished_by_ome(room, content: bytes, *, name: str = "rec-test_20261201090115_20261201090118.mp4") -> Recording:
    """A recording OME has just finished: its file and info XML in the folder, the row stopping;
    then the stop's follow-up task reads the info file, as after a member's Stop."""
    folder = Path(settings.RECORDINGS_DIR) / f"org-{room.organization_id}" / room.public_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    ome_file = f"/org-{room.organization_id}/{room.public_id}/{name}"
    (folder / f"{name}.xml").write_text(
        f"<files><file><id>x</id><filePath><![CDATA[{ome_file}]]></filePath><recordBytes>{len(content)}</recordBytes>"
        "<recordTime>3000</recordTime><sequence>0</sequence><startTime>2026-12-01T09:01:15.446+00:00</startTime>"
        "<finishTime>2026-12-01T09:01:18.282+00:00</finishTime></file></files>"
    )
    recording = Recording.objects.create(
        room=room,
        state=RecordingState.STOPPING,
        file_path=f"/org-{room.organization_id}/{room.public_id}/rec-test_${{StartTime:YYYYMMDDhhmmss}}.mp4",
        info_path=f"/org-{room.organization_id}/{room.public_id}/{name}.xml",
    )
    tasks.finish_recording_task.delay(recording.pk)
    recording.refresh_from_db()
    return recording


def _file_url(recording) -> str:
    return f"/rooms/{recording.room.public_id}/recordings/{recording.pk}/file"


def _wait_until_due(recording: Recording) -> None:
    recording.refresh_from_db()
    delay = (recording.upload_retry_at - timezone.now()).total_seconds()
    time.sleep(max(0.0, delay) + 0.05)


def test_a_recording_made_through_ome_is_uploaded_verified_then_ready_and_played_from_the_bucket(
    portal_ome, bucket, streamer_client, room, saved_states
):
    portal_ome.publish("rtmp://127.0.0.1:1935/app/acme-live")
    reconcile()
    assert streamer_client.post("/rooms/acme-live/recordings/start", HTTP_ACCEPT="application/json").status_code == 200
    recording = Recording.objects.get(room=room)
    portal_ome.wait_for(
        lambda: (reconcile(), Recording.objects.get(pk=recording.pk).duration_ms >= 1500)[1], what="1.5 s"
    )
    streamer_client.post(f"/rooms/acme-live/recordings/{recording.pk}/stop", HTTP_ACCEPT="application/json")
    portal_ome.wait_for(
        lambda: (reconcile(), Recording.objects.get(pk=recording.pk).state == RecordingState.FINISHED)[1],
        timeout=20,
        what="the recording in the bucket",
    )
    recording.refresh_from_db()
    assert saved_states[-2:] == [RecordingState.UPLOADING, RecordingState.FINISHED], saved_states
    assert recording.get_state_display() == "Ready"

    key = recording.storage_key
    assert bucket.keys() == [key]
    organization_id = room.organization_id
    assert re.fullmatch(
        rf"org-{organization_id}/acme-live/{recording.ome_id}/[0-9a-f]{{32}}/{recording.file_name}", key
    ), f"the object's key has no random part nobody can derive: {key}"
    stored = bucket.body(key)
    assert stored[4:8] == b"ftyp", "a real MP4 file"
    assert recording.size_bytes == len(stored) and recording.checksum_sha256 == hashlib.sha256(stored).hexdigest()
    assert not local_path(recording.file_path).exists(), "the local copy goes once the bucket's is verified"
    assert not local_path(recording.info_path).exists()

    download = streamer_client.get(_file_url(recording) + "?download=1")
    assert download.status_code == 302
    url = download["Location"]
    assert url.startswith(f"{bucket.server.endpoint_url}/{bucket.name}/") and "X-Amz-Signature=" in url
    assert f"X-Amz-Expires={settings.RECORDINGS_S3_URL_SECONDS}" in url
    assert "no-store" in download["Cache-Control"]
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200 and answer.content == stored
    assert answer.headers["Content-Disposition"] == f'attachment; filename="acme-live-{recording.file_name}"'

    play = streamer_client.get(_file_url(recording))["Location"]
    ranged = requests.get(play, headers={"Range": "bytes=0-7"}, timeout=10)
    assert ranged.status_code == 206 and ranged.content == stored[:8], "players seek with ranges on the bucket"
    assert ranged.headers["Content-Disposition"].startswith("inline")
    assert ranged.headers["Content-Type"] == "video/mp4"
    assert requests.get(play.split("?")[0], timeout=10).status_code == 403, "the bucket is private"


def test_a_large_file_goes_up_in_parts_and_its_copy_is_verified_before_the_local_file_goes(bucket, room):
    content = bytes(range(256)) * (12 * MB // 256) + b"tail"
    recording = finished_by_ome(room, content)
    assert recording.state == RecordingState.FINISHED, recording.upload_error
    assert bucket.etag(recording.storage_key).endswith("-3"), "12 MB in 5 MB parts: a multipart upload"
    assert bucket.body(recording.storage_key) == content
    assert recording.size_bytes == len(content)
    assert not local_path(recording.file_path).exists()


def test_a_copy_that_does_not_match_the_file_is_thrown_away_and_the_file_uploaded_again(bucket, settings, room):
    proxy = CorruptingProxy(bucket.server, uploads=1)
    use_bucket(settings, bucket, endpoint_url=proxy.endpoint_url)
    content = bytes(range(256)) * 400
    try:
        recording = finished_by_ome(room, content)
        assert proxy.corrupted == 1, "the first upload was damaged on its way"
        assert recording.state == RecordingState.UPLOADING
        assert "did not match the file" in recording.upload_error and recording.upload_attempts == 1
        assert bucket.keys() == [], "the damaged copy is not kept"
        assert local_path(recording.file_path).read_bytes() == content, "the file stays until a copy is verified"
        assert tasks.requeue_uploads() == 0, "the next try waits for its backoff"

        _wait_until_due(recording)
        assert tasks.requeue_uploads() == 1
        recording.refresh_from_db()
        assert recording.state == RecordingState.FINISHED and recording.upload_error == ""
        assert bucket.body(recording.storage_key) == content
        assert not local_path(recording.file_path).exists()
    finally:
        proxy.close()


def test_while_the_bucket_is_unreachable_recordings_wait_uploading_and_nothing_is_lost(
    bucket, s3_server, streamer_client, room
):
    content = bytes(range(256)) * 400
    s3_server.stop()
    recording = finished_by_ome(room, content)
    assert recording.state == RecordingState.UPLOADING
    assert "could not be reached" in recording.upload_error
    assert local_path(recording.file_path).read_bytes() == content
    panel = streamer_client.get("/rooms/acme-live/recordings/panel").json()["html"]
    assert "Uploading" in panel and "Upload failed" in panel and "Next try in" in panel
    assert streamer_client.get(_file_url(recording)).status_code == 404, "nothing to play before it is stored"

    first_wait = recording.upload_retry_at - recording.updated_at
    _wait_until_due(recording)
    assert tasks.requeue_uploads() == 1
    recording.refresh_from_db()
    assert recording.state == RecordingState.UPLOADING and recording.upload_attempts == 2
    assert recording.upload_retry_at - recording.updated_at > first_wait * 1.5, "tries come further apart"

    s3_server.start()
    _wait_until_due(recording)
    assert tasks.requeue_uploads() == 1
    recording.refresh_from_db()
    assert recording.state == RecordingState.FINISHED
    assert bucket.body(recording.storage_key) == content
    assert not local_path(recording.file_path).exists()
    assert streamer_client.get(_file_url(recording)).status_code == 302


def test_an_interrupted_recordings_file_goes_to_the_bucket_too(portal_ome, bucket, room):
    portal_ome.publish("rtmp://127.0.0.1:1935/app/acme-live")
    reconcile()
    services.start_recording(room=room)
    portal_ome.wait_for(
        lambda: (reconcile(), Recording.objects.filter(room=room, duration_ms__gte=1000).exists())[1], what="1 s"
    )
    recording = Recording.objects.get(room=room)
    # OME crashes (SIGKILL: nothing finalized) and comes back without the record; its temporary
    # file stays in the folder.
    portal_ome.process.send_signal(signal.SIGKILL)
    portal_ome.process.wait(10)
    portal_ome.stop()
    portal_ome.start()
    portal_ome.wait_for(
        lambda: (reconcile(), Recording.objects.get(pk=recording.pk).state == RecordingState.INTERRUPTED)[1],
        timeout=20,
        what="the interrupted recording in the bucket",
    )
    recording.refresh_from_db()
    assert recording.storage_key in bucket.keys()
    assert bucket.size(recording.storage_key) == recording.size_bytes > 0
    assert recording.file_path.endswith("_interrupted.mp4")
    assert not local_path(recording.file_path).exists()


def test_deleting_a_recording_deletes_its_object(bucket, owner_client, room):
    recording = finished_by_ome(room, b"x" * 5000)
    assert bucket.keys() == [recording.storage_key]
    response = owner_client.post(f"/rooms/acme-live/recordings/{recording.pk}/delete")
    assert response.status_code == 302
    assert not Recording.objects.exists()
    assert bucket.keys() == []


def test_deleting_a_recording_still_uploading_removes_its_local_file(bucket, s3_server, owner_client, room):
    s3_server.stop()
    recording = finished_by_ome(room, b"x" * 5000)
    assert recording.state == RecordingState.UPLOADING
    s3_server.start()
    owner_client.post(f"/rooms/acme-live/recordings/{recording.pk}/delete")
    assert not Recording.objects.exists()
    assert not local_path(recording.file_path).exists() and not local_path(recording.info_path).exists()
    assert bucket.keys() == []
    assert tasks.requeue_uploads() == 0


def test_retention_deletes_expired_recordings_with_their_objects(bucket, room, team):
    team.organization.recording_retention_days = 30
    team.organization.save()
    old = finished_by_ome(room, b"old" * 1000, name="rec-old_1.mp4")
    recent = finished_by_ome(room, b"new" * 1000, name="rec-new_1.mp4")
    Recording.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    assert files.delete_expired_recordings() == 1
    assert list(Recording.objects.values_list("pk", flat=True)) == [recent.pk]
    assert bucket.keys() == [recent.storage_key]


def test_an_organizations_storage_use_counts_what_is_in_the_bucket(bucket, s3_server, room, team):
    stored = finished_by_ome(room, b"a" * 7000, name="rec-a_1.mp4")
    s3_server.stop()
    uploading = finished_by_ome(room, b"b" * 3000, name="rec-b_1.mp4")
    s3_server.start()
    assert uploading.state == RecordingState.UPLOADING
    in_bucket = bucket.size(stored.storage_key)
    # What is in the bucket, and what is on its way there (it will be in a moment).
    assert files.storage_used_bytes(team.organization) == in_bucket + 3000 == 10000


def test_only_members_get_a_presigned_url_and_nobody_else_learns_the_object(
    bucket, room, team, other_team, streamer_client, outsider_client, client
):
    recording = finished_by_ome(room, b"secret video" * 100)
    assert streamer_client.get(_file_url(recording)).status_code == 302
    for response in (
        outsider_client.get(_file_url(recording)),
        outsider_client.get(_file_url(recording) + "?download=1"),
        make_token(other_team.organization, "owner").client().get(f"/api/v1/recordings/{recording.pk}/file/"),
    ):
        assert response.status_code == 404
        assert "Location" not in response and b"X-Amz" not in response.content
    anonymous = client.get(_file_url(recording))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")

    api = make_token(team.organization, "streamer").client().get(f"/api/v1/recordings/{recording.pk}/file/")
    assert api.status_code == 302 and "X-Amz-Signature=" in api["Location"]
    assert requests.get(api["Location"], timeout=10).content == b"secret video" * 100


def test_a_recording_stored_in_the_bucket_is_listed_with_its_state_and_download_link(bucket, room, team):
    recording = finished_by_ome(room, b"z" * 3000)
    api = make_token(team.organization, "streamer").client()
    item = api.get(f"/api/v1/recordings/{recording.pk}/").json()
    assert item["state"] == "finished" and item["download_url"].endswith(f"/api/v1/recordings/{recording.pk}/file/")


def test_the_buckets_credentials_and_url_signatures_never_reach_a_log_line(bucket, room, client, streamer_client):
    logged = io.StringIO()
    handler = logging.StreamHandler(logged)
    handler.addFilter(RedactSecrets())
    loggers = [logging.getLogger(name) for name in ("botocore", "boto3", "s3transfer", "urllib3", "recordings")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:  # as talkative as they get
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        recording = finished_by_ome(room, b"v" * 6000)
        url = streamer_client.get(_file_url(recording))["Location"]
        logging.getLogger("recordings").warning("redirected to %s", url)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
    text = logged.getvalue()
    assert "Signature=" in text and "Credential=" in text, "boto3 logged its signed requests"
    signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
    for secret in (ACCESS_KEY_ID, SECRET_ACCESS_KEY, signature):
        assert secret not in text


def test_the_bucket_settings_secrets_are_masked_wherever_they_appear():
    probe = (
        "import django; django.setup()\n"
        "from portal.redaction import redact\n"
        f"print(redact('key id {ACCESS_KEY_ID}, secret {SECRET_ACCESS_KEY} in a message'))\n"
    )
    env = {
        **os.environ,
        "RECORDINGS_STORAGE": "s3",
        "RECORDINGS_S3_BUCKET": "some-bucket",
        "RECORDINGS_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "RECORDINGS_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    }
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "key id ***, secret *** in a message"


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"RECORDINGS_STORAGE": "s3"}, "RECORDINGS_STORAGE=s3 needs RECORDINGS_S3_BUCKET"),
        ({"RECORDINGS_STORAGE": "nfs"}, "RECORDINGS_STORAGE must be local or s3"),
        ({"RECORDINGS_STORAGE": "s3", "RECORDINGS_S3_BUCKET": "b", "RECORDINGS_S3_PART_MB": "1"}, "at least 5"),
        ({"RECORDINGS_S3_URL_SECONDS": "864000"}, "between 1 and 604800"),
    ],
)
def test_a_bucket_set_up_wrong_stops_the_portal_with_a_message(environment, message):
    env = {**os.environ, **environment}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and message in result.stderr
