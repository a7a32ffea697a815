"""The emulator's TranscodeWebhook against the golden recording of a real OME 0.21.0
(tests/ome_golden/transcode-webhook.json) and against the portal's POST /ome/transcode.

The other half of the contract, the golden request replayed against the portal, is in
tests/test_transcode_webhook.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
import requests

from ome_emulator.testing import EmulatorProcess
from ome_emulator.transcode import styled_json
from rooms.models import Quality

from ..factories import RoomFactory

pytestmark = [pytest.mark.emulator, pytest.mark.django_db(transaction=True)]

GOLDEN = json.loads((Path(__file__).resolve().parent.parent / "ome_golden" / "transcode-webhook.json").read_text())
VOLATILE = {"createdTime", "source", "sourceUrl", "name", "bitrate", "bitrateAvg", "bitrateConf", "bitrateLatest"}
VOLATILE |= {"width", "height", "maxWidth", "maxHeight", "deltaFramesSinceLastKeyFrame", "channel", "keyFrameInterval"}
VOLATILE |= {
    "keyFrameIntervalAvg",
    "keyFrameIntervalConf",
    "keyFrameIntervalLatest",
    "framerateLatest",
    "framerateConf",
}


def assert_same_shape(golden: Any, actual: Any, where: str = "body") -> None:
    if isinstance(golden, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        assert sorted(actual) == sorted(golden), f"{where}: golden {sorted(golden)}, emulator {sorted(actual)}"
        for key in golden:
            assert_same_shape(golden[key], actual[key], f"{where}.{key}")
    elif isinstance(golden, list):
        assert isinstance(actual, list) and len(actual) == len(golden), f"{where}: {actual!r}"
        for index, (left, right) in enumerate(zip(golden, actual, strict=True)):
            assert_same_shape(left, right, f"{where}[{index}]")
    elif where.rsplit(".", 1)[-1] in VOLATILE:
        assert type(actual) is type(golden), f"{where}: golden {golden!r}, emulator {actual!r} (type)"
    else:
        assert actual == golden, f"{where}: golden {golden!r}, emulator {actual!r}"


def test_the_emulator_writes_json_exactly_as_ome_does():
    raw = GOLDEN["request"]["raw_body"]
    assert styled_json(json.loads(raw)) + "\n" == raw


@pytest.fixture
def transcoding_ome(ome: EmulatorProcess, live_server, settings):
    ome.config(transcode_webhook_url=live_server.url + "/ome/transcode", transcode_webhook_secret="transcode-secret")
    settings.OME_WEBHOOK_SECRET = "transcode-secret"
    settings.OME_API_URL = ome.api_url
    yield ome
    ome.reset()


def stream_info(ome: EmulatorProcess, name: str) -> dict[str, Any]:
    return ome.api("GET", f"/v1/vhosts/default/apps/app/streams/{name}").json()["response"]


def outputs(ome: EmulatorProcess, name: str) -> dict[str, dict[str, Any]]:
    return {output["name"]: output for output in stream_info(ome, name)["outputs"]}


def test_a_new_stream_is_sent_to_the_portal_in_the_golden_shape_and_signed_like_ome(team, transcoding_ome):
    RoomFactory(organization=team.organization, public_id="demo", quality=Quality.ADAPTIVE)
    transcoding_ome.publish("rtmp://127.0.0.1:1935/app/demo")
    [sent] = transcoding_ome.transcode_requests()
    golden = GOLDEN["request"]
    raw = sent["raw_body"].encode()
    assert_same_shape(json.loads(golden["raw_body"]), json.loads(raw))
    assert styled_json(json.loads(raw)) + "\n" == sent["raw_body"], "tab-indented like jsoncpp"
    expected = base64.urlsafe_b64encode(hmac.new(b"transcode-secret", raw, hashlib.sha1).digest()).rstrip(b"=")
    assert sent["signature"] == expected.decode(), "base64url HMAC-SHA1 without padding"
    assert sent["status"] == 200 and sent["answer"]["allowed"] is True
    # What OME made of the portal's answer: the adaptive playlists, the push variant, a thumbnail.
    made = outputs(transcoding_ome, "demo")
    assert set(made) == {"demo", "demo_rtmp"}
    playlists = {playlist["fileName"]: playlist for playlist in made["demo"]["playlists"]}
    assert set(playlists) == {"abr", "abr_llhls", "llhls", "webrtc_default"}
    assert [r["name"] for r in playlists["abr"]["renditions"]] == ["source"], "a 640x352 source gets no lower rung"
    assert playlists["abr"]["options"]["webrtcAutoAbr"] is True
    tracks = {track["name"]: track for track in made["demo"]["tracks"]}
    assert tracks["image_0"]["video"]["codec"] == "JPEG"
    assert [t["audio"]["codec"] for t in made["demo_rtmp"]["tracks"] if t["type"] == "Audio"] == ["AAC"]
    image = requests.get(f"{transcoding_ome.llhls_url}/app/demo/thumb.jpg", timeout=5)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/jpeg"
    assert image.content.startswith(b"\xff\xd8")


def test_an_adaptive_room_gets_its_renditions_as_abr_playlists_over_llhls(team, transcoding_ome, settings):
    settings.ADAPTIVE_RENDITIONS = ((240, 400_000), (180, 250_000))
    RoomFactory(organization=team.organization, public_id="ladder", quality=Quality.ADAPTIVE)
    transcoding_ome.publish("rtmp://127.0.0.1:1935/app/ladder")
    playlists = {p["fileName"]: p for p in outputs(transcoding_ome, "ladder")["ladder"]["playlists"]}
    assert [r["name"] for r in playlists["abr_llhls"]["renditions"]] == ["source", "240p", "180p"]
    assert {r["audioVariantName"] for r in playlists["abr_llhls"]["renditions"]} == {"audio_aac"}
    master = requests.get(f"{transcoding_ome.llhls_url}/app/ladder/abr_llhls.m3u8", timeout=5)
    assert master.status_code == 200
    assert "RESOLUTION=436x240" in master.text and "RESOLUTION=328x180" in master.text
    assert requests.get(f"{transcoding_ome.llhls_url}/app/ladder/nope.m3u8", timeout=5).status_code == 404


def test_an_original_room_has_no_adaptive_playlists(team, transcoding_ome):
    RoomFactory(organization=team.organization, public_id="plain")
    transcoding_ome.publish("rtmp://127.0.0.1:1935/app/plain")
    playlists = {p["fileName"] for p in outputs(transcoding_ome, "plain")["plain"]["playlists"]}
    assert playlists == {"llhls", "webrtc_default"}
    assert requests.get(f"{transcoding_ome.llhls_url}/app/plain/abr_llhls.m3u8", timeout=5).status_code == 404


@pytest.mark.parametrize("portal", ["unreachable", "failing"])
def test_with_the_portal_down_streams_still_start_with_omes_local_profiles(ome: EmulatorProcess, portal, live_server):
    url = "http://127.0.0.1:9/ome/transcode" if portal == "unreachable" else live_server.url + "/ome/admission"
    ome.config(transcode_webhook_url=url, transcode_webhook_secret="wrong")
    try:
        ome.publish("rtmp://127.0.0.1:1935/app/fallback")
        info = stream_info(ome, "fallback")
        assert {output["name"] for output in info["outputs"]} == {"fallback", "fallback_rtmp"}, "Server.xml's profiles"
        assert ome.state()["streams"][0]["playable"] is True, "the stream starts, delivered as published"
        image = requests.get(f"{ome.llhls_url}/app/fallback/thumb.jpg", timeout=5)
        assert image.status_code == 200, "the local profile makes thumbnails too"
    finally:
        ome.reset()


def test_omes_thumbnail_url_answers_like_ome_for_unknown_streams(ome: EmulatorProcess):
    response = requests.get(f"{ome.llhls_url}/app/nobody/thumb.jpg", timeout=5)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert len(response.content) == 26
