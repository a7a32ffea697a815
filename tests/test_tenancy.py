"""One organization never sees or touches another's rooms: every member page answers 404."""

import pytest

from rooms.models import Room

MEMBER_PAGES = [
    ("get", "/rooms/{id}/"),
    ("get", "/rooms/{id}/edit/"),
    ("get", "/rooms/{id}/delete/"),
    ("post", "/rooms/{id}/delete/"),
    ("get", "/rooms/{id}/publish"),
    ("get", "/?room={id}"),
    ("post", "/rooms/{id}/stream-key"),
    ("post", "/rooms/{id}/rotate-key"),
    ("get", "/rooms/{id}/status"),
]


@pytest.mark.parametrize(("method", "path"), MEMBER_PAGES)
def test_a_member_of_another_organization_gets_404_for_every_room_page(outsider_client, room, method, path):
    key_before = room.stream_key
    response = getattr(outsider_client, method)(path.format(id=room.public_id))
    assert response.status_code == 404, f"{method.upper()} {path} leaked another organization's room"
    assert room.stream_key.encode() not in response.content
    room.refresh_from_db()
    assert room.stream_key == key_before
    assert Room.objects.filter(pk=room.pk).exists()


@pytest.mark.parametrize(("method", "path"), MEMBER_PAGES)
def test_an_unknown_room_is_a_404_page_not_an_error(owner_client, method, path):
    response = getattr(owner_client, method)(path.format(id="no-such-room"))
    assert response.status_code == 404


def test_the_404_page_is_a_page_in_words(owner_client, settings):
    response = owner_client.get("/rooms/no-such-room/")
    assert b"Not found" in response.content
    assert b"Traceback" not in response.content
