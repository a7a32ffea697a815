"""Creating, editing and deleting rooms; stream keys shown on demand, rotated, encrypted at rest."""

import pytest
from django.db import connection

from core.crypto import secret_digest
from organizations.models import Role
from rooms.models import Room

from .conftest import client_for


def _create(client, **data):
    payload = {
        "title": "Morning Show",
        "public_id": "",
        "description": "",
        "visibility": "public",
        "allowed_embed_origins": "",
    }
    payload.update(data)
    return client.post("/rooms/new/", payload)


def test_admin_creates_a_room_with_a_chosen_id_and_lands_on_its_page(team):
    client = client_for(team.admin)
    response = _create(client, public_id="morning-show")
    assert response.status_code == 302
    assert response["Location"] == "/rooms/morning-show/"
    room = Room.objects.get(public_id="morning-show")
    assert room.organization == team.organization
    page = client.get("/rooms/morning-show/")
    assert b"Morning Show" in page.content
    assert b"rtmp://127.0.0.1:1935/app" in page.content, "the room page shows the OBS server URL"
    assert b"/watch/morning-show" in page.content
    assert b"&lt;iframe src=&quot;http://testserver/embed/morning-show&quot;" in page.content


def test_a_room_without_a_chosen_id_gets_a_generated_one(owner_client, team):
    _create(owner_client, public_id="")
    room = Room.objects.get(organization=team.organization)
    assert room.public_id.startswith("room-")
    assert len(room.public_id) == 13


@pytest.mark.parametrize(
    ("public_id", "message"),
    [
        ("ab", b"A room id is 3 to 64 characters"),
        ("-starts-with-dash", b"A room id is 3 to 64 characters"),
        ("has space", b"A room id is 3 to 64 characters"),
        ("x" * 65, b"at most 64 characters"),
        ("show_rtmp", b"cannot end with &#x27;_rtmp&#x27;"),
    ],
)
def test_an_invalid_room_id_is_refused_with_a_form_error(owner_client, team, public_id, message):
    response = _create(owner_client, public_id=public_id)
    assert response.status_code == 400
    assert message in response.content
    assert not Room.objects.exists()


def test_room_ids_are_lowercased_and_unique_across_organizations(owner_client, team, other_room):
    response = _create(owner_client, public_id="GLOBEX-LIVE")
    assert response.status_code == 400
    assert b"This room id is taken" in response.content
    _create(owner_client, public_id="Acme-Show")
    assert Room.objects.filter(public_id="acme-show", organization=team.organization).exists()


def test_bad_embed_origins_are_refused_and_good_ones_are_kept(owner_client, room):
    data = {"title": room.title, "description": "", "visibility": "public", "auto_record": ""}
    response = owner_client.post(
        f"/rooms/{room.public_id}/edit/", {**data, "allowed_embed_origins": "example.com\nftp://x.org"}
    )
    assert response.status_code == 400
    assert b"Not an origin: example.com, ftp://x.org" in response.content
    response = owner_client.post(
        f"/rooms/{room.public_id}/edit/",
        {**data, "allowed_embed_origins": "https://blog.example.com/\nhttps://*.example.org"},
    )
    assert response.status_code == 302
    room.refresh_from_db()
    assert room.embed_origins == ["https://blog.example.com", "https://*.example.org"]


def test_the_organization_room_limit_is_enforced_with_a_message(owner_client, team):
    team.organization.max_rooms = 1
    team.organization.save()
    _create(owner_client, public_id="first-room")
    response = _create(owner_client, public_id="second-room")
    assert response.status_code == 400
    assert b"already has 1 rooms, its limit" in response.content
    assert list(Room.objects.values_list("public_id", flat=True)) == ["first-room"]


def test_streamers_see_rooms_but_cannot_create_edit_or_delete_them(team, room):
    client = client_for(team.streamer)
    assert client.get("/rooms/").status_code == 200
    assert client.get(f"/rooms/{room.public_id}/").status_code == 200
    assert _create(client, public_id="sneaky").status_code == 403
    assert client.get(f"/rooms/{room.public_id}/edit/").status_code == 403
    assert client.post(f"/rooms/{room.public_id}/delete/").status_code == 403
    assert client.post(f"/rooms/{room.public_id}/rotate-key").status_code == 403
    assert Room.objects.filter(pk=room.pk).exists()


