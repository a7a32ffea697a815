"""POST /rooms/ID/publish-credential: the browser publisher's single-use credential, members only."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from rooms import credentials
from rooms.models import LiveSession

from .admission_helpers import publish
from .conftest import client_for


def _credential_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["credential"][0]


@pytest.mark.parametrize("role", ["owner", "admin", "streamer"])
def test_every_member_gets_a_credential_in_the_webrtc_url_ovenlivekit_opens(team, room, role):
    response = client_for(team.member(role)).post(f"/rooms/{room.public_id}/publish-credential")
    assert response.status_code == 200
    url = response.json()["url"]
    assert url.startswith("ws://127.0.0.1:3333/app/acme-live?direction=send&credential=")
    credential = credentials.read_publish_credential(_credential_of(url))
    assert (credential.room_id, credential.user_id) == (room.pk, team.member(role).pk)
    assert response["Cache-Control"].startswith("max-age=0")


def test_the_browser_publishes_over_every_path_ome_offers_udp_then_tcp_then_its_turn_relay(streamer_client, room):
    # One try only (the credential is single-use and the room then starts), so the publisher asks
    # OME 0.21 for all of its ICE paths at once: transport=all (not `tcp`, which 0.21 reads as
    # direct TCP ICE only).
    url = streamer_client.post(f"/rooms/{room.public_id}/publish-credential").json()["url"]
    assert parse_qs(urlsplit(url).query)["transport"] == ["all"]
    page = streamer_client.get(f"/rooms/{room.public_id}/publish")
    assert "transport=all" in page.context["config"]["webrtcUrl"]


def test_each_press_of_go_live_gets_a_new_credential(streamer_client, room):
    first = streamer_client.post(f"/rooms/{room.public_id}/publish-credential").json()["url"]
    second = streamer_client.post(f"/rooms/{room.public_id}/publish-credential").json()["url"]
    assert first != second


def test_the_credential_lets_ome_admit_the_member_and_records_who_went_live(
    streamer_client, client, room, team, django_capture_on_commit_callbacks
):
    url = streamer_client.post(f"/rooms/{room.public_id}/publish-credential").json()["url"]
    ome_url = url.replace("ws://127.0.0.1:3333", "ws://ome.internal:3333")
    with django_capture_on_commit_callbacks(execute=True):
        assert publish(client, ome_url, protocol="WebRTC").json() == {"allowed": True}
    assert LiveSession.objects.get(room=room).started_by == team.streamer


def test_members_of_other_organizations_get_a_404(outsider_client, room):
    response = outsider_client.post(f"/rooms/{room.public_id}/publish-credential")
    assert response.status_code == 404
    assert response.json() == {"detail": "No such room."}


def test_an_unknown_room_is_a_404(streamer_client, db):
    assert streamer_client.post("/rooms/no-such-room/publish-credential").status_code == 404


def test_a_signed_out_visitor_is_told_to_sign_in(client, room):
    response = client.post(f"/rooms/{room.public_id}/publish-credential")
    assert response.status_code == 403
    assert "sign in" in response.json()["detail"]


def test_only_post_mints_a_credential(streamer_client, room):
    assert streamer_client.get(f"/rooms/{room.public_id}/publish-credential").status_code == 405


def test_the_credential_needs_the_csrf_token_of_the_page(team, room):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(team.streamer)
    assert browser.post(f"/rooms/{room.public_id}/publish-credential").status_code == 403
    page = browser.get(f"/rooms/{room.public_id}/publish")
    token = page.cookies["csrftoken"].value
    response = browser.post(f"/rooms/{room.public_id}/publish-credential", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200


def test_a_disabled_room_gets_a_403_with_a_message(streamer_client, room):
    room.is_enabled = False
    room.save()
    response = streamer_client.post(f"/rooms/{room.public_id}/publish-credential")
    assert response.status_code == 403
    assert response.json()["detail"] == "This room is disabled by the operators and cannot go live."


def test_a_suspended_organization_gets_a_403_with_a_message(streamer_client, room, team):
    team.organization.is_suspended = True
    team.organization.save()
    response = streamer_client.post(f"/rooms/{room.public_id}/publish-credential")
    assert response.status_code == 403
    assert response.json()["detail"] == "Acme is suspended: nobody can go live right now."


@pytest.mark.parametrize("path", ["/rooms/{id}/publish", "/?room={id}"])
def test_the_publisher_page_knows_where_to_get_its_credential(streamer_client, room, path):
    response = streamer_client.get(path.format(id=room.public_id))
    config = json.loads(response.content.split(b'id="publisher-config" type="application/json">')[1].split(b"<")[0])
    assert config["credentialUrl"] == f"/rooms/{room.public_id}/publish-credential"
    assert "credential=" not in config["webrtcUrl"], "no credential is baked into the page"
