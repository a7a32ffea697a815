"""The original stack's API on the portal: OME's paths, envelope, field names and error messages
(compared with a real OME 0.21's answers in tests/ome_golden), scoped by the token."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from django.test import Client

from broadcasts.models import Push, PushState
from organizations.models import Role
from recordings.models import Recording, RecordingState
from rooms.models import LiveState, Room

from ..factories import RoomFactory
from .conftest import make_token

GOLDEN = json.loads((Path(__file__).parent.parent / "ome_golden" / "rest-api.json").read_text())
APP = "/v1/vhosts/default/apps/app"
OPERATOR_TOKEN = "tests-ome-token"  # OME_API_TOKEN in tests/testenv.py


def golden(name: str) -> dict:
    return next(exchange for exchange in GOLDEN if exchange["name"] == name)["response"]


def basic(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(token.encode()).decode()}


class Ome:
    """A client that speaks to the portal the way the original stack's scripts spoke to OME."""

    def __init__(self, token: str):
        self.client = Client(enforce_csrf_checks=True)
        self.headers = basic(token)

    def get(self, path: str):
        return self.client.get(path, **self.headers)

    def post(self, path: str, body: dict | None = None):
        data = json.dumps(body) if body is not None else ""
        return self.client.post(path, data, content_type="application/json", **self.headers)


@pytest.fixture
def ome_api(team) -> Ome:
    return Ome(make_token(team.organization, Role.STREAMER).value)


@pytest.fixture
def operator() -> Ome:
    return Ome(OPERATOR_TOKEN)


def _live(*rooms: Room) -> None:
    Room.objects.filter(pk__in=[room.pk for room in rooms]).update(live_state=LiveState.LIVE)


def test_without_a_token_or_with_a_wrong_one_the_answers_are_omes(client, room):
    response = client.get(f"{APP}/streams")
    assert (response.status_code, response.json()) == (401, golden("no auth header")["body"])
    wrong = client.get(f"{APP}/streams", **basic("not-a-token"))
    assert (wrong.status_code, wrong.json()) == (401, golden("invalid token")["body"])
    bearer = client.get(f"{APP}/streams", HTTP_AUTHORIZATION="Bearer " + OPERATOR_TOKEN)
    assert bearer.status_code == 401
    garbage = client.get(f"{APP}/streams", HTTP_AUTHORIZATION="Basic %%%")
    assert garbage.json()["message"] == "[HTTP] Invalid credential (401)"


def test_an_organization_token_lists_only_its_live_rooms_and_the_operator_all(
    ome_api, operator, room, other_room, team
):
    RoomFactory(organization=team.organization, public_id="acme-offline")
    _live(room, other_room)
    response = ome_api.get(f"{APP}/streams")
    assert response.status_code == 200
    assert response.json() == {"message": "OK", "response": ["acme-live"], "statusCode": 200}
    assert operator.get(f"{APP}/streams").json()["response"] == ["acme-live", "globex-live"]


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("get", "/v1/vhosts/default/apps/nope/streams", golden("unknown app")["body"]["message"]),
        ("get", "/v1/vhosts/other/apps/app/streams", "[HTTP] Could not find the virtual host: [other] (404)"),
        ("post", f"{APP}:dance", "[HTTP] Could not find the action: [default/app:dance] (404)"),
        ("get", f"{APP}:startPush", "[HTTP] Could not find the action: [default/app:startPush] (404)"),
        (
            "get",
            "/v1/stats/current/vhosts/default",
            "[HTTP] Could not find the resource: [/v1/stats/current/vhosts/default] (404)",
        ),
        ("get", f"{APP}", f"[HTTP] Could not find the resource: [{APP}] (404)"),
    ],
)
def test_unknown_names_and_paths_are_404_in_omes_words(ome_api, method, path, message):
    response = getattr(ome_api, method)(path)
    assert response.status_code == 404
    assert response.json() == {"message": message, "statusCode": 404}