def test_admin_deletes_an_offline_room_but_not_a_live_one(owner_client, room):
    room.live_state = "live"
    room.save()
    response = owner_client.post(f"/rooms/{room.public_id}/delete/", follow=True)
    assert b"This room is live" in response.content
    assert Room.objects.filter(pk=room.pk).exists()
    room.live_state = "offline"
    room.save()
    response = owner_client.post(f"/rooms/{room.public_id}/delete/")
    assert response["Location"] == "/rooms/"
    assert not Room.objects.filter(pk=room.pk).exists()


def test_the_stream_key_is_masked_on_the_page_and_shown_on_demand_to_members(streamer_client, room):
    page = streamer_client.get(f"/rooms/{room.public_id}/")
    assert room.stream_key.encode() not in page.content
    assert room.stream_key[-4:].encode() in page.content
    assert streamer_client.get(f"/rooms/{room.public_id}/stream-key").status_code == 405, "never by GET"
    response = streamer_client.post(f"/rooms/{room.public_id}/stream-key")
    assert response.json()["stream_key"] == room.stream_key
    # OME 0.21's stream id form, {vhost}/{app}/{stream}: OBS sends it as is (nothing to percent-encode).
    assert response.json()["srt_url"] == f"srt://127.0.0.1:9999?streamid=default/app/{room.stream_key}"
    assert "no-store" in response["Cache-Control"]


def test_rotating_the_key_replaces_it_and_the_old_key_no_longer_matches(owner_client, room):
    old_key = room.stream_key
    response = owner_client.post(f"/rooms/{room.public_id}/rotate-key", follow=True)
    assert b"The old key no longer works" in response.content
    room.refresh_from_db()
    assert room.stream_key != old_key
    assert not Room.objects.filter(stream_key_digest=secret_digest(old_key)).exists()
    assert Room.objects.get(stream_key_digest=secret_digest(room.stream_key)) == room


def test_stream_keys_are_encrypted_at_rest(room):
    with connection.cursor() as cursor:
        cursor.execute("SELECT stream_key FROM rooms_room WHERE id = %s", [room.pk])
        stored = cursor.fetchone()[0]
    assert room.stream_key not in stored
    assert stored.startswith("gAAAAA"), "Fernet token"


def test_room_list_shows_only_this_organizations_rooms(owner_client, room, other_room):
    page = owner_client.get("/rooms/")
    assert b"acme-live" in page.content
    assert b"globex-live" not in page.content


def test_room_status_reports_live_state_for_members(owner_client, room):
    room.live_state = "live"
    room.viewer_count = 7
    room.ingest_protocol = "rtmp"
    room.save()
    status = owner_client.get(f"/rooms/{room.public_id}/status").json()
    assert status == {
        "room": "acme-live",
        "state": "live",
        "live": True,
        "viewers": 7,
        "since": None,
        "protocol": "rtmp",
    }


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.STREAMER])
def test_every_member_can_open_the_publisher(team, room, role):
    response = client_for(team.member(role)).get(f"/rooms/{room.public_id}/publish")
    assert response.status_code == 200
    assert b"OvenLiveKit" in response.content


def test_the_original_publisher_url_still_works(streamer_client, room):
    response = streamer_client.get(f"/?room={room.public_id}")
    assert response.status_code == 200
    assert b'id="publisher-config"' in response.content
    assert b"ws://127.0.0.1:3333/app/acme-live?direction=send" in response.content


def test_the_publisher_sends_strangers_to_sign_in(client, room):
    response = client.get(f"/?room={room.public_id}")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_a_user_in_two_organizations_following_a_link_is_switched_to_the_rooms_organization(
    team, other_team, other_room
):
    from organizations.models import Membership

    Membership.objects.create(user=team.owner, organization=other_team.organization, role=Role.STREAMER)
    client = client_for(team.owner)
    response = client.get(f"/rooms/{other_room.public_id}/")
    assert response.status_code == 200
    assert b"<summary>Globex</summary>" in response.content
