"""Pushes (restreams) behave like OME 0.21's push publisher: they wait for their stream, connect,
push with growing counters, fail on an unreachable destination and retry, survive the stream
ending, and stay listed a moment after stopPush."""

from __future__ import annotations

import time

import pytest

from ome_emulator.testing import EmulatorProcess

pytestmark = pytest.mark.emulator

START = "/v1/vhosts/default/apps/app:startPush"
STOP = "/v1/vhosts/default/apps/app:stopPush"


def start_push(
    ome: EmulatorProcess, push_id: str, stream: str, url: str = "rtmp://127.0.0.1:19352/live", **extra: object
) -> dict:
    body = {"id": push_id, "stream": {"name": stream}, "protocol": "rtmp", "url": url, "streamKey": "sinkkey"} | extra
    response = ome.api("POST", START, body)
    assert response.status_code == 200, response.text
    return response.json()["response"]


def push(ome: EmulatorProcess, push_id: str) -> dict:
    return next(item for item in ome.pushes() if item["id"] == push_id)


def test_a_push_waits_in_ready_and_starts_when_its_stream_goes_live(ome: EmulatorProcess) -> None:
    created = start_push(ome, "yt", "room1_rtmp")
    assert created["state"] == "ready"
    time.sleep(1.2)
    assert push(ome, "yt")["state"] == "ready", "a push must not start before its stream is live"

    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    ome.wait_for(lambda: ome.push_state("yt") == "pushing", timeout=3, what="the push to start")
    first = push(ome, "yt")
    time.sleep(1.0)
    later = push(ome, "yt")
    assert later["sentBytes"] > first["sentBytes"] > 0
    assert later["sentTime"] - first["sentTime"] >= 900
    rate = later["sentBytes"] / (later["sentTime"] / 1000)
    assert 20_000 < rate < 100_000, f"an implausible push bitrate: {rate:.0f} B/s"
    assert later["startTime"] != "1970-01-01T00:00:00.000+00:00"
    assert later["totalsentBytes"] == later["sentBytes"]


def test_a_push_passes_through_connecting_before_pushing(ome: EmulatorProcess) -> None:
    # OME 0.21 (golden session): ready -> connecting from ~0.2-0.4 s -> pushing at 0.5-0.7 s.
    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    assert start_push(ome, "yt", "room1_rtmp")["state"] == "ready"
    seen = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and (not seen or seen[-1] != "pushing"):
        state = ome.push_state("yt")
        if not seen or seen[-1] != state:
            seen.append(state)
        time.sleep(0.05)
    assert seen == ["ready", "connecting", "pushing"]
    assert push(ome, "yt")["sentBytes"] >= 0


def test_a_push_by_input_name_starts_too(ome: EmulatorProcess) -> None:
    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    start_push(ome, "by-input", "room1")
    ome.wait_for(lambda: ome.push_state("by-input") == "pushing", timeout=3, what="the push to start")


def test_an_unreachable_destination_puts_the_push_in_error_until_it_heals(ome: EmulatorProcess) -> None:
    ome.fail_destination("rtmp://127.0.0.1:19352/live", "Connection refused")
    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    start_push(ome, "bad", "room1_rtmp")
    ome.wait_for(lambda: ome.push_state("bad") == "error", timeout=3, what="the push to fail")
    assert push(ome, "bad")["sentBytes"] == 0
    assert next(item for item in ome.state()["pushes"] if item["id"] == "bad")["error"] == "Connection refused"

    ome.heal_destination("rtmp://127.0.0.1:19352/live")
    ome.wait_for(lambda: ome.push_state("bad") == "pushing", timeout=3, what="OME's retry to succeed")


def test_a_destination_that_breaks_while_pushing_moves_the_push_to_error(ome: EmulatorProcess) -> None:
    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    start_push(ome, "yt", "room1_rtmp", url="rtmp://a.rtmp.youtube.com/live2", streamKey="abcd")
    ome.wait_for(lambda: ome.push_state("yt") == "pushing", timeout=3, what="the push to start")
    # The full destination (url/streamKey) can be named too.
    ome.fail_destination("rtmp://a.rtmp.youtube.com/live2/abcd")
    ome.wait_for(lambda: ome.push_state("yt") == "error", timeout=3, what="the push to fail")
    other = start_push(ome, "other", "room1_rtmp", url="rtmp://a.rtmp.youtube.com/live2", streamKey="zzzz")
    assert other["state"] == "ready"
    ome.wait_for(lambda: ome.push_state("other") == "pushing", timeout=3, what="another key on the same server to push")


