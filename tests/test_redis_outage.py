"""While Redis (the cache) cannot be reached, the portal keeps deciding from the database.

The cache is pointed at a port where nothing listens: the real Redis client gets "connection
refused", as it does when Redis is down. (Redis stopped and restarted under the production
processes, the queue included, is in tests/faults/.)
"""

from __future__ import annotations

import socket

import pytest

from rooms import credentials, services
from rooms.models import LiveState, Room

from .admission_helpers import ome_body, play, post_admission, publish, rtmp_url
from .api.conftest import make_token


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again on return: nothing listens there


@pytest.fixture
def cache_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


def _live(room) -> Room:
    Room.objects.filter(pk=room.pk).update(live_state=LiveState.LIVE)
    return room


# --- The admission webhook ----------------------------------------------------------------


def test_viewers_are_admitted_from_the_database_while_redis_is_down(client, room, cache_down):
    _live(room)
    response = play(client, f"ws://ome.example.com:3333/app/{room.public_id}")
    assert response.status_code == 200, response.content[:300]
    assert response.json() == {"allowed": True}
    closing = play(client, f"ws://ome.example.com:3333/app/{room.public_id}", status="closing")
    assert (closing.status_code, closing.json()) == (200, {})


def test_a_private_room_still_needs_its_token_while_redis_is_down(client, room, team, cache_down):
    Room.objects.filter(pk=room.pk).update(visibility="private", live_state=LiveState.LIVE)
    refused = play(client, f"ws://ome.example.com:3333/app/{room.public_id}")
    assert refused.json()["allowed"] is False
    token = credentials.mint_playback_token(room_id=room.pk, user_id=team.streamer.pk)
    admitted = play(client, f"ws://ome.example.com:3333/app/{room.public_id}?token={token}")
    assert admitted.json() == {"allowed": True}


def test_obs_goes_live_with_its_key_while_redis_is_down_and_the_answer_says_what_was_skipped(client, room, cache_down):
    response = publish(client, rtmp_url(room.stream_key))
    assert response.status_code == 200, response.content[:300]
    answer = response.json()
    assert answer["allowed"] is True
    assert answer["new_url"] == "rtmp://ome.example.com:1935/app/acme-live"
    assert "one-publisher slot is unavailable" in answer["reason"]


def test_a_wrong_key_is_still_refused_while_redis_is_down(client, room, cache_down):
    response = publish(client, rtmp_url("not-the-key"))
    assert response.json()["allowed"] is False


def test_a_room_the_database_says_is_live_refuses_a_second_publisher_while_redis_is_down(client, room, cache_down):
    _live(room)
    response = publish(client, rtmp_url(room.stream_key))
    assert response.json() == {"allowed": False, "reason": "this room is already live: stop the other stream first"}


def test_a_browser_credential_is_refused_while_its_single_use_cannot_be_guaranteed(client, room, team, cache_down):
    credential = credentials.mint_publish_credential(room_id=room.pk, user_id=team.streamer.pk)
    url = f"ws://ome.example.com:3333/app/{room.public_id}?direction=send&credential={credential}"
    response = publish(client, url, protocol="WebRTC")
    assert response.status_code == 200
    assert response.json() == {"allowed": False, "reason": admission_reason()}


def admission_reason() -> str:
    return (
        "the portal cannot make sure this publish credential is used only once right now "
        "(its cache is unavailable): press Go live again in a few seconds"
    )


def test_a_bad_signature_is_still_refused_with_403_while_redis_is_down(client, room, cache_down):
    body = ome_body(direction="outgoing", status="opening", protocol="WebRTC", url=rtmp_url(room.public_id))
    response = post_admission(client, body, signature="forged")
    assert response.status_code == 403


def test_a_room_goes_live_and_offline_while_redis_is_down(room, cache_down, django_capture_on_commit_callbacks):
    # Resetting the viewer count after the commit must not turn a done change into an error.
    with django_capture_on_commit_callbacks(execute=True):
        services.go_live(room_id=room.pk, protocol="RTMP")
    assert Room.objects.get(pk=room.pk).live_state == LiveState.STARTING

    with django_capture_on_commit_callbacks(execute=True):
        services.go_offline(room_id=room.pk)
    assert Room.objects.get(pk=room.pk).live_state == LiveState.OFFLINE
    assert not room.sessions.open().exists()


# --- The API and the pages ----------------------------------------------------------------


def test_the_rest_api_answers_json_503_with_retry_after_while_redis_is_down(team, room, cache_down):
    api = make_token(team.organization, "owner").client()
    response = api.get("/api/v1/rooms/")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("application/json")
    assert "cannot be reached" in response.json()["detail"]
    assert int(response["Retry-After"]) > 0


def test_the_original_api_answers_omes_envelope_with_503_while_redis_is_down(client, team, room, cache_down):
    token = make_token(team.organization, "owner").value
    import base64

    auth = "Basic " + base64.b64encode(token.encode()).decode()
    response = client.get("/v1/vhosts/default/apps/app/streams", HTTP_AUTHORIZATION=auth)
    assert response.status_code == 503
    body = response.json()
    assert body["statusCode"] == 503 and body["message"].startswith("[HTTP] Service Unavailable")
    assert int(response["Retry-After"]) > 0


def test_a_page_that_needs_redis_answers_a_short_503_page_in_words(client, team, cache_down):
    response = client.post("/accounts/login/", {"username": team.owner.email, "password": "whatever"})
    assert response.status_code == 503
    assert b"Briefly unavailable" in response.content
    assert b"Traceback" not in response.content
    assert int(response["Retry-After"]) > 0


def test_pages_that_do_not_need_redis_keep_working(owner_client, room, cache_down):
    response = owner_client.get(room.get_absolute_url())
    assert response.status_code == 200
