"""The control API (/emulator/...) answers bad input with a 4xx and a message."""

from __future__ import annotations

import pytest
import requests

from ome_emulator.__main__ import parse_args
from ome_emulator.core import Settings
from ome_emulator.testing import EmulatorProcess

pytestmark = pytest.mark.emulator


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("publish", {}, 400, "'url'"),
        ("publish", {"url": "http://127.0.0.1/app/x"}, 400, "cannot publish with http://"),
        ("publish", {"url": "rtmp://127.0.0.1:1935/app"}, 400, "no stream name"),
        ("publish", {"url": "rtmp://127.0.0.1:1935/other/x"}, 404, "Could not find the application: [default/other]"),
        ("publish", {"url": "rtmp://127.0.0.1:1935/app/x", "delay": -1}, 400, "'delay'"),
        ("unpublish", {}, 400, "'stream'"),
        ("unpublish", {"stream": "nothing"}, 404, "not live"),
        ("play", {"url": "rtmp://127.0.0.1/app/x"}, 400, "cannot play with rtmp://"),
        ("stop-play", {"viewer": "v999"}, 404, "no such viewer"),
        ("fail-destination", {"url": "nope"}, 400, "'url'"),
        ("config", {"colour": "blue"}, 400, "unknown settings: colour"),
        ("config", {"webhook_url": "ftp://x"}, 400, "'webhook_url'"),
        ("config", {"webrtc_stream_delay": "soon"}, 400, "'webrtc_stream_delay'"),
    ],
)
def test_bad_input_gets_a_4xx_with_a_message(
    ome: EmulatorProcess, path: str, body: dict, status: int, fragment: str
) -> None:
    response = requests.post(f"{ome.api_url}/emulator/{path}", json=body, timeout=5)
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]


def test_invalid_json_is_400(ome: EmulatorProcess) -> None:
    response = requests.post(f"{ome.api_url}/emulator/publish", data="{", timeout=5)
    assert response.status_code == 400 and "invalid JSON" in response.json()["error"]
    response = requests.post(f"{ome.api_url}/emulator/publish", json=["rtmp://x/app/y"], timeout=5)
    assert response.status_code == 400 and "object" in response.json()["error"]


def test_a_delayed_publish_is_listed_at_once_and_starts_after_the_delay_like_a_webrtc_stream(
    ome: EmulatorProcess,
) -> None:
    result = ome.publish("ws://127.0.0.1:3333/app/browser?direction=send", delay=0.5)
    assert result["stream"] == "browser"
    streams = "/v1/vhosts/default/apps/app/streams"
    assert ome.api("GET", streams).json()["response"] == ["browser"], "OME lists it before it starts"
    assert [stream["playable"] for stream in ome.state()["streams"]] == [False]
    ome.play("ws://127.0.0.1:3333/app/browser", expect=404)
    ome.wait_for(lambda: ome.state()["streams"][0]["playable"], timeout=3, what="the stream to start")
    assert ome.play("ws://127.0.0.1:3333/app/browser")["stream"] == "browser"
    info = ome.api("GET", f"{streams}/browser").json()["response"]
    assert info["input"]["sourceType"] == "WebRTC"
    assert [track["audio"]["codec"] for track in info["input"]["tracks"] if track["type"] == "Audio"] == ["OPUS"]


def test_state_shows_what_the_emulator_holds_and_never_the_secret(ome: EmulatorProcess) -> None:
    ome.config(webhook_secret="s3cret-value")
    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    state = ome.state()
    assert [stream["name"] for stream in state["streams"]] == ["room1"]
    assert state["settings"]["webhook_secret_set"] is True
    assert "s3cret-value" not in requests.get(f"{ome.api_url}/emulator/state", timeout=5).text
    ome.reset()
    assert ome.state()["streams"] == [] and ome.state()["settings"]["webhook_secret_set"] is True


def test_by_default_a_browser_stream_starts_as_soon_as_on_ome_0_21() -> None:
    # Measured on OME 0.21.0 (tests/ome_golden/CHANGES-SINCE-0.19.md): a WebRTC ingest is playable
    # about 1.2 s after it started (0.19 waited ~5 s for the first RTCP sender report).
    assert parse_args([]).webrtc_stream_delay == Settings().webrtc_stream_delay == 1.2