@pytest.mark.parametrize(
    ("action", "body", "golden_name"),
    [
        ("startPush", {"id": "g-push-x", "stream": {"name": "acme-live_rtmp"}}, "startPush without protocol"),
        ("stopPush", {}, "stopPush without id"),
        ("stopPush", {"id": "nope"}, "stopPush unknown id"),
        ("stopRecord", {"id": "nope"}, "stopRecord unknown id"),
    ],
)
def test_refusals_read_like_omes(ome_api, room, action, body, golden_name):
    response = ome_api.post(f"{APP}:{action}", body)
    expected = golden(golden_name)
    assert (response.status_code, response.json()) == (expected["status"], expected["body"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"protocol": "rtmp"}, "[HTTP] There is no required parameter [ id stream.name url] (400)"),
        (
            {"protocol": "rtmp", "id": "a", "stream": {"name": "acme-live"}},
            "[HTTP] There is no required parameter [ url] (400)",
        ),
        (
            {"protocol": "rtmp", "id": "a", "stream": {"name": "acme-live"}, "url": "srt://h:9000"},
            "[HTTP] Unsupported protocol (400)",
        ),
        (
            {"protocol": "rtmp", "id": "a", "stream": {"name": "nowhere_youtube"}, "url": "rtmp://h/app"},
            "[HTTP] Could not find the stream: [default/#default#app/nowhere_youtube] (404)",
        ),
        (
            {"protocol": "rtmp", "id": "x" * 101, "stream": {"name": "acme-live"}, "url": "rtmp://h/app"},
            "[HTTP] The id is too long: at most 100 characters (400)",
        ),
    ],
)
def test_bad_start_push_requests_get_an_ome_style_message(ome_api, room, body, message):
    response = ome_api.post(f"{APP}:startPush", body)
    assert response.json()["message"] == message
    assert response.status_code == response.json()["statusCode"] != 200
    assert not Push.objects.exists()


def test_bad_json_is_refused_like_ome_does(ome_api, room):
    response = ome_api.client.post(f"{APP}:startPush", "{not json", content_type="application/json", **ome_api.headers)
    assert response.json() == {"message": "[HTTP] Could not parse json context: [default/app] (400)", "statusCode": 400}


def test_start_push_answers_with_omes_push_object_and_stores_a_push_the_ui_shows(ome_api, room, settings):
    settings.OME_PUSH_VARIANT_SUFFIXES = {"youtube": "_youtube"}
    body = {
        "id": "UNIQUE_USER_ID",
        "stream": {"name": "acme-live_youtube"},
        "protocol": "rtmp",
        "url": "rtmp://a.rtmp.youtube.com/live2",
        "streamKey": "yt-secret-key-1234",
    }
    response = ome_api.post(f"{APP}:startPush", body)
    assert response.status_code == 200, response.content
    data = response.json()
    assert set(data) == {"message", "response", "statusCode"} and data["statusCode"] == 200
    push = data["response"]
    assert set(push) == set(golden("startPush")["body"]["response"]), "the push object has OME's fields"
    assert (push["id"], push["state"], push["stream"]["name"], push["url"], push["vhost"], push["app"]) == (
        "UNIQUE_USER_ID",
        "ready",
        "acme-live_youtube",
        "rtmp://a.rtmp.youtube.com/live2",
        "default",
        "app",
    )
    assert push["streamKey"] == "••••••••1234", "stream keys are masked, as everywhere in the portal"
    assert push["finishTime"] == "1970-01-01T00:00:00.000+00:00"
    stored = Push.objects.get()
    assert (stored.room, stored.external_id, stored.stream_key) == (room, "UNIQUE_USER_ID", "yt-secret-key-1234")
    duplicate = ome_api.post(f"{APP}:startPush", body)
    assert (duplicate.status_code, duplicate.json()) == (400, golden("startPush duplicate id")["body"])


@pytest.mark.parametrize(
    ("room_id", "stream", "variant"),
    [
        ("acme-live", "acme-live_facebook", "acme-live_rtmp"),
        ("acme-live", "acme-live", "acme-live_rtmp"),
        ("acme-live", "acme-live_rtmp", "acme-live_rtmp"),
        ("my_room", "my_room_youtube", "my_room_rtmp"),
        ("my", "my_room_youtube", "my_rtmp"),
    ],
)
def test_stream_names_with_a_suffix_map_to_the_room_and_push_its_rtmp_variant(ome_api, team, room_id, stream, variant):
    RoomFactory(organization=team.organization, public_id=room_id)
    body = {"id": "p1", "stream": {"name": stream}, "protocol": "rtmp", "url": "rtmp://h.example/app", "streamKey": "k"}
    response = ome_api.post(f"{APP}:startPush", body)
    assert response.status_code == 200, response.json()
    assert response.json()["response"]["stream"]["name"] == variant
    assert Push.objects.get().room.public_id == room_id


def test_another_organizations_room_is_an_unknown_stream_but_the_operator_reaches_it(ome_api, operator, other_room):
    body = {"id": "p", "stream": {"name": "globex-live_youtube"}, "protocol": "rtmp", "url": "rtmp://h.example/app"}
    assert ome_api.post(f"{APP}:startPush", body).status_code == 404
    assert operator.post(f"{APP}:startPush", body).status_code == 200
    assert Push.objects.get().room == other_room


