"""Finished recordings: played and downloaded with HTTP Range, deleted with their files,
expired after the organization's retention period, and never served from outside the folder."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from recordings import files
from recordings.info import parse_info
from recordings.models import Recording, RecordingState

GOLDEN_INFO = Path(__file__).parent / "ome_golden" / "record-info.xml"
CONTENT = bytes(range(256)) * 40  # 10 240 bytes


def _finished(room, name="rec.mp4", *, age_days=0, content=CONTENT) -> Recording:
    folder = Path(settings.RECORDINGS_DIR) / f"org-{room.organization_id}" / room.public_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    (folder / (name + ".xml")).write_text("<files/>")
    recording = Recording.objects.create(
        room=room,
        state=RecordingState.FINISHED,
        file_path=f"/org-{room.organization_id}/{room.public_id}/{name}",
        info_path=f"/org-{room.organization_id}/{room.public_id}/{name}.xml",
        size_bytes=len(content),
        duration_ms=3000,
    )
    if age_days:
        Recording.objects.filter(pk=recording.pk).update(created_at=timezone.now() - timedelta(days=age_days))
    return recording


def _file_url(recording) -> str:
    return f"/rooms/{recording.room.public_id}/recordings/{recording.pk}/file"


def test_a_member_downloads_the_whole_file(streamer_client, room):
    recording = _finished(room)
    response = streamer_client.get(_file_url(recording) + "?download=1")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == CONTENT
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Type"] == "video/mp4"
    assert response["Content-Disposition"] == 'attachment; filename="acme-live-rec.mp4"'


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=10000-", 10000, 10239),
        ("bytes=-40", 10200, 10239),
        ("bytes=10200-99999", 10200, 10239),
    ],
)
def test_ranges_let_players_seek_and_downloads_resume(streamer_client, room, header, first, last):
    response = streamer_client.get(_file_url(_finished(room)), HTTP_RANGE=header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {first}-{last}/10240"
    body = b"".join(response.streaming_content)
    assert body == CONTENT[first : last + 1]
    assert response["Content-Length"] == str(len(body))
    assert response["Content-Disposition"].startswith("inline")


def test_a_range_past_the_end_is_answered_416(streamer_client, room):
    response = streamer_client.get(_file_url(_finished(room)), HTTP_RANGE="bytes=20000-")
    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */10240"


def test_paths_outside_the_recordings_folder_are_never_served(streamer_client, room, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve me")
    recording = _finished(room)
    for path in ["/../../../../../../" + str(secret).lstrip("/"), "/org-1/../../" + secret.name]:
        Recording.objects.filter(pk=recording.pk).update(file_path=path)
        response = streamer_client.get(_file_url(recording))
        assert response.status_code == 404
        assert b"do not serve me" not in response.content


def test_recordings_of_another_organization_are_invisible(outsider_client, room):
    recording = _finished(room)
    base = f"/rooms/acme-live/recordings/{recording.pk}"
    for url in [f"{base}/", f"{base}/file", f"{base}/delete", "/rooms/acme-live/recordings/panel"]:
        assert outsider_client.get(url).status_code == 404, url
    assert outsider_client.post(f"{base}/delete").status_code == 404
    assert outsider_client.post(f"{base}/stop").status_code == 404
    assert outsider_client.post("/rooms/acme-live/recordings/start").status_code == 404
    assert Recording.objects.filter(pk=recording.pk).exists()


def test_the_room_page_lists_recordings_and_the_player_page_plays_one(streamer_client, room):
    recording = _finished(room)
    page = streamer_client.get("/rooms/acme-live/")
    assert b"Recordings" in page.content and b"0:03" in page.content and b"10.2 KB" in page.content
    player = streamer_client.get(f"/rooms/acme-live/recordings/{recording.pk}/")
    assert f'src="/rooms/acme-live/recordings/{recording.pk}/file"'.encode() in player.content


def test_deleting_a_recording_removes_its_file_and_row(owner_client, room):
    recording = _finished(room)
    file = Path(settings.RECORDINGS_DIR) / f"org-{room.organization_id}" / "acme-live" / "rec.mp4"
    assert file.exists()
    response = owner_client.post(f"/rooms/acme-live/recordings/{recording.pk}/delete")
    assert response.status_code == 302
    assert not Recording.objects.exists()
    assert not file.exists()
    assert not file.with_name("rec.mp4.xml").exists()


def test_a_running_recording_cannot_be_deleted(owner_client, room):
    recording = Recording.objects.create(room=room, state=RecordingState.RECORDING)
    response = owner_client.post(f"/rooms/acme-live/recordings/{recording.pk}/delete", HTTP_ACCEPT="application/json")
    assert response.status_code == 409
    assert "Stop it before deleting it" in response.json()["detail"]
    assert Recording.objects.filter(pk=recording.pk).exists()


def test_recordings_older_than_the_retention_period_are_deleted_with_their_files(room, team):
    team.organization.recording_retention_days = 30
    team.organization.save()
    old = _finished(room, "old.mp4", age_days=31)
    recent = _finished(room, "recent.mp4", age_days=29)
    assert files.delete_expired_recordings() == 1
    assert list(Recording.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not (Path(settings.RECORDINGS_DIR) / old.file_path.lstrip("/")).exists()

    team.organization.recording_retention_days = 0  # keep forever
    team.organization.save()
    Recording.objects.filter(pk=recent.pk).update(created_at=timezone.now() - timedelta(days=3650))
    assert files.delete_expired_recordings() == 0


def test_a_full_storage_quota_refuses_new_recordings_with_a_message(owner_client, room, team):
    team.organization.recording_storage_limit_mb = 0
    team.organization.save()
    response = owner_client.post("/rooms/acme-live/recordings/start", HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    assert "Delete old recordings" in response.json()["detail"]
    assert not Recording.objects.exists()


def test_omes_info_file_gives_the_final_name_size_and_duration():
    (recorded,) = parse_info(GOLDEN_INFO.read_bytes())
    assert recorded.file_path == "/recordings/default/app/room1/20261201090115_20261201090118.ts"
    assert (recorded.record_bytes, recorded.record_time_ms) == (124344, 2829)
    assert recorded.finish_time.isoformat() == "2026-12-01T09:01:18.282000+00:00"


def test_an_older_omes_info_file_with_output_file_path_is_understood_too():
    xml = GOLDEN_INFO.read_text().replace("<filePath>", "<outputFilePath>").replace("</filePath>", "</outputFilePath>")
    (recorded,) = parse_info(xml)
    assert recorded.file_path.endswith("20261201090115_20261201090118.ts")
