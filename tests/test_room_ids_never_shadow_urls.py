"""A room id never collides with an address of the site: `/rooms/new/` is the create form, so a
room called `new` could never be opened. The reserved words come from the URL configuration
itself, so a page added later reserves its words without anyone keeping a list."""

import pytest
from django.test import override_settings

from rooms.models import Room, reserved_room_ids

from .conftest import client_for


def _create(client, public_id: str):
    return client.post("/rooms/new/", {"title": "Show", "public_id": public_id, "visibility": "public"})


@pytest.mark.parametrize("public_id", ["new", "admin", "api", "watch", "embed", "rooms", "healthz", "edit", "status"])
def test_an_id_that_is_a_word_of_the_sites_addresses_is_refused_with_a_form_error(team, public_id):
    response = _create(client_for(team.owner), public_id)
    assert response.status_code == 400
    assert b"is part of the site&#x27;s addresses" in response.content
    assert not Room.objects.exists()


def test_the_api_refuses_such_an_id_with_a_message(team, membership_of):
    from api.services import create_api_token

    _row, token = create_api_token(actor=membership_of(team.owner, team.organization), name="ci", role="admin")
    response = client_for(None).post(
        "/api/v1/rooms/",
        {"id": "new", "title": "Shadow"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 400
    assert "part of the site's addresses" in str(response.json())


def test_ordinary_ids_that_merely_contain_such_words_are_fine(team):
    response = _create(client_for(team.owner), "new-year-show")
    assert response.status_code == 302
    assert Room.objects.filter(public_id="new-year-show").exists()


@override_settings(ROOT_URLCONF="tests.urlconfs.with_schedule_page")
def test_a_page_added_later_reserves_its_words_without_a_hand_kept_list():
    reserved_room_ids.cache_clear()
    try:
        assert {"schedule", "calendar"} <= reserved_room_ids()
    finally:
        reserved_room_ids.cache_clear()
