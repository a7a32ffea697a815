"""A room's delivery (Original or Adaptive) in its settings, the API and Django admin, within the
organization's limit on adaptive rooms (transcoding costs the operator CPU)."""

import pytest

from rooms.models import Quality, Room

from .api.conftest import make_token
from .conftest import client_for
from .factories import RoomFactory
from .test_rooms import _create


def test_a_new_room_is_delivered_as_published_unless_adaptive_is_chosen(team):
    client = client_for(team.admin)
    assert _create(client, public_id="plain", quality="original").status_code == 302
    assert _create(client, public_id="ladder", quality="adaptive").status_code == 302
    assert Room.objects.get(public_id="plain").quality == Quality.ORIGINAL
    assert Room.objects.get(public_id="ladder").quality == Quality.ADAPTIVE


def test_the_settings_page_refuses_adaptive_past_the_limit_next_to_the_choice_and_saves_nothing(team):
    team.organization.max_adaptive_rooms = 1
    team.organization.save()
    RoomFactory(organization=team.organization, quality=Quality.ADAPTIVE)
    room = RoomFactory(organization=team.organization, title="Second")
    client = client_for(team.admin)
    response = client.post(
        f"/rooms/{room.public_id}/edit/",
        {"title": "Renamed", "description": "", "visibility": "public", "quality": "adaptive"},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["quality"] == [
        "Acme may have 1 adaptive room (transcoding costs server CPU) and has as many already. "
        "Switch another room to Original, or ask us for a higher limit."
    ]
    room.refresh_from_db()
    assert (room.title, room.quality) == ("Second", Quality.ORIGINAL), "nothing half-written"
    response = _create(client, public_id="third", quality="adaptive")
    assert response.status_code == 400
    assert not Room.objects.filter(public_id="third").exists()


def test_an_adaptive_room_can_be_saved_again_at_the_limit(team):
    team.organization.max_adaptive_rooms = 1
    team.organization.save()
    room = RoomFactory(organization=team.organization, quality=Quality.ADAPTIVE)
    response = client_for(team.admin).post(
        f"/rooms/{room.public_id}/edit/",
        {"title": "Still adaptive", "description": "", "visibility": "public", "quality": "adaptive"},
    )
    assert response.status_code == 302


def test_the_room_page_says_a_quality_change_takes_effect_at_the_next_go_live(team):
    room = RoomFactory(organization=team.organization, quality=Quality.ADAPTIVE)
    page = client_for(team.streamer).get(f"/rooms/{room.public_id}/").content.decode()
    assert "Adaptive" in page
    assert "takes effect at the room's next go-live" in page


@pytest.mark.django_db
def test_the_api_sets_quality_and_answers_403_with_the_reason_past_the_limit(team):
    team.organization.max_adaptive_rooms = 1
    team.organization.save()
    api = make_token(team.organization, "owner").client()
    response = api.post("/api/v1/rooms/", {"title": "ABR", "quality": "adaptive"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["quality"] == "adaptive"
    response = api.post("/api/v1/rooms/", {"title": "Too many", "quality": "adaptive"}, format="json")
    assert response.status_code == 403
    assert "may have 1 adaptive room" in response.json()["detail"]
    assert not Room.objects.filter(title="Too many").exists()
    response = api.post("/api/v1/rooms/", {"title": "Odd", "quality": "4k"}, format="json")
    assert response.status_code == 400
    assert "quality" in response.json()


def test_staff_see_each_organizations_adaptive_rooms_and_limit_in_admin(team, admin_client):
    RoomFactory(organization=team.organization, quality=Quality.ADAPTIVE)
    page = admin_client.get("/admin/organizations/organization/").content.decode()
    assert "adaptive rooms (used / limit)" in page.lower()
    assert "1 / 2" in page
    change = admin_client.get(f"/admin/organizations/organization/{team.organization.pk}/change/").content.decode()
    assert 'name="max_adaptive_rooms"' in change
