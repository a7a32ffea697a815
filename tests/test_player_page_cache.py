"""The player pages of a public room at audience scale: small, rendered once for every anonymous
viewer, revalidated with an ETag (a second view is one request answered 304), and never stale or
shared when they must not be (private rooms, signed-in members, any change to the room)."""

import pytest

from rooms import services
from rooms.models import Visibility

PLAYER_URLS = ["/player.html?room={id}", "/watch/{id}", "/embed/{id}"]


@pytest.mark.parametrize("url", PLAYER_URLS)
def test_the_page_is_small(client, room, url):
    assert len(client.get(url.format(id=room.public_id)).content) < 10 * 1024


@pytest.mark.parametrize("url", PLAYER_URLS)
def test_a_second_view_is_one_request_answered_not_modified(client, room, url):
    first = client.get(url.format(id=room.public_id))
    assert first["ETag"] and "no-cache" in first["Cache-Control"]
    assert "Cookie" in first["Vary"], "a signed-in member's page differs: shared caches must know"
    second = client.get(url.format(id=room.public_id), HTTP_IF_NONE_MATCH=first["ETag"])
    assert second.status_code == 304 and second.content == b""
    assert second["ETag"] == first["ETag"]


@pytest.mark.parametrize("url", PLAYER_URLS)
def test_anonymous_viewers_after_the_first_cost_no_query(client, room, url, django_assert_num_queries):
    first = client.get(url.format(id=room.public_id))
    with django_assert_num_queries(0):
        again = client.get(url.format(id=room.public_id))
    assert again.content == first.content
    assert again["Content-Security-Policy"] == first["Content-Security-Policy"]


def test_a_changed_title_shows_on_the_very_next_view(client, room):
    client.get(f"/watch/{room.public_id}")
    services.update_room(room=room, title="Acme Live — the keynote")
    assert "Acme Live — the keynote" in client.get(f"/watch/{room.public_id}").content.decode()


def test_new_allowed_origins_frame_the_player_at_once(client, room):
    client.get(f"/embed/{room.public_id}")
    services.update_room(room=room, allowed_embed_origins="https://blog.example.com")
    response = client.get(f"/embed/{room.public_id}")
    assert response["Content-Security-Policy"] == "frame-ancestors 'self' https://blog.example.com"


@pytest.mark.parametrize("url", PLAYER_URLS)
def test_a_room_made_private_is_no_longer_served_from_the_cache(client, room, url):
    client.get(url.format(id=room.public_id))
    services.update_room(room=room, visibility=Visibility.PRIVATE)
    response = client.get(url.format(id=room.public_id))
    assert response.status_code == 302 and "/login" in response["Location"]


def test_a_deleted_room_is_gone_at_once(client, room):
    client.get(f"/watch/{room.public_id}")
    services.delete_room(room=room)
    assert client.get(f"/watch/{room.public_id}").status_code == 404


def test_a_private_rooms_page_is_never_cached_or_revalidated(streamer_client, room):
    services.update_room(room=room, visibility=Visibility.PRIVATE)
    first = streamer_client.get(f"/watch/{room.public_id}")
    second = streamer_client.get(f"/watch/{room.public_id}")
    assert "ETag" not in first and "no-store" in first["Cache-Control"] and "private" in first["Cache-Control"]
    assert first.content != second.content, "each view gets a fresh playback token"


def test_a_signed_in_member_gets_their_own_page_not_the_anonymous_one(client, streamer_client, room, team):
    client.get(f"/watch/{room.public_id}")  # the anonymous page, now cached
    page = streamer_client.get(f"/watch/{room.public_id}").content.decode()
    assert team.streamer.email in page, "the member's own menu"
    assert team.streamer.email not in client.get(f"/watch/{room.public_id}").content.decode()


def test_the_cached_page_skips_the_session_and_user_but_keeps_the_security_headers(client, room):
    client.get(f"/watch/{room.public_id}")
    response = client.get(f"/watch/{room.public_id}")
    assert not hasattr(response.wsgi_request, "user"), "served ahead of the session and auth middleware"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"
