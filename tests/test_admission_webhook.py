"""POST /ome/admission speaks OME's AdmissionWebhooks contract: signatures, parsing, errors.

The golden requests were recorded from a real OME 0.21.0 with the secret `hook-secret`.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest

from rooms import admission
from rooms.models import LiveState, Visibility

from .admission_helpers import (
    GOLDEN_SECRET,
    golden_requests,
    ome_body,
    ome_signature,
    play,
    post_admission,
    publish,
    rtmp_url,
)
from .factories import RoomFactory

GOLDEN = golden_requests()


@pytest.fixture
def golden_secret(settings):
    settings.OME_WEBHOOK_SECRET = GOLDEN_SECRET
    # Recorded yesterday or earlier: as a replay today they would be stale (tested below).
    settings.OME_WEBHOOK_MAX_AGE = 0


@pytest.fixture
def golden_rooms(team):
    """The room of the recording: 'room1', public, with the stream key 'sk-test-key'."""
    RoomFactory(organization=team.organization, public_id="room1", key="sk-test-key")


@pytest.mark.parametrize("recorded", GOLDEN, ids=[f"golden-{i}" for i in range(len(GOLDEN))])
def test_every_request_recorded_from_a_real_ome_verifies_and_parses(recorded):
    body = recorded["raw_body"].encode()
    assert admission.signature_is_valid(body, recorded["x_ome_signature"], GOLDEN_SECRET)
    assert "=" not in recorded["x_ome_signature"], "real OME strips the padding"
    parsed = admission.parse(body)
    raw = json.loads(body)["request"]
    assert parsed.direction == raw["direction"]
    assert parsed.status == raw["status"]
    assert parsed.protocol == raw["protocol"].lower(), "OME sends RTMP/WebRTC in upper and mixed case"
    assert parsed.url.app == "app"
    assert parsed.client_port == json.loads(body)["client"]["port"]


@pytest.mark.parametrize("recorded", GOLDEN, ids=[f"golden-{i}" for i in range(len(GOLDEN))])
def test_the_portal_accepts_every_golden_request_and_answers_in_omes_format(
    client, golden_secret, golden_rooms, recorded
):
    response = post_admission(client, recorded["raw_body"].encode(), signature=recorded["x_ome_signature"])
    assert response.status_code == 200, response.content
    answer = response.json()
    if json.loads(recorded["raw_body"])["request"]["status"] == "closing":
        assert answer == {}
    else:
        assert isinstance(answer["allowed"], bool)
        assert set(answer) <= {"allowed", "new_url", "lifetime", "reason"}


def test_the_recorded_obs_publish_is_rewritten_to_the_room_exactly_as_ome_accepted_it(
    client, golden_secret, golden_rooms, django_capture_on_commit_callbacks
):
    opening, refused = GOLDEN[0], GOLDEN[8]
    with django_capture_on_commit_callbacks(execute=True):
        response = post_admission(client, opening["raw_body"].encode(), signature=opening["x_ome_signature"])
    assert (
        response.json() == opening["portal_answer"] == {"allowed": True, "new_url": "rtmp://127.0.0.1:21935/app/room1"}
    )
    response = post_admission(client, refused["raw_body"].encode(), signature=refused["x_ome_signature"])
    assert response.json()["allowed"] is False
    assert "stream key" in response.json()["reason"]


def test_a_golden_request_replayed_today_is_refused_as_stale(client, settings, golden_rooms):
    settings.OME_WEBHOOK_SECRET = GOLDEN_SECRET
    recorded = GOLDEN[0]
    response = post_admission(client, recorded["raw_body"].encode(), signature=recorded["x_ome_signature"])
    assert response.status_code == 403
    assert "more than 300 s from now" in response.json()["reason"]


def test_the_padded_form_of_the_signature_is_accepted_too(client, room):
    body = ome_body(direction="outgoing", status="opening", protocol="WebRTC", url="ws://ome:3333/app/acme-live")
    signature = ome_signature(body)
    padded = signature + "=" * (-len(signature) % 4)
    assert padded != signature
    response = post_admission(client, body, signature=padded)
    assert response.status_code == 200
    assert response.json() == {"allowed": True}


def test_a_forged_signature_is_refused_with_403(client, room):
    body = ome_body(direction="outgoing", status="opening", protocol="WebRTC", url="ws://ome:3333/app/acme-live")
    response = post_admission(client, body, signature=ome_signature(body, "not-the-secret"))
    assert response.status_code == 403
    assert response.json()["allowed"] is False
    assert "X-OME-Signature" in response.json()["reason"]


def test_a_signature_of_another_body_is_refused(client, room):
    body = ome_body(direction="outgoing", status="opening", protocol="WebRTC", url="ws://ome:3333/app/acme-live")
    tampered = body.replace(b"acme-live", b"acme-livx")
    assert post_admission(client, tampered, signature=ome_signature(body)).status_code == 403


def test_a_missing_signature_is_refused_with_403(client, room):
    body = ome_body(direction="outgoing", status="opening", protocol="WebRTC", url="ws://ome:3333/app/acme-live")
    response = post_admission(client, body, signature=None)
    assert response.status_code == 403
    assert "missing" in response.json()["reason"]


@pytest.mark.parametrize("skew", [timedelta(minutes=-10), timedelta(minutes=10)])
def test_a_request_signed_long_ago_or_in_the_future_is_refused_as_stale(client, room, skew):
    body = ome_body(
        direction="outgoing",
        status="opening",
        protocol="WebRTC",
        url="ws://ome:3333/app/acme-live",
        time=datetime.now(UTC) + skew,
    )
    response = post_admission(client, body)
    assert response.status_code == 403
    assert "replay" in response.json()["reason"]


def test_a_request_within_a_few_seconds_of_clock_skew_is_accepted(client, room):
    body = ome_body(
        direction="outgoing",
        status="opening",
        protocol="WebRTC",
        url="ws://ome:3333/app/acme-live",
        time=datetime.now(UTC) - timedelta(seconds=20),
    )
    assert post_admission(client, body).json() == {"allowed": True}


def test_only_post_is_answered(client, db):
    assert client.get("/ome/admission").status_code == 405


def test_the_webhook_needs_no_csrf_token(room):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    body = ome_body(direction="outgoing", status="opening", protocol="WebRTC", url="ws://ome:3333/app/acme-live")
    assert post_admission(strict, body).status_code == 200


def _signed_post(client, raw: bytes):
    return post_admission(client, raw, signature=ome_signature(raw))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "not JSON"),
        (b"{not json", "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"client": {"address": "1.2.3.4", "port": 1}}', "body.request must be an object"),
        (b'{"request": {}, "client": "x"}', "body.client must be an object"),
        (
            b'{"client": {"address": "1.2.3.4", "port": "80"}, "request": {}}',
            "client.port must be a number",
        ),
        (
            b'{"client": {"address": "1.2.3.4", "port": 1}, "request": {"direction": "sideways", "status": "opening",'
            b' "protocol": "rtmp", "url": "rtmp://h/app/s", "time": "2026-01-01T00:00:00Z"}}',
            "request.direction",
        ),
        (
            b'{"client": {"address": "1.2.3.4", "port": 1}, "request": {"direction": "incoming", "status": "open",'
            b' "protocol": "rtmp", "url": "rtmp://h/app/s", "time": "2026-01-01T00:00:00Z"}}',
            "request.status",
        ),
        (
            b'{"client": {"address": "1.2.3.4", "port": 1}, "request": {"direction": "incoming", "status": "opening",'
            b' "protocol": "rtmp", "time": "2026-01-01T00:00:00Z"}}',
            "request.url must be a string",
        ),
        (
            b'{"client": {"address": "1.2.3.4", "port": 1}, "request": {"direction": "incoming", "status": "opening",'
            b' "protocol": "rtmp", "url": "not a url", "time": "2026-01-01T00:00:00Z"}}',
            "not a stream URL",
        ),
        (
            b'{"client": {"address": "1.2.3.4", "port": 1}, "request": {"direction": "incoming", "status": "opening",'
            b' "protocol": "rtmp", "url": "rtmp://h/app/s", "time": "yesterday"}}',
            "ISO 8601",
        ),
        (
            b'{"client": {"address": "1.2.3.4", "port": 1}, "request": {"direction": "incoming", "status": "opening",'
            b' "protocol": 7, "url": "rtmp://h/app/s", "time": "2026-01-01T00:00:00Z"}}',
            "request.protocol must be a string",
        ),
    ],
)
def test_a_malformed_but_signed_body_gets_400_with_a_reason_never_500(client, db, raw, reason):
    response = _signed_post(client, raw)
    assert response.status_code == 400, response.content
    assert reason in response.json()["reason"]


def test_a_malformed_body_without_a_valid_signature_learns_nothing_but_403(client, db):
    response = post_admission(client, b"{not json", signature="AAAA")
    assert response.status_code == 403


def test_unknown_fields_from_newer_ome_versions_are_ignored(client, room):
    body = json.loads(
        ome_body(
            direction="outgoing", status="opening", protocol="LLHLS", url="http://ome:3333/app/acme-live/llhls.m3u8"
        )
    )
    body["client"]["geo"] = {"country": "FR"}
    body["request"]["session_id"] = 42
    body["trace"] = "abc"
    raw = json.dumps(body).encode()
    response = _signed_post(client, raw)
    assert response.status_code == 200
    assert response.json() == {"allowed": True}


@pytest.mark.parametrize("protocol", ["RTMP", "rtmp", "Rtmp"])
def test_the_protocol_is_matched_whatever_its_case(client, room, protocol, django_capture_on_commit_callbacks):
    response = publish(client, rtmp_url(room.stream_key), protocol=protocol)
    assert response.json()["allowed"] is True


def test_failed_signatures_are_rate_limited_per_client_address_but_ome_is_never_locked_out(client, room, settings):
    settings.OME_WEBHOOK_FAILURES_PER_WINDOW = 3
    body = ome_body(direction="outgoing", status="opening", protocol="WebRTC", url="ws://ome:3333/app/acme-live")
    codes = [post_admission(client, body, signature="forged", remote_addr="198.51.100.9").status_code for _ in range(5)]
    assert codes == [403, 403, 403, 429, 429]
    limited = post_admission(client, body, signature="forged", remote_addr="198.51.100.9")
    assert limited["Retry-After"] == "60"
    assert post_admission(client, body, signature="forged", remote_addr="198.51.100.10").status_code == 403, (
        "another address has its own budget"
    )
    # A correctly signed request from the limited address still gets its answer.
    assert post_admission(client, body, remote_addr="198.51.100.9").json() == {"allowed": True}


def test_refusals_are_logged_without_the_stream_key(client, room, caplog):
    caplog.set_level("INFO", logger="rooms.admission")
    room.is_enabled = False
    room.save()
    response = publish(client, rtmp_url(room.stream_key))
    assert response.json()["allowed"] is False
    assert "disabled" in caplog.text
    assert room.stream_key not in caplog.text


def test_closing_requests_get_an_empty_object(client, room):
    response = play(client, "ws://ome:3333/app/acme-live", status="closing", new_url="ws://ome:3333/app/acme-live")
    assert response.status_code == 200
    assert response.json() == {}


def test_a_room_already_live_is_refused_for_a_second_publisher_even_via_golden_shaped_requests(client, room):
    room.live_state = LiveState.LIVE
    room.visibility = Visibility.PUBLIC
    room.save()
    response = publish(client, rtmp_url(room.stream_key, "x=1"))
    assert response.json() == {"allowed": False, "reason": "this room is already live: stop the other stream first"}
