"""Publishing through the emulator asks the admission webhook and obeys the answer like OME:
allowed / refused, new_url renames the stream, lifetime disconnects, closing is reported."""

from __future__ import annotations

import time

import pytest

from ome_emulator.testing import EmulatorProcess

from .conftest import ControlServer

pytestmark = pytest.mark.emulator

STREAMS = "/v1/vhosts/default/apps/app/streams"


def live_streams(ome: EmulatorProcess) -> list[str]:
    return ome.api("GET", STREAMS).json()["response"]


def test_without_a_webhook_url_everything_is_allowed(ome: EmulatorProcess) -> None:
    assert ome.publish("rtmp://127.0.0.1:1935/app/anything")["stream"] == "anything"
    assert ome.play("ws://127.0.0.1:3333/app/anything")["allowed"] is True
    assert ome.webhook_requests() == []


def test_new_url_turns_a_secret_key_into_the_room_name(
    hooked_ome: EmulatorProcess, control_server: ControlServer
) -> None:
    control_server.answer = lambda body: {"allowed": True, "new_url": "rtmp://127.0.0.1:1935/app/room1"}
    result = hooked_ome.publish("rtmp://127.0.0.1:1935/app/secretkey")
    assert result["stream"] == "room1"
    assert live_streams(hooked_ome) == ["room1"]
    info = hooked_ome.api("GET", f"{STREAMS}/room1").json()["response"]
    assert info["input"]["sourceType"] == "Rtmp" and info["input"]["sourceUrl"].startswith("TCP://127.0.0.1:")
    # Match outputs by name: OME 0.21 lists the _rtmp variant first.
    assert sorted(output["name"] for output in info["outputs"]) == ["room1", "room1_rtmp"]
    [opening] = control_server.received
    assert opening.request == opening.request | {"direction": "incoming", "protocol": "RTMP", "status": "opening"}


def test_a_refused_rtmp_publish_is_403_and_reported_closing(
    hooked_ome: EmulatorProcess, control_server: ControlServer
) -> None:
    control_server.answer = lambda body: {"allowed": False, "reason": "no such key"}
    refused = hooked_ome.publish("rtmp://127.0.0.1:1935/app/denied", expect=403)
    assert refused["reason"] == "no such key"
    assert live_streams(hooked_ome) == []
    opening, closing = control_server.wait_for(2)
    assert closing.request["status"] == "closing"
    assert closing.request["new_url"] == closing.request["url"] == "rtmp://127.0.0.1:1935/app/denied"
    assert closing.body["client"] == opening.body["client"]


def test_a_refused_webrtc_publish_sends_no_closing(hooked_ome: EmulatorProcess, control_server: ControlServer) -> None:
    control_server.answer = lambda body: {"allowed": False}
    hooked_ome.publish("ws://127.0.0.1:3333/app/denied?direction=send", expect=403)
    time.sleep(0.3)
    assert [item.request["status"] for item in control_server.received] == ["opening"]
    assert control_server.received[0].request["protocol"] == "WebRTC"


@pytest.mark.parametrize(
    ("stream_id", "reported"),
    [
        # OME 0.21's form, {vhost or host}/{app}/{stream}, plain or percent-encoded: OME puts srt:// in front.
        ("default/app/room5", "srt://default/app/room5"),
        ("default%2Fapp%2Froom5", "srt://default/app/room5"),
        # The older form (deprecated in 0.21, still accepted): a percent-encoded srt:// URL.
        ("srt%3A%2F%2F127.0.0.1%3A9999%2Fapp%2Froom5", "srt://127.0.0.1:9999/app/room5"),
    ],
)
def test_srt_publish_reports_the_stream_id_as_a_url(
    hooked_ome: EmulatorProcess, control_server: ControlServer, stream_id: str, reported: str
) -> None:
    result = hooked_ome.publish(f"srt://127.0.0.1:9999?streamid={stream_id}")
    assert result["stream"] == "room5"
    request = control_server.received[0].request
    assert (request["protocol"], request["url"]) == ("SRT", reported)
    assert hooked_ome.api("GET", f"{STREAMS}/room5").json()["response"]["input"]["sourceType"] == "Srt"


@pytest.mark.parametrize("stream_id", ["app/room5", "default/app/room5/playlist/extra", ""])
def test_an_srt_stream_id_of_another_shape_is_refused_before_the_webhook(
    hooked_ome: EmulatorProcess, control_server: ControlServer, stream_id: str
) -> None:
    refused = hooked_ome.publish(f"srt://127.0.0.1:9999?streamid={stream_id}", expect=400)
    assert "{host}/{app}/{stream}" in refused["error"]
    assert control_server.received == []


