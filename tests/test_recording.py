"""Recording a room through OME (the emulator): start or arm, watch it record, stop, and get
a real file whose name, size and duration come from OME's info XML; auto-record with the room."""

import pytest

from portal.ome.reconcile import reconcile
from recordings import services
from recordings.models import Recording, RecordingState
from recordings.storage import local_path

# Tasks are enqueued on commit, as in production: these tests commit.
pytestmark = pytest.mark.django_db(transaction=True)


def _recording(room) -> Recording:
    return Recording.objects.filter(room=room).latest("created_at")


def _reconcile_until(ome, predicate, what, timeout=20):
    def step():
        reconcile()
        return predicate()

    return ome.wait_for(step, timeout=timeout, interval=0.3, what=what)


def test_a_member_records_a_live_room_and_plays_and_downloads_the_file(portal_ome, streamer_client, room):
    portal_ome.publish("rtmp://127.0.0.1:1935/app/acme-live")
    reconcile()
    response = streamer_client.post("/rooms/acme-live/recordings/start", HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    recording = _recording(room)
    (record,) = portal_ome.records()
    assert record["id"] == recording.ome_id and record["state"] == "recording"
    _reconcile_until(portal_ome, lambda: _recording(room).duration_ms >= 1500, "1.5 s recorded")
    assert _recording(room).state == RecordingState.RECORDING
    panel = streamer_client.get("/rooms/acme-live/recordings/panel").json()["html"]
    assert "Recording" in panel and "Stop recording" in panel

    streamer_client.post(f"/rooms/acme-live/recordings/{recording.pk}/stop", HTTP_ACCEPT="application/json")
    _reconcile_until(portal_ome, lambda: _recording(room).state == RecordingState.FINISHED, "the file")
    recording = _recording(room)
    assert recording.file_path.endswith(".mp4") and "${" not in recording.file_path, "OME filled in the times"
    assert recording.duration_ms >= 1500 and recording.size_bytes > 0
    file = local_path(recording.file_path)
    assert recording.size_bytes == file.stat().st_size, "the size shown is what the file takes"
    assert recording.finished_at is not None

    panel = streamer_client.get("/rooms/acme-live/recordings/panel").json()["html"]
    assert f"/rooms/acme-live/recordings/{recording.pk}/file?download=1" in panel
    download = streamer_client.get(f"/rooms/acme-live/recordings/{recording.pk}/file?download=1")
    body = b"".join(download.streaming_content)
    assert body == file.read_bytes()
    assert body[4:8] == b"ftyp", "a real MP4 file"
    head = streamer_client.get(f"/rooms/acme-live/recordings/{recording.pk}/file", HTTP_RANGE="bytes=0-7")
    assert head.status_code == 206 and b"".join(head.streaming_content) == body[:8]


def test_a_recording_armed_before_the_room_is_live_waits_then_records(portal_ome, room):
    services.start_recording(room=room)
    reconcile()
    assert _recording(room).state == RecordingState.WAITING
    portal_ome.publish("rtmp://127.0.0.1:1935/app/acme-live")
    _reconcile_until(portal_ome, lambda: _recording(room).state == RecordingState.RECORDING, "recording")


def test_auto_record_records_each_go_live_and_finishes_when_the_room_goes_offline(portal_ome, room):
    room.auto_record = True
    room.save()
    portal_ome.publish("rtmp://127.0.0.1:1935/app/acme-live")
    reconcile()
    assert _recording(room).state in (RecordingState.WAITING, RecordingState.RECORDING)
    portal_ome.wait_for(lambda: portal_ome.records() and portal_ome.records()[0].get("recordTime", 0) > 1000, what="1 s")
    portal_ome.unpublish("acme-live")
    _reconcile_until(portal_ome, lambda: _recording(room).state == RecordingState.FINISHED, "the file")
    assert local_path(_recording(room).file_path).is_file()
    assert portal_ome.records() == [], "nothing left running in OME"


def test_a_recording_cannot_be_started_twice(portal_ome, owner_client, room):
    owner_client.post("/rooms/acme-live/recordings/start")
    response = owner_client.post("/rooms/acme-live/recordings/start", HTTP_ACCEPT="application/json")
    assert response.status_code == 409
    assert "already being recorded" in response.json()["detail"]
    assert len(portal_ome.records()) == 1


def test_staff_stop_recordings_from_the_admin(portal_ome, room, client):
    from .factories import UserFactory

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    portal_ome.publish("rtmp://127.0.0.1:1935/app/acme-live")
    recording = services.start_recording(room=room)
    assert client.get("/admin/recordings/recording/").status_code == 200
    client.post("/admin/recordings/recording/", {"action": "stop_recordings", "_selected_action": [recording.pk]})
    _reconcile_until(portal_ome, lambda: _recording(room).state == RecordingState.FINISHED, "the file")
