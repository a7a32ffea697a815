"""Django admin for staff: every model listed, searchable, secrets masked."""

import pytest
from django.apps import apps

from .conftest import client_for
from .factories import UserFactory


@pytest.fixture
def staff_client(db):
    return client_for(UserFactory(is_staff=True, is_superuser=True))


def _registered_models():
    from django.contrib import admin

    return [
        model
        for model in apps.get_models()
        if model in admin.site._registry and model._meta.app_label in {"portal", "rooms", "broadcasts", "recordings"}
    ]


def test_every_model_of_the_portal_is_in_the_admin():
    from django.contrib import admin

    missing = [
        model.__name__
        for model in apps.get_models()
        if model._meta.app_label in {"portal", "rooms", "broadcasts", "recordings"}
        and model not in admin.site._registry
    ]
    assert missing == []


def test_every_admin_list_loads_with_search_and_filters(staff_client, room):
    for model in _registered_models():
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        response = staff_client.get(url, {"q": "acme"})
        assert response.status_code == 200, url


def test_the_stream_key_is_masked_in_the_admin(staff_client, room):
    page = staff_client.get(f"/admin/rooms/room/{room.pk}/change/")
    assert page.status_code == 200
    assert room.stream_key.encode() not in page.content
    assert room.stream_key[-4:].encode() in page.content


def test_staff_can_disable_a_room(staff_client, room):
    staff_client.post("/admin/rooms/room/", {"action": "disable", "_selected_action": [room.pk]})
    room.refresh_from_db()
    assert room.is_enabled is False


def test_members_who_are_not_staff_cannot_open_the_admin(owner_client):
    assert owner_client.get("/admin/")["Location"].startswith("/admin/login/")
