"""Rotating FIELD_ENCRYPTION_KEY, as docs/deploy.md describes it: put the new key first and keep the
old one second, run `manage.py rotate_encryption_keys`, remove the old key. OBS keeps publishing
with the same stream key throughout, and destination keys stay readable."""

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from broadcasts.models import Destination, Push
from rooms.models import Room

from .admission_helpers import publish, rtmp_url
from .factories import RoomFactory

K1 = Fernet.generate_key().decode()
K2 = Fernet.generate_key().decode()


@pytest.fixture
def keys(settings):
    settings.FIELD_ENCRYPTION_KEYS = [K1]
    return settings


@pytest.fixture
def restreaming_room(keys, team):
    room = RoomFactory(organization=team.organization, public_id="acme-live")
    destination = Destination.objects.create(
        room=room, name="YouTube", url="rtmp://a.rtmp.youtube.com/live2", stream_key="youtube-key-1234"
    )
    Push.objects.create(
        room=room,
        destination=destination,
        stream_name="acme-live_rtmp",
        url=destination.url,
        stream_key="push-key-5678",
    )
    return room


def obs_is_admitted(client, stream_key: str) -> bool:
    """OBS connects with the key (and disconnects again, so that the next try starts afresh)."""
    answer = publish(client, rtmp_url(stream_key), port=1111).json()
    if answer.get("allowed"):
        publish(client, rtmp_url(stream_key), status="closing", new_url=answer["new_url"], port=1111)
    return bool(answer.get("allowed"))


def raw_values(table: str, column: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def rotate(**options) -> str:
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out, **options)
    return out.getvalue()


def test_obs_keeps_publishing_through_a_key_rotation_and_destination_keys_stay_readable(client, keys, restreaming_room):
    stream_key = restreaming_room.stream_key
    assert obs_is_admitted(client, stream_key)

    keys.FIELD_ENCRYPTION_KEYS = [K2, K1]  # step 1: the new key first, the old one second
    assert obs_is_admitted(client, stream_key), "a new encryption key must not make every stream key unknown"

    report = rotate()  # step 2
    assert "rooms.Room.stream_key: 1 re-encrypted" in report
    assert "broadcasts.Destination.stream_key: 1 re-encrypted" in report
    assert "broadcasts.Push.stream_key: 1 re-encrypted" in report

    keys.FIELD_ENCRYPTION_KEYS = [K2]  # step 3: the old key is gone
    assert obs_is_admitted(client, stream_key)
    assert Room.objects.get(pk=restreaming_room.pk).stream_key == stream_key
    assert Destination.objects.get().stream_key == "youtube-key-1234"
    assert Push.objects.get().stream_key == "push-key-5678"
    for table in ("rooms_room", "broadcasts_destination", "broadcasts_push"):
        for token in raw_values(table, "stream_key"):
            Fernet(K2.encode()).decrypt(token.encode())  # raises if anything is still under K1


def test_running_the_command_again_changes_nothing(keys, restreaming_room):
    keys.FIELD_ENCRYPTION_KEYS = [K2, K1]
    rotate()
    before = raw_values("rooms_room", "stream_key") + raw_values("broadcasts_destination", "stream_key")
    report = rotate()
    assert "rooms.Room.stream_key: 0 re-encrypted, 1 already under the first key" in report
    assert "broadcasts.Destination.stream_key: 0 re-encrypted, 1 already under the first key" in report
    assert raw_values("rooms_room", "stream_key") + raw_values("broadcasts_destination", "stream_key") == before


def test_a_dry_run_counts_without_writing(keys, restreaming_room):
    keys.FIELD_ENCRYPTION_KEYS = [K2, K1]
    before = raw_values("rooms_room", "stream_key")
    report = rotate(dry_run=True)
    assert "rooms.Room.stream_key: 1 to re-encrypt" in report
    assert raw_values("rooms_room", "stream_key") == before


def test_the_command_works_through_many_rows_in_batches(keys, team):
    rooms = [RoomFactory(organization=team.organization) for _ in range(7)]
    keys.FIELD_ENCRYPTION_KEYS = [K2, K1]
    assert "rooms.Room.stream_key: 7 re-encrypted" in rotate(batch_size=3)
    keys.FIELD_ENCRYPTION_KEYS = [K2]
    assert sorted(Room.objects.values_list("stream_key", flat=True)) == sorted(room.stream_key for room in rooms)


def test_a_value_no_configured_key_can_read_stops_the_command_with_the_reason(keys, restreaming_room):
    keys.FIELD_ENCRYPTION_KEYS = [K2]  # K1, which encrypted everything, was removed too early
    with pytest.raises(CommandError, match="could not be decrypted"):
        rotate()


def test_a_new_secret_key_does_not_change_which_room_a_stream_key_opens(client, keys, restreaming_room, settings):
    settings.SECRET_KEY = "a-brand-new-django-secret-key"
    assert obs_is_admitted(client, restreaming_room.stream_key)