def test_a_second_publisher_of_a_live_stream_is_refused(
    hooked_ome: EmulatorProcess, control_server: ControlServer
) -> None:
    hooked_ome.publish("rtmp://127.0.0.1:1935/app/room1")
    second = hooked_ome.publish("rtmp://127.0.0.1:1935/app/room1", expect=409)
    assert second["stream"] == "room1"
    received = control_server.wait_for(3)
    assert [item.request["status"] for item in received] == ["opening", "opening", "closing"]
    assert live_streams(hooked_ome) == ["room1"]


def test_lifetime_disconnects_the_publisher_and_reports_closing(
    hooked_ome: EmulatorProcess, control_server: ControlServer
) -> None:
    control_server.answer = lambda body: {"allowed": True, "lifetime": 700}
    hooked_ome.publish("rtmp://127.0.0.1:1935/app/short")
    assert live_streams(hooked_ome) == ["short"]
    hooked_ome.wait_for(lambda: live_streams(hooked_ome) == [], timeout=3, what="the lifetime to end the stream")
    closing = control_server.wait_for(2)[1]
    assert closing.request["status"] == "closing" and closing.request["url"] == "rtmp://127.0.0.1:1935/app/short"


def test_lifetime_disconnects_a_player(hooked_ome: EmulatorProcess, control_server: ControlServer) -> None:
    hooked_ome.publish("rtmp://127.0.0.1:1935/app/room1")
    control_server.answer = lambda body: {"allowed": True, "lifetime": 500}
    viewer = hooked_ome.play("ws://127.0.0.1:3333/app/room1")["viewer"]
    hooked_ome.wait_for(lambda: not hooked_ome.state()["viewers"], timeout=3, what="the player's lifetime to end")
    closing = control_server.wait_for(3)[2]
    assert (closing.request["direction"], closing.request["status"]) == ("outgoing", "closing")
    hooked_ome.stop_play(viewer, expect=404)


def test_a_slow_or_broken_control_server_refuses(hooked_ome: EmulatorProcess, control_server: ControlServer) -> None:
    hooked_ome.config(webhook_timeout_ms=300)
    control_server.delay = 1.0
    assert "timed out" in hooked_ome.publish("rtmp://127.0.0.1:1935/app/slow", expect=403)["reason"]
    control_server.delay = 0
    control_server.answer = lambda body: b"not json"
    hooked_ome.publish("rtmp://127.0.0.1:1935/app/garbage", expect=403)
    control_server.answer = lambda body: {"new_url": "rtmp://127.0.0.1:1935/app/x"}
    hooked_ome.publish("rtmp://127.0.0.1:1935/app/noallowed", expect=403)
    assert live_streams(hooked_ome) == []


def test_a_new_url_to_an_unknown_app_fails(hooked_ome: EmulatorProcess, control_server: ControlServer) -> None:
    control_server.answer = lambda body: {"allowed": True, "new_url": "rtmp://127.0.0.1:1935/other/room1"}
    hooked_ome.publish("rtmp://127.0.0.1:1935/app/key", expect=404)
    assert live_streams(hooked_ome) == []


def test_deleting_a_stream_through_the_rest_api_disconnects_its_publisher(
    hooked_ome: EmulatorProcess, control_server: ControlServer
) -> None:
    hooked_ome.publish("rtmp://127.0.0.1:1935/app/room1")
    response = hooked_ome.api("DELETE", f"{STREAMS}/room1")
    assert response.json() == {"message": "OK", "statusCode": 200}
    assert live_streams(hooked_ome) == []
    assert control_server.wait_for(2)[1].request["status"] == "closing"
    assert hooked_ome.api("DELETE", f"{STREAMS}/room1").status_code == 404


def test_webhook_log_shows_requests_and_answers(hooked_ome: EmulatorProcess, control_server: ControlServer) -> None:
    control_server.answer = lambda body: {"allowed": False, "reason": "nope"}
    hooked_ome.publish("ws://127.0.0.1:3333/app/x?direction=send", {"user_agent": "UA/1", "port": 40000}, expect=403)
    [entry] = hooked_ome.webhook_requests()
    assert entry["answer"] == {"allowed": False, "reason": "nope"} and entry["status"] == 200
    assert entry["request"]["client"] == {
        "address": "127.0.0.1",
        "port": 40000,
        "real_ip": "127.0.0.1",
        "user_agent": "UA/1",
    }
