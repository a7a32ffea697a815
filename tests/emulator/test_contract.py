"""The emulator against the golden recordings of a real OME 0.19.0 (tests/ome_golden/).

Every REST exchange of rest-api.json is replayed in order after setting up its preconditions
through the control API; status, envelope keys, message text, field names and the values that
carry meaning (states, names, codecs, paths) must match. Timestamps, ids and counters aside.
The admission webhooks the emulator sends must be byte-identical to admission-webhooks.json
(apart from the time) and carry a signature that verifies with the secret.
"""

from __future__ import annotations

import json
import re
import time
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
        ome.publish("rtmp://127.0.0.1:1935/app/room1", {"address": "127.0.0.1", "port": 58296})
    elif name.startswith("pushes via POST"):
        ome.wait_for(lambda: ome.push_state("g-push-1") == "pushing", what="g-push-1 pushing")
        time.sleep(0.3)
    elif name == "records while recording":
        time.sleep(0.3)
    elif name == "stats of a live stream":
        # The golden stats were taken after g-push-2 was stopped and gone.
        ome.wait_for(lambda: ome.push_state("g-push-2") is None, what="g-push-2 removed")


def test_every_golden_rest_exchange_is_answered_like_ome(ome: EmulatorProcess) -> None:
    for exchange in REST:
        name = exchange["name"]
        prepare(ome, name)
        status, body = call(ome, exchange)
        golden = exchange["response"]
        assert status == golden["status"], f"{name}: status {status}, OME answered {golden['status']}: {body}"
        assert_same_shape(golden["body"], body, name)


def test_pushes_with_nothing_to_list_answer_an_empty_list(ome: EmulatorProcess) -> None:
    # OME 0.19 (app_actions_controller.cpp) answers 200 with [] — the 204 in old docs is gone,
    # like the golden `records after stop` shows for records.
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
    """Replays the golden RTMP story: key rewritten to room1, a refused key, a WebRTC player, the end."""
    answers = {
        "rtmp://127.0.0.1:1935/app/secretkey?x=1": WEBHOOKS[0]["portal_answer"],
        "rtmp://127.0.0.1:1935/app/denied": WEBHOOKS[1]["portal_answer"],
    }
    control_server.answer = lambda body: answers.get(body["request"]["url"], {"allowed": True})
    ome = hooked_ome

    assert ome.publish("rtmp://127.0.0.1:1935/app/secretkey?x=1", {"port": 53914})["stream"] == "room1"
    refused = ome.publish("rtmp://127.0.0.1:1935/app/denied", {"port": 54788}, expect=403)
    assert refused == {"allowed": False, "error": "no such key", "reason": "no such key"}
    player = json.loads(WEBHOOKS[3]["raw_body"])["client"]
    ome.play("ws://127.0.0.1:3333/app/room1", {"port": player["port"], "user_agent": player["user_agent"]})
    ome.unpublish("room1")

    received = control_server.wait_for(6)
    _same_as_golden(received[0], WEBHOOKS[0])  # opening, rewritten to room1
    _same_as_golden(received[1], WEBHOOKS[1])  # opening, refused
    _same_as_golden(received[2], WEBHOOKS[2])  # closing after the refusal, with new_url
    _same_as_golden(received[3], WEBHOOKS[3])  # WebRTC player opening (user_agent present)
    # The stream ends: its publisher and its player are both reported closing.
    closings = {item.request["direction"]: item for item in received[4:]}
    _same_as_golden(closings["incoming"], WEBHOOKS[10])
    player_closing = closings["outgoing"].body
    assert list(player_closing["request"]) == ["direction", "new_url", "protocol", "status", "time", "url"]
    assert player_closing["request"]["new_url"] == player_closing["request"]["url"] == "ws://127.0.0.1:3333/app/room1"
