"""Who may publish: OBS with the room's stream key (RTMP, SRT, WHIP), the browser with a
single-use credential; a second publisher, a disabled room or a suspended organization are refused."""

import time

import pytest
from django.core import signing

from organizations.models import Membership
from rooms import credentials, services
from rooms.models import LiveSession, LiveState, Room

from .admission_helpers import publish, rtmp_url


@pytest.fixture
def go(django_capture_on_commit_callbacks):
    """Run what the webhook queued after commit (Celery runs eagerly in tests)."""

    def run(call, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return call(*args, **kwargs)

    return run


def _state(room) -> str:
    return Room.objects.get(pk=room.pk).live_state


# --- OBS: the stream key ------------------------------------------------------------------


def test_obs_publishes_with_the_stream_key_and_the_url_is_rewritten_to_the_room(client, room, go):
    response = go(publish, client, rtmp_url(room.stream_key, "x=1"))
    assert response.status_code == 200
    assert response.json() == {"allowed": True, "new_url": "rtmp://ome.example.com:1935/app/acme-live"}
    assert room.stream_key not in response.json()["new_url"], "the key never becomes a stream name"
    assert _state(room) == LiveState.STARTING
    session = LiveSession.objects.get(room=room)
    assert session.protocol == "rtmp" and session.ended_at is None and session.started_by is None


@pytest.mark.parametrize(
    ("url", "new_url"),
    [
        # the streamid URL the room page gives to OBS (OME's srt:// form) ...
        ("srt://ome.example.com:9999/app/{key}", "srt://ome.example.com:9999/app/acme-live"),
        # ... and OME's newer vhost/app/stream streamid, which OME reports as srt://vhost/app/stream
        ("srt://default/app/{key}", "srt://default/app/acme-live"),
    ],
)
def test_srt_publishes_with_the_key_in_the_streamid(client, room, go, url, new_url):
    response = go(publish, client, url.format(key=room.stream_key), protocol="SRT")
    assert response.json() == {"allowed": True, "new_url": new_url}
    assert LiveSession.objects.get(room=room).protocol == "srt"


def test_whip_from_obs_publishes_with_the_key_as_stream_name(client, room, go):
    url = f"http://ome.example.com:3333/app/{room.stream_key}?direction=whip"
    response = go(publish, client, url, protocol="WebRTC")
    assert response.json() == {
        "allowed": True,
        "new_url": "http://ome.example.com:3333/app/acme-live?direction=whip",
    }
    assert LiveSession.objects.get(room=room).protocol == "whip"


def test_a_wrong_key_is_refused(client, room):
    response = publish(client, rtmp_url("sk-not-a-key"))
    assert response.json() == {"allowed": False, "reason": "unknown stream key: it may have been replaced by a new one"}
    assert _state(room) == LiveState.OFFLINE


def test_publishing_to_the_room_id_without_key_or_credential_is_refused(client, room):
    assert publish(client, rtmp_url(room.public_id)).json()["allowed"] is False
    url = f"ws://ome.example.com:3333/app/{room.public_id}?direction=send"
    assert publish(client, url, protocol="WebRTC").json()["allowed"] is False


def test_a_rotated_key_stops_working_at_once_and_the_new_one_works(client, room, go):
    old_key = room.stream_key
    new_key = services.rotate_stream_key(room=room)
    assert publish(client, rtmp_url(old_key)).json()["allowed"] is False
    assert go(publish, client, rtmp_url(new_key)).json()["allowed"] is True


def test_another_organizations_key_only_ever_opens_that_organizations_room(client, room, other_room, go):
    response = go(publish, client, rtmp_url(other_room.stream_key))
    assert response.json()["new_url"].endswith("/app/globex-live")
    assert _state(room) == LiveState.OFFLINE
    assert _state(other_room) == LiveState.STARTING


def test_a_disabled_room_cannot_go_live(client, room):
    room.is_enabled = False
    room.save()
    response = publish(client, rtmp_url(room.stream_key))
    assert response.json() == {"allowed": False, "reason": "this room is disabled and cannot go live"}


def test_a_suspended_organization_cannot_go_live(client, room, team):
    team.organization.is_suspended = True
    team.organization.save()
    response = publish(client, rtmp_url(room.stream_key))
    assert response.json() == {"allowed": False, "reason": "this organization is suspended and cannot go live"}


def test_an_unknown_application_is_refused(client, room):
    response = publish(client, f"rtmp://ome.example.com:1935/other/{room.stream_key}")
    assert response.json() == {"allowed": False, "reason": "unknown application 'other'"}


# --- One publisher at a time --------------------------------------------------------------


def test_a_second_publisher_is_refused_while_the_room_is_live(client, room, go):
    assert go(publish, client, rtmp_url(room.stream_key), port=1111).json()["allowed"] is True
    second = publish(client, rtmp_url(room.stream_key), port=2222)
    assert second.json() == {"allowed": False, "reason": "this room is already live: stop the other stream first"}


def test_a_second_publisher_is_refused_before_the_first_ones_go_live_is_even_processed(client, room):
    # No on-commit execution: the database still says offline, as it does while Celery is busy.
    assert publish(client, rtmp_url(room.stream_key), port=1111).json()["allowed"] is True
    assert _state(room) == LiveState.OFFLINE
    assert publish(client, rtmp_url(room.stream_key), port=2222).json()["allowed"] is False


def test_the_closing_after_a_refused_second_publisher_does_not_take_the_live_room_offline(client, room, go):
    url = rtmp_url(room.stream_key)
    go(publish, client, url, port=1111)
    assert publish(client, url, port=2222).json()["allowed"] is False
    # OME follows a refused publish with a closing that carries new_url (see ome-golden).
    go(publish, client, url, status="closing", new_url=url, port=2222)
    assert _state(room) == LiveState.STARTING
    go(publish, client, url, status="closing", new_url="rtmp://ome.example.com:1935/app/something-else", port=1111)
    assert _state(room) == LiveState.STARTING, "a closing for another stream name changes nothing"


def test_the_admitted_publishers_closing_ends_the_live_and_the_session(client, room, go):
    url = rtmp_url(room.stream_key)
    new_url = go(publish, client, url, port=1111).json()["new_url"]
    services.go_live(room_id=room.pk, confirmed=True)  # the reconcile loop saw the stream
    response = go(publish, client, url, status="closing", new_url=new_url, port=1111)
    assert response.json() == {}
    assert _state(room) == LiveState.OFFLINE
    assert LiveSession.objects.get(room=room).ended_at is not None
    assert go(publish, client, url, port=3333).json()["allowed"] is True, "the room can go live again"


def test_a_publisher_slot_left_behind_by_a_lost_closing_does_not_block_the_room_forever(client, room, go, monkeypatch):
    go(publish, client, rtmp_url(room.stream_key), port=1111)
    services.go_offline(room_id=room.pk)  # the reconcile loop noticed the stream is gone
    assert publish(client, rtmp_url(room.stream_key), port=2222).json()["allowed"] is False, "within the grace"
    later = time.time() + services.STARTING_GRACE_SECONDS + 1
    monkeypatch.setattr("rooms.admission.time.time", lambda: later)
    assert publish(client, rtmp_url(room.stream_key), port=2222).json()["allowed"] is True


# --- The browser: single-use publish credentials ------------------------------------------


def _browser_url(room, credential: str) -> str:
    return f"ws://ome.example.com:3333/app/{room.public_id}?direction=send&credential={credential}"


def test_a_member_publishes_from_the_browser_with_a_credential(client, room, team, go):
    credential = credentials.mint_publish_credential(room_id=room.pk, user_id=team.streamer.pk)
    response = go(publish, client, _browser_url(room, credential), protocol="WebRTC")
    assert response.json() == {"allowed": True}
    session = LiveSession.objects.get(room=room)
    assert session.protocol == "webrtc" and session.started_by == team.streamer


def test_a_replayed_credential_is_refused(client, room, team, go):
    credential = credentials.mint_publish_credential(room_id=room.pk, user_id=team.streamer.pk)
    url = _browser_url(room, credential)
    assert go(publish, client, url, protocol="WebRTC", port=1111).json()["allowed"] is True
    go(publish, client, url, protocol="WebRTC", status="closing", new_url=url, port=1111)
    assert _state(room) == LiveState.OFFLINE
    replay = publish(client, url, protocol="WebRTC", port=2222)
    assert replay.json() == {
        "allowed": False,
        "reason": "this publish credential was already used: press Go live again",
    }


def test_an_expired_credential_is_refused(client, room, team, monkeypatch):
    minted_at = time.time() - credentials.publish_credential_seconds() - 5
    monkeypatch.setattr(signing.time, "time", lambda: minted_at)
    credential = credentials.mint_publish_credential(room_id=room.pk, user_id=team.streamer.pk)
    monkeypatch.undo()
    response = publish(client, _browser_url(room, credential), protocol="WebRTC")
    assert response.json() == {"allowed": False, "reason": "the publish credential expired: press Go live again"}


def test_a_credential_only_opens_the_room_it_was_minted_for(client, room, other_room, other_team):
    credential = credentials.mint_publish_credential(room_id=other_room.pk, user_id=other_team.owner.pk)
    response = publish(client, _browser_url(room, credential), protocol="WebRTC")
    assert response.json() == {"allowed": False, "reason": "the publish credential is for another room"}


def test_a_tampered_credential_is_refused(client, room, team):
    credential = credentials.mint_publish_credential(room_id=room.pk, user_id=team.streamer.pk)
    tampered = credential[:-3] + ("AAA" if not credential.endswith("AAA") else "BBB")
    response = publish(client, _browser_url(room, tampered), protocol="WebRTC")
    assert response.json() == {"allowed": False, "reason": "the publish credential is not valid"}


def test_a_member_removed_after_the_credential_was_minted_is_refused(client, room, team):
    credential = credentials.mint_publish_credential(room_id=room.pk, user_id=team.streamer.pk)
    Membership.objects.filter(user=team.streamer, organization=team.organization).delete()
    response = publish(client, _browser_url(room, credential), protocol="WebRTC")
    assert response.json() == {
        "allowed": False,
        "reason": "you are no longer a member of this room's organization",
    }


def test_the_browser_publishers_closing_takes_the_room_offline(client, room, team, go):
    credential = credentials.mint_publish_credential(room_id=room.pk, user_id=team.streamer.pk)
    url = _browser_url(room, credential)
    go(publish, client, url, protocol="WebRTC", port=4444)
    assert _state(room) == LiveState.STARTING
    go(publish, client, url, protocol="WebRTC", status="closing", new_url=url, port=4444)
    assert _state(room) == LiveState.OFFLINE


# --- The hot path -------------------------------------------------------------------------


def test_an_obs_publish_costs_one_indexed_query(client, room, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert publish(client, rtmp_url(room.stream_key)).json()["allowed"] is True


def test_a_refused_obs_publish_costs_one_query(client, room, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert publish(client, rtmp_url("sk-wrong")).json()["allowed"] is False


def test_a_browser_publish_costs_two_indexed_queries(client, room, team, django_assert_num_queries):
    credential = credentials.mint_publish_credential(room_id=room.pk, user_id=team.streamer.pk)
    with django_assert_num_queries(2):
        assert publish(client, _browser_url(room, credential), protocol="WebRTC").json()["allowed"] is True


def test_a_publishers_closing_costs_no_query(client, room, django_assert_num_queries):
    url = rtmp_url(room.stream_key)
    new_url = publish(client, url, port=1111).json()["new_url"]
    with django_assert_num_queries(0):
        assert publish(client, url, status="closing", new_url=new_url, port=1111).json() == {}