def test_when_the_stream_ends_the_push_goes_back_to_ready_and_restarts_with_it(ome: EmulatorProcess) -> None:
    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    start_push(ome, "yt", "room1_rtmp")
    ome.wait_for(lambda: ome.push_state("yt") == "pushing", timeout=3, what="the push to start")
    time.sleep(0.5)
    ome.unpublish("room1")
    stopped = push(ome, "yt")
    assert stopped["state"] in ("stopped", "ready")
    assert stopped["sequence"] == 1
    assert stopped["sentBytes"] == 0 and stopped["totalsentBytes"] > 0
    ome.wait_for(lambda: ome.push_state("yt") == "ready", timeout=3, what="the push to wait again")

    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    ome.wait_for(lambda: ome.push_state("yt") == "pushing", timeout=3, what="the push to restart")
    again = push(ome, "yt")
    assert again["sequence"] == 1 and again["totalsentBytes"] >= stopped["totalsentBytes"]


def test_stop_push_removes_it_from_the_list_a_moment_later(ome: EmulatorProcess) -> None:
    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    start_push(ome, "yt", "room1_rtmp")
    ome.wait_for(lambda: ome.push_state("yt") == "pushing", timeout=3, what="the push to start")
    response = ome.api("POST", STOP, {"id": "yt"})
    stopped_at = time.monotonic()
    assert response.json() == {"message": "OK", "statusCode": 200}
    # OME 0.21 keeps listing it with its last state (golden session: gone within 2 s).
    assert ome.push_state("yt") == "pushing"
    ome.wait_for(lambda: ome.push_state("yt") is None, timeout=3, what="the push to disappear")
    assert 1.0 < time.monotonic() - stopped_at < 2.5
    stats = ome.api("GET", "/v1/stats/current/vhosts/default/apps/app/streams/room1").json()["response"]
    assert stats["connections"]["push"] == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"id": "x", "stream": {"name": "room1"}, "protocol": "webrtc", "url": "rtmp://h/app"},
            "Could not find protocol 'webrtc': [default/app]",
        ),
        ({"stream": {"name": "room1"}, "protocol": "rtmp"}, "There is no required parameter [ id url]"),
        ({"id": "x", "protocol": "srt", "url": "srt://h:9999"}, "There is no required parameter [ stream.name]"),
        ({"id": "x", "stream": {"name": "room1"}, "protocol": "rtmp", "url": "srt://h:9999"}, "Unsupported protocol"),
        ({"id": "x", "stream": {"name": "room1"}, "protocol": "rtmp", "url": "not a url"}, "Could not parse url"),
        (
            {"id": "x", "stream": {"name": "room1"}, "protocol": "srt", "url": "srt://h:9999?mode=listener"},
            "Unsupported connection mode",
        ),
        ({"id": "x", "stream": {"name": "room1"}, "protocol": "mpegts", "url": "rtmp://h/app"}, "Unsupported protocol"),
    ],
)
def test_invalid_pushes_are_refused_with_omes_messages(ome: EmulatorProcess, body: dict, message: str) -> None:
    response = ome.api("POST", START, body)
    assert response.status_code == 400
    assert response.json() == {"message": f"[HTTP] {message} (400)", "statusCode": 400}


def test_srt_and_mpegts_pushes_are_accepted(ome: EmulatorProcess) -> None:
    ome.publish("srt://127.0.0.1:9999?streamid=srt%3A%2F%2F127.0.0.1%3A9999%2Fapp%2Froom1")
    srt = ome.api(
        "POST",
        START,
        {"id": "s", "stream": {"name": "room1"}, "protocol": "SRT", "url": "srt://10.0.0.1:9000?mode=caller"},
    )
    ts = ome.api(
        "POST", START, {"id": "t", "stream": {"name": "room1"}, "protocol": "mpegts", "url": "udp://10.0.0.1:5000"}
    )
    assert srt.json()["response"]["protocol"] == "srt" and "streamKey" not in srt.json()["response"]
    assert ts.status_code == 200
    ome.wait_for(
        lambda: ome.push_state("s") == ome.push_state("t") == "pushing", timeout=3, what="both pushes to start"
    )
