"""An address with a NUL byte gets a 400 that says why, never a 500 (PostgreSQL cannot hold NUL)."""

from __future__ import annotations

import pytest

from .factories import RoomFactory

pytestmark = pytest.mark.django_db

PAGES = [
    "/watch/a%00b",
    "/watch/a%00b/status",
    "/watch/a%00b/thumbnail.jpg",
    "/embed/a%00b",
    "/player.html?room=a%00b",
    "/?room=a%00b",
    "/oembed?url=http://testserver/watch/a%00b",
    "/rooms/a%00b/",
]


@pytest.mark.parametrize("url", PAGES)
def test_a_page_address_with_a_nul_byte_is_a_bad_request_in_words(client, url):
    response = client.get(url)

    assert response.status_code == 400
    assert b"NUL byte" in response.content


def test_the_apis_answer_a_nul_byte_in_their_own_shape(client):
    api = client.get("/api/v1/rooms/a%00b/")
    original = client.get("/v1/vhosts/default/apps/app/streams/a%00b")

    assert api.status_code == 400 and "NUL byte" in api.json()["detail"]
    assert original.status_code == 400 and "NUL byte" in original.content.decode()


def test_an_address_without_one_is_served_as_before(client, team):
    room = RoomFactory(organization=team.organization)

    response = client.get(f"/watch/{room.public_id}")

    assert response.status_code == 200
