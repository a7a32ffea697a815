"""POST /ome/transcode answers OME's TranscodeWebhook from the room's quality setting.

OME builds a stream's outputs from the answer alone (its local profiles are only the fallback
when the portal cannot be reached), so every answer must keep what players and restreams need.
The golden request was recorded from a real OME 0.21.0 with the secret `transcode-secret`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rooms import services
from rooms.models import Quality, Room

from .admission_helpers import ome_signature
from .factories import RoomFactory

GOLDEN = json.loads((Path(__file__).resolve().parent / "ome_golden" / "transcode-webhook.json").read_text())
GOLDEN_SECRET = GOLDEN["config"]["TranscodeWebhook"]["SecretKey"]


def transcode_body(name: str, *, width: int = 1280, height: int = 720, framerate: float = 30.0) -> bytes:
    """The golden request with another stream name and video size, tab-indented like OME writes it."""
    body = json.loads(GOLDEN["request"]["raw_body"])
    body["stream"]["name"] = name
    video = body["stream"]["tracks"][0]["video"]
    video.update(width=width, height=height, maxWidth=width, maxHeight=height, framerate=framerate)
    return json.dumps(body, indent="\t").encode()


def post_transcode(client, body: bytes, *, signature: str | None = "sign"):
    headers = {}
    if signature == "sign":
        signature = ome_signature(body)
    if signature is not None:
        headers["HTTP_X_OME_SIGNATURE"] = signature
    return client.post("/ome/transcode", data=body, content_type="application/json", REMOTE_ADDR="10.0.0.3", **headers)


def profiles(answer: dict) -> dict[str, dict]:
    return {profile["outputStreamName"]: profile for profile in answer["outputProfiles"]["outputProfile"]}


def main_profile(answer: dict) -> dict:
    return profiles(answer)["${OriginStreamName}"]


def rungs(answer: dict) -> list[str]:
    return [video["name"] for video in main_profile(answer)["encodes"]["videos"] if video.get("bypass") != "true"]


def assert_keeps_what_every_room_needs(answer: dict) -> None:
    assert answer["allowed"] is True
    main = main_profile(answer)
    assert {"name": "video_source", "bypass": "true"} in main["encodes"]["videos"], "the stream as published"
    audio = {item["codec"]: item for item in main["encodes"]["audios"]}
    assert set(audio) == {"aac", "opus"}, "Opus for WebRTC players, AAC for LL-HLS players"
    assert all(item["bypassIfMatch"] == {"codec": "eq"} for item in audio.values())
    assert main["encodes"]["images"][0]["codec"] == "jpeg", "the live thumbnail"
    push = profiles(answer)["${OriginStreamName}_rtmp"]
    assert push["encodes"]["videos"] == [{"name": "video_rtmp", "bypass": "true"}]
    assert [item["codec"] for item in push["encodes"]["audios"]] == ["aac"], "RTMP destinations take AAC only"


@pytest.mark.django_db
def test_the_golden_request_of_a_real_ome_verifies_and_gets_an_adaptive_answer_for_an_adaptive_room(
    client, settings, team, django_assert_max_num_queries
):
    settings.OME_WEBHOOK_SECRET = GOLDEN_SECRET
    RoomFactory(organization=team.organization, public_id="demo", quality=Quality.ADAPTIVE)
    recorded = GOLDEN["request"]
    with django_assert_max_num_queries(2):
        response = post_transcode(
            client, recorded["raw_body"].encode(), signature=recorded["headers"]["X-OME-Signature"]
        )
    assert response.status_code == 200, response.content
    answer = response.json()
    assert_keeps_what_every_room_needs(answer)
    assert rungs(answer) == ["video_480p", "video_360p"], "a 720p source gets the rungs below it, not a 720p copy"
    videos = {video["name"]: video for video in main_profile(answer)["encodes"]["videos"]}
    assert (videos["video_360p"]["width"], videos["video_360p"]["height"]) == (640, 360)
    assert videos["video_480p"]["bitrate"] == 1_200_000, "bitrates from ADAPTIVE_LADDER"
    playlists = {playlist["fileName"]: playlist for playlist in main_profile(answer)["playlists"]}
    assert set(playlists) == {"abr", "abr_llhls"}
    assert [r["name"] for r in playlists["abr"]["renditions"]] == ["source", "480p", "360p"]
    assert {r["audio"] for r in playlists["abr"]["renditions"]} == {"audio_opus"}, "WebRTC plays Opus"
    assert {r["audio"] for r in playlists["abr_llhls"]["renditions"]} == {"audio_aac"}, "LL-HLS plays AAC"
    assert playlists["abr"]["options"] == {"webRtcAutoAbr": True}
    assert Room.objects.get(public_id="demo").delivered_quality == Quality.ADAPTIVE


@pytest.mark.django_db
def test_an_original_room_gets_the_stream_as_published_with_a_thumbnail_and_no_renditions(client, team):
    RoomFactory(organization=team.organization, public_id="plain-room")
    answer = post_transcode(client, transcode_body("plain-room")).json()
    assert_keeps_what_every_room_needs(answer)
    assert rungs(answer) == []
    assert "playlists" not in main_profile(answer), "OME's default playlists serve an original room"
    assert main_profile(answer)["encodes"]["images"] == [{"codec": "jpeg", "framerate": 1, "width": 640, "height": 360}]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("size", "framerate", "expected", "expected_framerate"),
    [
        ((854, 480), 30.0, ["video_360p"], 30),
        ((1920, 1080), 60.0, ["video_720p", "video_480p", "video_360p"], 30),
        ((1280, 720), 25.0, ["video_480p", "video_360p"], 25),
        ((640, 360), 30.0, [], None),
        ((0, 0), 0.0, [], None),
    ],
    ids=["480p-source", "1080p60-source", "720p25-source", "360p-source", "size-not-known-yet"],
)
def test_renditions_are_never_at_or_above_the_source_size_nor_above_its_frame_rate(
    client, team, size, framerate, expected, expected_framerate
):
    RoomFactory(organization=team.organization, public_id="adaptive-room", quality=Quality.ADAPTIVE)
    answer = post_transcode(
        client, transcode_body("adaptive-room", width=size[0], height=size[1], framerate=framerate)
    ).json()
    assert_keeps_what_every_room_needs(answer)
    assert rungs(answer) == expected
    for video in main_profile(answer)["encodes"]["videos"][1:]:
        assert video["framerate"] == expected_framerate
        assert video["keyFrameInterval"] == expected_framerate, "a keyframe every second to switch at"
        assert video["width"] % 2 == 0 and video["height"] < size[1]
    # The playlists exist even with the source alone, so that the players' adaptive URLs work.
    sources = [playlist["renditions"][0]["name"] for playlist in main_profile(answer)["playlists"]]
    assert sources == ["source", "source"]


@pytest.mark.django_db
def test_a_portrait_source_keeps_its_shape(client, team):
    RoomFactory(organization=team.organization, public_id="phone-room", quality=Quality.ADAPTIVE)
    answer = post_transcode(client, transcode_body("phone-room", width=720, height=1280)).json()
    videos = {video["name"]: video for video in main_profile(answer)["encodes"]["videos"]}
    assert (videos["video_720p"]["width"], videos["video_720p"]["height"]) == (404, 720)
    image = main_profile(answer)["encodes"]["images"][0]
    assert (image["width"], image["height"]) == (202, 360)


@pytest.mark.django_db
def test_a_stream_that_is_no_rooms_gets_the_original_answer_never_an_error(client, caplog):
    response = post_transcode(client, transcode_body("sk-maybe-a-mistyped-key"))
    assert "sk-maybe-a-mistyped-key" not in caplog.text, "a name that is no room's could be a stream key"
    assert response.status_code == 200
    assert_keeps_what_every_room_needs(response.json())
    assert rungs(response.json()) == []
    garbled = b'{"stream": {"name": ["not", "a", "name"]}}'
    response = post_transcode(client, garbled)
    assert response.status_code == 200, "a body OME signed is never refused: the stream would not start"
    assert_keeps_what_every_room_needs(response.json())


@pytest.mark.django_db
def test_per_platform_push_variants_are_in_every_answer(client, settings):
    settings.OME_PUSH_VARIANT_SUFFIXES = {"youtube": "_youtube"}
    answer = post_transcode(client, transcode_body("any")).json()
    assert set(profiles(answer)) == {"${OriginStreamName}", "${OriginStreamName}_rtmp", "${OriginStreamName}_youtube"}


@pytest.mark.django_db
@pytest.mark.parametrize("signature", [None, "forged-signature"], ids=["missing", "forged"])
def test_a_request_without_omes_signature_is_refused(client, team, signature):
    RoomFactory(organization=team.organization, public_id="secret-quality", quality=Quality.ADAPTIVE)
    response = post_transcode(client, transcode_body("secret-quality"), signature=signature)
    assert response.status_code == 403
    assert "outputProfiles" not in response.json()


@pytest.mark.django_db
def test_players_follow_what_the_stream_was_given_until_it_ends(client, team):
    room = RoomFactory(organization=team.organization, public_id="switcher", quality=Quality.ADAPTIVE)
    services.go_live(room_id=room.pk, protocol="rtmp", confirmed=True)
    post_transcode(client, transcode_body("switcher"))
    services.update_room(room=room, quality=Quality.ORIGINAL)  # while live: for the next go-live
    room.refresh_from_db()
    assert room.delivered_quality == Quality.ADAPTIVE, "the running stream keeps its renditions"
    services.go_offline(room_id=room.pk)
    room.refresh_from_db()
    assert room.delivered_quality == Quality.ORIGINAL
