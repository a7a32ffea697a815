"""The role that counts is the member's role in the organization of the room being touched.

A streamer of Acme who also owns an organization of their own (and has it selected) must not
act as an admin on Acme's rooms: the role of the selected organization never carries over.
"""

import pytest

from organizations.models import Membership, Role
from rooms.models import Room, Visibility

from .conftest import client_for
from .factories import OrganizationFactory


@pytest.fixture
def streamer_who_owns_another_org(team):
    """Acme's streamer, also the owner of their own organization, which is selected in the session."""
    own = OrganizationFactory(name="Side project")
    Membership.objects.create(user=team.streamer, organization=own, role=Role.OWNER)
    client = client_for(team.streamer)
    response = client.post("/orgs/switch/", {"organization": own.pk})
    assert response.status_code == 302
    return client


@pytest.fixture
def private_room(room):
    room.visibility = Visibility.PRIVATE
    room.save()
    return room


def test_they_cannot_rotate_the_stream_key_of_the_other_organizations_room(streamer_who_owns_another_org, room):
    key_before = room.stream_key
    response = streamer_who_owns_another_org.post(f"/rooms/{room.public_id}/rotate-key")
    assert response.status_code == 403
    room.refresh_from_db()
    assert room.stream_key == key_before, "a streamer replaced the room's stream key"


def test_they_cannot_make_the_other_organizations_private_room_public_and_embeddable_anywhere(
    streamer_who_owns_another_org, private_room
):
    response = streamer_who_owns_another_org.post(
        f"/rooms/{private_room.public_id}/edit/",
        {"title": "Hijacked", "visibility": Visibility.PUBLIC, "allowed_embed_origins": "*"},
    )
    assert response.status_code == 403
    private_room.refresh_from_db()
    assert (private_room.title, private_room.visibility, private_room.allowed_embed_origins) == (
        "Acme Live",
        Visibility.PRIVATE,
        "",
    )


def test_they_cannot_open_the_settings_form_of_the_other_organizations_room(streamer_who_owns_another_org, room):
    assert streamer_who_owns_another_org.get(f"/rooms/{room.public_id}/edit/").status_code == 403


def test_they_cannot_mint_a_year_long_embed_link_for_the_other_organizations_private_room(
    streamer_who_owns_another_org, private_room
):
    response = streamer_who_owns_another_org.post(
        f"/rooms/{private_room.public_id}/embed-links", {"lifetime": str(366 * 24 * 3600)}
    )
    assert response.status_code == 403
    assert b"link=" not in response.content


def test_they_cannot_withdraw_the_other_organizations_embed_links(streamer_who_owns_another_org, private_room):
    response = streamer_who_owns_another_org.post(f"/rooms/{private_room.public_id}/embed-links/revoke")
    assert response.status_code == 403
    private_room.refresh_from_db()
    assert private_room.embed_link_generation == 0


def test_they_cannot_delete_the_other_organizations_room(streamer_who_owns_another_org, room):
    assert streamer_who_owns_another_org.get(f"/rooms/{room.public_id}/delete/").status_code == 403
    assert streamer_who_owns_another_org.post(f"/rooms/{room.public_id}/delete/").status_code == 403
    assert Room.objects.filter(pk=room.pk).exists(), "a streamer deleted the room"


def test_they_still_do_what_a_streamer_may_do_on_the_other_organizations_room(streamer_who_owns_another_org, room):
    assert streamer_who_owns_another_org.get(f"/rooms/{room.public_id}/").status_code == 200
    response = streamer_who_owns_another_org.post(f"/rooms/{room.public_id}/stream-key")
    assert response.status_code == 200 and response.json()["stream_key"] == room.stream_key


def test_the_room_page_shows_them_no_admin_controls(streamer_who_owns_another_org, room):
    page = streamer_who_owns_another_org.get(f"/rooms/{room.public_id}/").content.decode()
    assert "/rotate-key" not in page
    assert f"/rooms/{room.public_id}/edit/" not in page


def test_an_admin_of_the_rooms_organization_keeps_admin_rights_while_another_org_is_selected(team, room):
    """The other way round: the role in the room's organization counts, not the selected one's."""
    own = OrganizationFactory(name="Hobby")
    Membership.objects.create(user=team.admin, organization=own, role=Role.STREAMER)
    client = client_for(team.admin)
    client.post("/orgs/switch/", {"organization": own.pk})
    key_before = room.stream_key
    assert client.post(f"/rooms/{room.public_id}/rotate-key").status_code == 302
    room.refresh_from_db()
    assert room.stream_key != key_before


def test_looking_a_room_up_in_an_action_does_not_switch_the_selected_organization(streamer_who_owns_another_org, room):
    streamer_who_owns_another_org.post(f"/rooms/{room.public_id}/stream-key")
    streamer_who_owns_another_org.get(f"/rooms/{room.public_id}/status")
    page = streamer_who_owns_another_org.get("/rooms/").content.decode()
    assert "<summary>Side project</summary>" in page, "an action on a room switched the selected organization"
    assert room.title not in page
