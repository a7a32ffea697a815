"""The original stack's README examples, sent unchanged (same paths, headers and bodies, in Python
with `requests`) to a running portal, which drives the OME emulator as the UI would.

Each step checks the portal's answer and what the media server (the emulator, a separate process)
then holds. The token is an organization API token; the operator's API_ACCESS_TOKEN works too.
"""

from __future__ import annotations

import base64
import json

import pytest
import requests

from broadcasts.models import Push, PushState
from ome.reconcile import reconcile
from organizations.models import Role
from recordings.models import Recording, RecordingState
from rooms.models import LiveState, Room

from ..conftest import client_for
from ..factories import UserFactory
from .conftest import make_token

pytestmark = [pytest.mark.emulator, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stack(portal_ome, live_server, settings):
    """The emulator asks the live portal about publishers; the portal drives the emulator."""
    portal_ome.config(webhook_url=live_server.url + "/ome/admission", webhook_secret=settings.OME_WEBHOOK_SECRET)
    yield portal_ome
    portal_ome.reset()  # its closing webhooks reach the portal while the test database is still there


def readme_headers(token: str, *, json_body: bool = True) -> dict[str, str]:
    # As in the README: `authorization: Basic base64encode($API_ACCESS_TOKEN)`, lowercase name.
    headers = {"authorization": "Basic " + base64.b64encode(token.encode()).decode()}
    if json_body:
        headers["Content-Type"] = "application/json"
    return headers


def test_the_original_readme_examples_work_against_the_portal_and_reach_the_media_server(
    stack, live_server, room, team
):
    domain = live_server.url  # https://$DOMAIN and https://api.$DOMAIN are both the portal
    token = make_token(team.organization, Role.STREAMER, name="original scripts").value

    # OBS goes live with the room's stream key; the reconcile loop confirms the stream.
    stack.publish(f"rtmp://127.0.0.1:1935/app/{room.stream_key}")
    reconcile()
    assert Room.objects.get(pk=room.pk).live_state == LiveState.LIVE

    # --- Available Streams
    response = requests.get(
        f"{domain}/v1/vhosts/default/apps/app/streams", headers=readme_headers(token, json_body=False)
    )
    assert response.status_code == 200
    assert response.json() == {"message": "OK", "response": ["acme-live"], "statusCode": 200}

    # --- Push stream to Youtube
    raw = json.dumps(
        {
            "id": "UNIQUE_USER_ID_HERE",
            "stream": {"name": "acme-live_youtube"},
            "protocol": "rtmp",
            "url": "rtmp://a.rtmp.youtube.com/live2",
            "streamKey": "STREAM_KEY_HERE",
        }
    )
    response = requests.post(f"{domain}/v1/vhosts/default/apps/app:startPush", headers=readme_headers(token), data=raw)
    assert response.status_code == 200, response.text
    assert (response.json()["statusCode"], response.json()["response"]["id"]) == (200, "UNIQUE_USER_ID_HERE")
    youtube = Push.objects.get(external_id="UNIQUE_USER_ID_HERE")
    assert youtube.room == room and youtube.requested_by is None
    on_ome = {push["id"]: push for push in stack.pushes()}[youtube.ome_id]
    assert (on_ome["stream"]["name"], on_ome["url"], on_ome["streamKey"]) == (
        "acme-live_rtmp",
        "rtmp://a.rtmp.youtube.com/live2",
        "STREAM_KEY_HERE",
    ), "the media server pushes the room's AAC variant to YouTube with the client's key"

    # --- Push stream to Facebook (RTMPS payload)
    raw = json.dumps(
        {
            "id": "UNIQUE_FACEBOOK_ID",
            "stream": {"name": "acme-live_facebook"},
            "protocol": "rtmp",
            "url": "rtmps://live-api-s.facebook.com:443/rtmp",
            "streamKey": "FB_STREAM_KEY",
        }
    )
    response = requests.post(f"{domain}/v1/vhosts/default/apps/app:startPush", headers=readme_headers(token), data=raw)
    assert response.status_code == 200, response.text
    facebook = Push.objects.get(external_id="UNIQUE_FACEBOOK_ID")
    for push in (youtube, facebook):
        stack.wait_for(lambda push=push: stack.push_state(push.ome_id) == "pushing", what="both pushes to run")

    # --- List Pushed streams (the reconcile loop has read OME's counters)
    reconcile()
    response = requests.get(
        f"{domain}/v1/vhosts/default/apps/app:pushes", headers=readme_headers(token, json_body=False)
    )
    assert response.status_code == 200
    listed = {push["id"]: push for push in response.json()["response"]}
    assert set(listed) == {"UNIQUE_USER_ID_HERE", "UNIQUE_FACEBOOK_ID"}
    readme_fields = {
        "app",
        "createdTime",
        "finishTime",
        "id",
        "protocol",
        "sentBytes",
        "sentTime",
        "sequence",
        "startTime",
        "state",
        "stream",
        "streamKey",
        "totalsentBytes",
        "totalsentTime",
        "url",
        "vhost",
    }
    assert readme_fields <= set(listed["UNIQUE_USER_ID_HERE"])
    assert listed["UNIQUE_USER_ID_HERE"]["state"] == "pushing"
    assert listed["UNIQUE_FACEBOOK_ID"]["url"] == "rtmps://live-api-s.facebook.com:443/rtmp"
    assert "FB_STREAM_KEY" not in response.text, "stream keys are masked in lists"

    # A push started this way is an ordinary push: on the room page and in admin.
    page = client_for(team.streamer).get("/rooms/acme-live/").content.decode()
    assert "rtmps://live-api-s.facebook.com:443/rtmp" in page
    admin = client_for(UserFactory(is_staff=True, is_superuser=True)).get("/admin/broadcasts/push/", {"q": "acme-live"})
    assert facebook.ome_id in admin.content.decode() and youtube.ome_id in admin.content.decode()

    # --- Stop pushed stream
    raw = json.dumps({"id": "UNIQUE_USER_ID_HERE"})
    response = requests.post(f"{domain}/v1/vhosts/default/apps/app:stopPush", headers=readme_headers(token), data=raw)
    assert response.json() == {"message": "OK", "statusCode": 200}
    stack.wait_for(lambda: stack.push_state(youtube.ome_id) is None, what="OME to drop the YouTube push")
    assert stack.push_state(facebook.ome_id) == "pushing", "the other push keeps running"
    assert Push.objects.get(pk=youtube.pk).state == PushState.STOPPED

    # --- Start a recording
    raw = json.dumps({"id": "CUSTOM_ID", "stream": {"name": "acme-live"}})
    response = requests.post(
        f"{domain}/v1/vhosts/default/apps/app:startRecord", headers=readme_headers(token), data=raw
    )
    assert response.status_code == 200, response.text
    assert response.json()["response"]["state"] == "recording"
    recording = Recording.objects.get(external_id="CUSTOM_ID")
    assert [(record["id"], record["state"]) for record in stack.records()] == [(recording.ome_id, "recording")]

    # --- List recording (POST without a body, as in the README)
    response = requests.post(f"{domain}/v1/vhosts/default/apps/app:records", headers=readme_headers(token))
    assert response.status_code == 200
    assert [(record["id"], record["state"]) for record in response.json()["response"]] == [("CUSTOM_ID", "recording")]

    # --- Stop a recording
    raw = json.dumps({"id": "CUSTOM_ID"})
    response = requests.post(f"{domain}/v1/vhosts/default/apps/app:stopRecord", headers=readme_headers(token), data=raw)
    assert response.status_code == 200, response.text
    assert response.json()["response"]["id"] == "CUSTOM_ID"
    stack.wait_for(lambda: not stack.records(), what="OME to finish the record")
    stack.wait_for(
        lambda: Recording.objects.get(pk=recording.pk).state == RecordingState.FINISHED,
        what="the portal to finish the recording from OME's info file",
    )
    assert Recording.objects.get(pk=recording.pk).size_bytes > 0


def test_the_operators_api_access_token_still_sees_every_organization(stack, live_server, room, other_room):
    stack.publish(f"rtmp://127.0.0.1:1935/app/{room.stream_key}")
    stack.publish(f"rtmp://127.0.0.1:1935/app/{other_room.stream_key}")
    reconcile()
    operator = requests.get(
        f"{live_server.url}/v1/vhosts/default/apps/app/streams", headers=readme_headers(stack.token, json_body=False)
    )
    assert operator.json()["response"] == ["acme-live", "globex-live"]
    raw = json.dumps(
        {
            "id": "ops-1",
            "stream": {"name": "globex-live_youtube"},
            "protocol": "rtmp",
            "url": "rtmp://a.rtmp.youtube.com/live2",
            "streamKey": "k",
        }
    )
    response = requests.post(
        f"{live_server.url}/v1/vhosts/default/apps/app:startPush", headers=readme_headers(stack.token), data=raw
    )
    assert response.status_code == 200
    push = Push.objects.get(external_id="ops-1")
    assert push.room == other_room and stack.push_state(push.ome_id) in ("ready", "pushing")
