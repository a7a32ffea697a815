"""Inviting members with a role, accepting invitations, roles, leaving, switching organizations."""

import re

import pytest
from django.core import mail

from organizations.models import Invitation, Membership, Role

from .conftest import client_for, make_team
from .factories import PASSWORD, UserFactory


@pytest.fixture
def invite(django_capture_on_commit_callbacks):
    """POST the invite form; the email goes out once the invitation is committed."""

    def _invite(client, email, role):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/members/", {"email": email, "role": role})

    return _invite


def _accept_link(message) -> str:
    return re.search(r"https?://[^/]+(/invite/\S+/)", message.body).group(1)


def test_owner_invites_a_new_person_who_creates_an_account_and_joins_with_the_role(owner_client, team, client, invite):
    response = invite(owner_client, "newcomer@example.com", Role.ADMIN)
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["newcomer@example.com"]
    link = _accept_link(mail.outbox[0])

    page = client.get(link)
    assert b"Join Acme" in page.content
    response = client.post(link, {"full_name": "New Comer", "password": PASSWORD})
    assert response.status_code == 302
    membership = Membership.objects.get(user__email="newcomer@example.com")
    assert membership.organization == team.organization
    assert membership.role == Role.ADMIN
    assert client.get(link).status_code == 404, "an accepted invitation cannot be used twice"


def test_an_existing_user_signs_in_then_accepts_and_can_switch_between_organizations(
    owner_client, team, other_team, invite
):
    invite(owner_client, other_team.streamer.email, Role.STREAMER)
    link = _accept_link(mail.outbox[0])
    invited = client_for(other_team.streamer)
    assert b"Accept the invitation" in invited.get(link).content
    invited.post(link)
    assert Membership.objects.filter(user=other_team.streamer, organization=team.organization).exists()

    # Accepting switched them to Acme; they can switch back to Globex.
    assert b"Acme" in invited.get("/rooms/").content
    invited.post("/orgs/switch/", {"organization": other_team.organization.pk})
    assert b"<summary>Globex</summary>" in invited.get("/rooms/").content


def test_an_invitation_for_someone_else_cannot_be_accepted(owner_client, team, other_team, invite):
    invite(owner_client, "someone@example.com", Role.STREAMER)
    link = _accept_link(mail.outbox[0])
    response = client_for(other_team.owner).post(link)
    assert response.status_code == 403
    assert b"This invitation is for someone@example.com" in response.content
    assert not Membership.objects.filter(user=other_team.owner, organization=team.organization).exists()


def test_streamers_cannot_invite_and_admins_cannot_make_owners(team, invite):
    response = invite(client_for(team.streamer), "x@example.com", Role.STREAMER)
    assert response.status_code == 403
    assert b"Only owners and admins can manage members" in response.content
    response = invite(client_for(team.admin), "y@example.com", Role.OWNER)
    assert b"Only an owner can make someone an owner" in response.content
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_inviting_an_existing_member_is_refused_with_a_message(owner_client, team, invite):
    response = invite(owner_client, team.streamer.email, Role.ADMIN)
    assert response.status_code == 400
    assert b"is already a member of Acme" in response.content


def test_owner_changes_a_role_and_the_last_owner_cannot_step_down(owner_client, team, membership_of):
    streamer = membership_of(team.streamer, team.organization)
    owner_client.post(f"/members/{streamer.pk}/role", {"role": Role.ADMIN})
    streamer.refresh_from_db()
    assert streamer.role == Role.ADMIN

    owner = membership_of(team.owner, team.organization)
    response = owner_client.post(f"/members/{owner.pk}/remove", follow=True)
    assert b"needs at least one owner" in response.content
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_a_member_can_leave_and_an_admin_removes_a_streamer(team, membership_of):
    streamer = membership_of(team.streamer, team.organization)
    client_for(team.admin).post(f"/members/{streamer.pk}/remove")
    assert not Membership.objects.filter(pk=streamer.pk).exists()

    admin = membership_of(team.admin, team.organization)
    client_for(team.admin).post(f"/members/{admin.pk}/remove")
    assert not Membership.objects.filter(pk=admin.pk).exists()


def test_members_of_another_organization_cannot_change_roles_here(team, other_team, membership_of):
    streamer = membership_of(team.streamer, team.organization)
    response = client_for(other_team.owner).post(f"/members/{streamer.pk}/role", {"role": Role.OWNER})
    assert response.status_code == 404
    streamer.refresh_from_db()
    assert streamer.role == Role.STREAMER


@pytest.mark.parametrize("path", ["/members/", "/rooms/"])
def test_a_user_without_organization_is_asked_to_create_one(client, db, path):
    user = UserFactory()
    client.force_login(user)
    response = client.get(path)
    assert response["Location"] == "/orgs/new/"
    response = client.post("/orgs/new/", {"name": "Fresh Start"}, follow=True)
    assert b"Fresh Start" in response.content
    assert Membership.objects.get(user=user).role == Role.OWNER


def test_switching_to_an_organization_you_do_not_belong_to_is_404(owner_client, db):
    stranger = make_team("Initech")
    response = owner_client.post("/orgs/switch/", {"organization": stranger.organization.pk})
    assert response.status_code == 404
