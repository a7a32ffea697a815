"""The emulator against the golden recordings of a real OME 0.21.0 (tests/ome_golden/).

Every REST exchange of rest-api.json is replayed in order after setting up its preconditions
through the control API, on an emulator configured like the recorded OME (its FILE publisher's
paths); status, envelope keys, message text, field names and the values that carry meaning
(states, names, codecs, track ids, paths) must match. Timestamps and counters aside.
The admission webhooks the emulator sends must be byte-identical to admission-webhooks.json
(apart from the time) and carry a signature that verifies with the secret.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ome_emulator.testing import EmulatorProcess
from ome_emulator.webhooks import build_body, sign

from .conftest import SECRET, ControlServer

pytestmark = pytest.mark.emulator

GOLDEN = Path(__file__).resolve().parent.parent / "ome_golden"
REST = json.loads((GOLDEN / "rest-api.json").read_text())
WEBHOOKS = json.loads((GOLDEN / "admission-webhooks.json").read_text())["requests"]

# The recorded OME's FILE publisher (the REST answers carry the paths it made).
RECORDED_FILE_PATH = (
    "/recordings/${VirtualHost}/${Application}/${Stream}/${StartTime:YYYYMMDDhhmmss}_${EndTime:YYYYMMDDhhmmss}.ts"
)
RECORDED_INFO_PATH = "/recordings/${VirtualHost}/${Application}/${Stream}.xml"
# The recorded session's client address and ports (rewritten to 203.0.113.7 in the recordings).
CLIENT = "203.0.113.7"

# Values that change from run to run: only their type is compared.
VOLATILE = {
    "createdTime",
    "startTime",
    "finishTime",
    "lastRecvTime",
    "lastSentTime",
    "lastUpdatedTime",
    "maxTotalConnectionTime",
    "sentBytes",
    "sentTime",
    "totalsentBytes",
    "totalsentTime",
    "recordBytes",
    "recordTime",
    "totalRecordBytes",
    "totalRecordTime",
    "avgThroughputIn",
    "avgThroughputOut",
    "lastThroughputIn",
    "lastThroughputOut",
    "maxThroughputIn",
    "maxThroughputOut",
    "totalBytesIn",
    "totalBytesOut",
    "sourceUrl",
    "bitrate",
    "bitrateAvg",
    "bitrateConf",
    "bitrateLatest",
    "framerateLatest",
    "keyFrameInterval",
    "keyFrameIntervalAvg",
    "keyFrameIntervalConf",
    "keyFrameIntervalLatest",
    "deltaFramesSinceLastKeyFrame",
}
EPOCH_LOCAL = datetime.fromtimestamp(0).strftime("%Y%m%d%H%M%S")


def normalise_path(value: str) -> str:
    """Recording paths hold the start time; the epoch (EndTime while recording) is local time."""
    value = value.replace("19700101000000", "EPOCH").replace(EPOCH_LOCAL, "EPOCH")
    return re.sub(r"\d{14}", "TIME", value)


def assert_same_shape(golden: Any, actual: Any, where: str) -> None:
    if isinstance(golden, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        assert sorted(actual) == sorted(golden), (
            f"{where}: fields differ: golden {sorted(golden)}, emulator {sorted(actual)}"
        )
        for key in golden:
            assert_same_shape(golden[key], actual[key], f"{where}.{key}")
    elif isinstance(golden, list):
        assert isinstance(actual, list), f"{where}: expected a list, got {actual!r}"
        assert len(actual) == len(golden), f"{where}: {len(golden)} items in golden, {len(actual)} from the emulator"
        for index, (left, right) in enumerate(zip(golden, actual, strict=True)):
            assert_same_shape(left, right, f"{where}[{index}]")
    else:
        key = where.rsplit(".", 1)[-1]
        if key in VOLATILE:
            assert type(actual) is type(golden), f"{where}: golden {golden!r}, emulator {actual!r} (type)"
        elif key in ("outputFilePath", "filePath"):
            assert normalise_path(actual) == normalise_path(golden), f"{where}: golden {golden!r}, emulator {actual!r}"
        else:
            assert actual == golden, f"{where}: golden {golden!r}, emulator {actual!r}"


def call(ome: EmulatorProcess, exchange: dict[str, Any]) -> tuple[int, Any]:
    request = exchange["request"]
    headers = {}
    if request["auth"] == "valid":
        headers = ome.auth_header
    elif request["auth"] == "invalid":
        headers = {"Authorization": "Basic bm90LXRoZS10b2tlbg=="}
    data = None if request["body"] is None else json.dumps(request["body"])
    response = ome.session.request(
        request["method"], ome.api_url + request["path"], data=data, headers=headers, timeout=15
    )
    return response.status_code, response.json()


@pytest.fixture(scope="module")
def recorded_ome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """An emulator set up like the OME the REST exchanges were recorded from."""
    process = EmulatorProcess(
        token="golden-token",
        recordings_dir=tmp_path_factory.mktemp("golden-recordings"),
        extra_args=["--file-path", RECORDED_FILE_PATH, "--info-path", RECORDED_INFO_PATH],
    )
    process.start()
    yield process
    process.stop()


def prepare(ome: EmulatorProcess, name: str) -> None:
    """Bring the emulator into the state the real OME was in for this exchange."""
    if name == "vhosts":
        # The `bp` push was made earlier in the golden session, for a browser stream now gone.
        started = ome.api(
            "POST",
            "/v1/vhosts/default/apps/app:startPush",
            {
                "id": "bp",
                "stream": {"name": "browserpub_rtmp"},
                "protocol": "rtmp",
                "url": "rtmp://127.0.0.1:19351/live",
                "streamKey": "k",
            },
        )
        assert started.status_code == 200, started.text
    elif name.startswith("list streams"):
        ome.publish("rtmp://127.0.0.1:21935/app/room1", {"address": CLIENT, "port": 49434})
    elif name.startswith("pushes via POST"):
        ome.wait_for(lambda: ome.push_state("g-push-1") == "pushing", what="g-push-1 pushing")
        time.sleep(0.3)
    elif name == "records while recording":
        time.sleep(0.3)
    elif name == "stats of a live stream":
        # The golden stats were taken after g-push-2 was stopped and gone.
        ome.wait_for(lambda: ome.push_state("g-push-2") is None, what="g-push-2 removed")


def test_every_golden_rest_exchange_is_answered_like_ome(recorded_ome: EmulatorProcess) -> None:
    ome = recorded_ome
    for exchange in REST:
        name = exchange["name"]
        prepare(ome, name)
        status, body = call(ome, exchange)
        golden = exchange["response"]
        assert status == golden["status"], f"{name}: status {status}, OME answered {golden['status']}: {body}"
        assert_same_shape(golden["body"], body, name)


def test_pushes_with_nothing_to_list_answer_an_empty_list(ome: EmulatorProcess) -> None:
    # OME (app_actions_controller.cpp, since 0.19) answers 200 with [] — the 204 in old docs is
    # gone, like the golden `records after stop` shows for records.
    for method in ("GET", "POST"):
        response = ome.api(method, "/v1/vhosts/default/apps/app:pushes")
        assert (response.status_code, response.json()) == (200, {"message": "OK", "response": [], "statusCode": 200})


def test_unknown_vhost_is_reported_like_ome(ome: EmulatorProcess) -> None:
    response = ome.api("GET", "/v1/vhosts/nope/apps")
    assert response.status_code == 404
    assert response.json() == {"message": "[HTTP] Could not find the virtual host: [nope] (404)", "statusCode": 404}
    assert ome.api("GET", "/v1/vhosts", auth=False).headers["WWW-Authenticate"] == 'Basic realm="OvenMediaEngine"'


@pytest.mark.parametrize("golden", WEBHOOKS, ids=lambda item: f"{item['x_ome_signature']}")
def test_golden_webhook_signatures_are_what_we_compute(golden: dict[str, Any]) -> None:
    assert sign(golden["secret"], golden["raw_body"].encode()) == golden["x_ome_signature"]


@pytest.mark.parametrize("golden", WEBHOOKS, ids=lambda item: f"{item['x_ome_signature']}")
def test_golden_webhook_bodies_are_what_we_build(golden: dict[str, Any]) -> None:
    parsed = json.loads(golden["raw_body"])
    client, request = parsed["client"], parsed["request"]
    body = build_body(
        direction=request["direction"],
        protocol=request["protocol"],
        status=request["status"],
        url=request["url"],
        new_url=request.get("new_url"),
        time_text=request["time"],
        address=client["address"],
        port=client["port"],
        real_ip=client["real_ip"],
        user_agent=client.get("user_agent"),
    )
    assert body.decode() == golden["raw_body"]


def _same_as_golden(received: Any, golden: dict[str, Any]) -> None:
    """Byte-identical to the golden body once the time is the golden one; signed and typed like OME."""
    raw = received.raw.decode()
    actual_time = json.loads(raw)["request"]["time"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", actual_time), actual_time
    golden_time = json.loads(golden["raw_body"])["request"]["time"]
    assert raw.replace(actual_time, golden_time) == golden["raw_body"]
    assert received.headers["X-OME-Signature"] == sign(SECRET, received.raw)
    assert "=" not in received.headers["X-OME-Signature"]
    assert received.headers["Content-Type"] == "application/json"
    assert received.path == golden["path"]


def test_webhooks_sent_are_the_golden_ones(hooked_ome: EmulatorProcess, control_server: ControlServer) -> None:
    """Replays the golden story: an OBS key rewritten to room1, WebRTC players (one for a missing
    stream), a refused browser publish, two LL-HLS playlist requests (each opened and closed at
    once), a refused RTMP key, the end of room1."""
    answers = {
        "rtmp://127.0.0.1:21935/app/sk-test-key": WEBHOOKS[0]["portal_answer"],
        "ws://127.0.0.1:23333/app/denied?direction=send": WEBHOOKS[3]["portal_answer"],
        "rtmp://127.0.0.1:21935/app/denied": WEBHOOKS[8]["portal_answer"],
    }
    control_server.answer = lambda body: answers.get(body["request"]["url"], {"allowed": True})
    ome = hooked_ome
    python = {"address": CLIENT, "user_agent": "Python/3.11 websockets/17.4"}
    curl = {"address": CLIENT, "user_agent": "curl/7.88.1"}

    assert (
        ome.publish("rtmp://127.0.0.1:21935/app/sk-test-key", {"address": CLIENT, "port": 49434})["stream"] == "room1"
    )
    ome.play("ws://127.0.0.1:23333/app/room1", python | {"port": 33174})
    ome.play("ws://127.0.0.1:23333/app/nostream", python | {"port": 33180}, expect=404)
    refused = ome.publish("ws://127.0.0.1:23333/app/denied?direction=send", python | {"port": 33194}, expect=403)
    assert refused["reason"] == "no such key"
    ome.play("http://127.0.0.1:23333/app/room1/llhls.m3u8", curl | {"port": 33206})
    ome.play("http://127.0.0.1:23333/app/room1/llhls.m3u8?x=1", curl | {"port": 33212})
    ome.publish("rtmp://127.0.0.1:21935/app/denied", {"address": CLIENT, "port": 34796}, expect=403)
    control_server.wait_for(10)  # the refused key's closing is out before the stream ends
    ome.unpublish("room1")

    received = control_server.wait_for(12)
    for index in range(10):
        _same_as_golden(received[index], WEBHOOKS[index])
    # The stream ends: its publisher is reported closing, and so is the WebRTC player, which played
    # here (the recorded one never answered its offer, and OME closes only sessions that started).
    closings = {item.request["direction"]: item for item in received[10:]}
    _same_as_golden(closings["incoming"], WEBHOOKS[10])
    player_closing = closings["outgoing"].body
    assert list(player_closing["request"]) == ["direction", "new_url", "protocol", "status", "time", "url"]
    assert player_closing["request"]["new_url"] == player_closing["request"]["url"] == "ws://127.0.0.1:23333/app/room1"
    time.sleep(0.3)
    assert len(control_server.received) == 12, "LL-HLS players were closed at once, not again at the end"