def test_pushes_list_the_callers_running_pushes_in_omes_shape(ome_api, operator, room, other_room):
    Push.objects.create(
        room=room,
        external_id="mine",
        stream_name="acme-live_rtmp",
        url="rtmp://a/x",
        state=PushState.PUSHING,
        sent_bytes=2048,
        sent_time_ms=5000,
    )
    ui_push = Push.objects.create(room=room, stream_name="acme-live_rtmp", url="rtmp://b/x", state=PushState.STARTING)
    Push.objects.create(
        room=room, external_id="ended", stream_name="acme-live_rtmp", url="rtmp://c/x", state=PushState.STOPPED
    )
    Push.objects.create(
        room=other_room, external_id="theirs", stream_name="globex-live_rtmp", url="rtmp://d/x", state=PushState.PUSHING
    )
    listed = ome_api.get(f"{APP}:pushes").json()["response"]
    assert [(p["id"], p["state"]) for p in listed] == [("mine", "pushing"), (ui_push.ome_id, "ready")]
    mine = listed[0]
    assert set(mine) == set(golden("pushes via GET")["body"]["response"][0])
    assert (mine["sentBytes"], mine["totalsentTime"]) == (2048, 5000)
    assert ome_api.post(f"{APP}:pushes").json()["response"] == listed, "GET and POST list the same"
    assert [p["id"] for p in ome_api.post(f"{APP}:pushes", {"id": "mine"}).json()["response"]] == ["mine"]
    assert {p["id"] for p in operator.get(f"{APP}:pushes").json()["response"]} == {"mine", ui_push.ome_id, "theirs"}


def test_stop_push_stops_the_callers_push_by_its_id_or_omes_id(ome_api, room, other_room):
    mine = Push.objects.create(
        room=room, external_id="mine", stream_name="acme-live_rtmp", url="rtmp://a/x", state=PushState.PUSHING
    )
    ui_push = Push.objects.create(room=room, stream_name="acme-live_rtmp", url="rtmp://b/x", state=PushState.PUSHING)
    theirs = Push.objects.create(
        room=other_room, external_id="theirs", stream_name="g_rtmp", url="rtmp://d/x", state=PushState.PUSHING
    )
    for push_id in ("mine", ui_push.ome_id):
        response = ome_api.post(f"{APP}:stopPush", {"id": push_id})
        assert (response.status_code, response.json()) == (200, golden("stopPush")["body"])
    assert ome_api.post(f"{APP}:stopPush", {"id": "theirs"}).status_code == 404
    states = {push.pk: push.state for push in Push.objects.all()}
    assert states[mine.pk] == states[ui_push.pk] == PushState.STOPPING
    assert states[theirs.pk] == PushState.PUSHING


def test_records_start_list_and_stop_in_omes_shapes(ome_api, room):
    start = ome_api.post(f"{APP}:startRecord", {"id": "CUSTOM_ID", "stream": {"name": "acme-live"}})
    assert start.status_code == 200, start.content
    record = start.json()["response"]
    assert set(record) == set(golden("startRecord")["body"]["response"])
    assert (record["id"], record["state"], record["stream"]["name"]) == ("CUSTOM_ID", "ready", "acme-live")
    recording = Recording.objects.get()
    assert recording.external_id == "CUSTOM_ID" and recording.room == room
    assert record["outputInfoPath"] == recording.info_path and "${" not in record["outputFilePath"]
    duplicate = ome_api.post(f"{APP}:startRecord", {"id": "CUSTOM_ID", "stream": {"name": "acme-live"}})
    assert (duplicate.status_code, duplicate.json()) == (400, golden("startRecord duplicate id")["body"])
    missing = ome_api.post(f"{APP}:startRecord", {"stream": {"name": "acme-live"}})
    assert missing.json()["message"] == "[HTTP] There is no required parameter [ id] (400)"

    Recording.objects.filter(pk=recording.pk).update(state=RecordingState.RECORDING, size_bytes=1000, duration_ms=3000)
    listed = ome_api.post(f"{APP}:records").json()["response"]
    assert [(r["id"], r["state"], r["recordBytes"]) for r in listed] == [("CUSTOM_ID", "recording", 1000)]
    assert set(listed[0]) == set(golden("records while recording")["body"]["response"][0])

    stop = ome_api.post(f"{APP}:stopRecord", {"id": "CUSTOM_ID"})
    assert stop.status_code == 200
    assert set(stop.json()["response"]) == set(golden("stopRecord")["body"]["response"])
    assert stop.json()["response"]["state"] == "stopping"
    assert "_19700101000000." in stop.json()["response"]["outputFilePath"], "like OME: the end time is not known yet"
    Recording.objects.filter(pk=recording.pk).update(state=RecordingState.FINISHED)
    assert (
        ome_api.get(f"{APP}:records").json()
        == golden("records after stop (the finished record is gone; read the info XML)")["body"]
    )


def test_the_compat_api_counts_against_the_tokens_budget(ome_api, room, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_token": "2/minute"}}
    assert [ome_api.get(f"{APP}/streams").status_code for _ in range(2)] == [200, 200]
    refused = ome_api.get(f"{APP}/streams")
    assert refused.status_code == 429
    assert refused.json()["message"].startswith("[HTTP] Too many requests") and int(refused["Retry-After"]) > 0
