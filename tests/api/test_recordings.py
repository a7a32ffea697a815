"""Recordings through the REST API: started and stopped on the media server (the OME emulator),
finished from its info file, downloaded with HTTP Range, deleted with their file."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from recordings.models import Recording, RecordingState

from .conftest import CONTENT, finished_recording, go_live


@pytest.mark.django_db(transaction=True)
def test_a_recording_started_and_stopped_through_the_api_ends_as_a_downloadable_file(api, room, portal_ome):
    go_live(portal_ome, room)
    response = api.post("/api/v1/rooms/acme-live/recordings/", {"external_id": "weekly-1"}, format="json")
    assert response.status_code == 201, response.content
    recording = Recording.objects.get(pk=response.json()["id"])
    assert [record["id"] for record in portal_ome.records()] == [recording.ome_id]
    assert api.get(f"/api/v1/recordings/{recording.pk}/").json()["download_url"] is None
    busy = api.post("/api/v1/rooms/acme-live/recordings/", {}, format="json")
    assert busy.status_code == 409 and "already being recorded" in busy.json()["detail"]
    assert api.delete(f"/api/v1/recordings/{recording.pk}/").status_code == 409, "a running recording is kept"

    stopped = api.post(f"/api/v1/recordings/{recording.pk}/stop/")
    assert stopped.status_code == 200
    portal_ome.wait_for(lambda: not portal_ome.records(), what="OME to finish the record")

    def finished():
        data = api.get(f"/api/v1/recordings/{recording.pk}/").json()
        return data if data["state"] == RecordingState.FINISHED else None

    data = portal_ome.wait_for(finished, what="the portal to read OME's info file")
    assert data["external_id"] == "weekly-1" and data["size_bytes"] > 0 and data["file_name"].endswith(".mp4")
    assert data["download_url"] == f"http://testserver/api/v1/recordings/{recording.pk}/file/"
    file = api.get(data["download_url"], HTTP_RANGE="bytes=0-99")
    assert file.status_code == 206 and len(b"".join(file.streaming_content)) == 100
    assert file["Content-Range"].startswith("bytes 0-99/")


def test_download_with_range_and_as_attachment(api, room):
    recording = finished_recording(room)
    whole = api.get(f"/api/v1/recordings/{recording.pk}/file/?download=1", HTTP_ACCEPT="video/mp4")
    assert whole.status_code == 200
    assert b"".join(whole.streaming_content) == CONTENT
    assert whole["Content-Disposition"] == 'attachment; filename="acme-live-rec.mp4"'
    part = api.get(f"/api/v1/recordings/{recording.pk}/file/", HTTP_RANGE="bytes=-40")
    assert part.status_code == 206 and b"".join(part.streaming_content) == CONTENT[-40:]
    assert api.get(f"/api/v1/recordings/{recording.pk}/file/", HTTP_RANGE="bytes=99999-").status_code == 416


def test_a_missing_file_or_an_unfinished_recording_is_a_404_in_json(api, room):
    recording = finished_recording(room)
    (Path(settings.RECORDINGS_DIR) / recording.file_path.lstrip("/")).unlink()
    missing = api.get(f"/api/v1/recordings/{recording.pk}/file/", HTTP_ACCEPT="video/mp4")
    assert missing.status_code == 404 and "missing" in missing.json()["detail"]
    waiting = Recording.objects.create(room=room, state=RecordingState.WAITING, file_path="/x/${StartTime}.mp4")
    assert api.get(f"/api/v1/recordings/{waiting.pk}/file/").status_code == 404


def test_deleting_a_finished_recording_removes_its_file(api, room):
    recording = finished_recording(room)
    path = Path(settings.RECORDINGS_DIR) / recording.file_path.lstrip("/")
    assert api.delete(f"/api/v1/recordings/{recording.pk}/").status_code == 204
    assert not path.exists() and not Recording.objects.exists()


def test_recordings_are_refused_when_storage_is_full(api, room, team):
    finished_recording(room)
    team.organization.recording_storage_limit_mb = 0
    team.organization.save()
    response = api.post("/api/v1/rooms/acme-live/recordings/", {}, format="json")
    assert response.status_code == 403 and "Delete old recordings" in response.json()["detail"]


def test_recordings_are_filtered_by_state_and_room(api, room):
    finished_recording(room)
    Recording.objects.create(room=room, state=RecordingState.ERROR, external_id="broken")
    assert [r["state"] for r in api.get("/api/v1/recordings/", {"state": "error"}).json()["results"]] == ["error"]
    assert api.get("/api/v1/recordings/", {"room": "acme-live"}).json()["count"] == 2
    assert api.get("/api/v1/recordings/", {"external_id": "broken"}).json()["count"] == 1
