"""API tokens: created by owners and admins on the tokens page, shown once, stored hashed,
revocable, with their last use; per-token request limits; staff see them in admin."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from api.models import ApiToken
from organizations.models import Role

from ..conftest import client_for
from ..factories import UserFactory
from .conftest import make_token

PAGE = "/api-tokens/"


def _new_token(page_html: str) -> str:
    match = re.search(r'id="new-token-value" type="text" value="(sst_[^"]+)"', page_html)
    assert match, "the new token is not shown on the page"
    return match.group(1)


def test_an_owner_creates_a_token_sees_it_once_and_it_works(team, client):
    owner = client_for(team.owner)
    response = owner.post(PAGE, {"name": "Deploy script", "role": "admin"})
    assert response.status_code == 200
    html = response.content.decode()
    token = _new_token(html)
    assert 'data-copy="#new-token-value"' in html, "the token has a copy button"
    stored = ApiToken.objects.get()
    assert (stored.name, stored.role, stored.organization, stored.created_by) == (
        "Deploy script",
        Role.ADMIN,
        team.organization,
        team.owner,
    )
    assert stored.digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {stored.digest, stored.prefix} and token.startswith(stored.prefix)
    again = owner.get(PAGE).content.decode()
    assert token not in again, "the token is shown only once"
    assert f"{stored.prefix}…" in again and "Deploy script" in again and "never" in again
    answer = client.get("/api/v1/rooms/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert answer.status_code == 200


def test_the_list_shows_when_a_token_was_last_used(team, client):
    token = make_token(team.organization, Role.STREAMER)
    client.get("/api/v1/rooms/", HTTP_AUTHORIZATION=f"Bearer {token.value}")
    token.api_token.refresh_from_db()
    assert token.api_token.last_used_at is not None
    page = client_for(team.admin).get(PAGE).content.decode()
    assert re.search(r"0\xa0minutes ago|0 minutes ago", page), "last use is shown"


def test_last_use_is_written_at_most_once_a_minute(team, client):
    token = make_token(team.organization, Role.STREAMER)
    recently = timezone.now() - timedelta(seconds=30)
    ApiToken.objects.filter(pk=token.api_token.pk).update(last_used_at=recently)
    client.get("/api/v1/rooms/", HTTP_AUTHORIZATION=f"Bearer {token.value}")
    assert ApiToken.objects.get(pk=token.api_token.pk).last_used_at == recently
    long_ago = timezone.now() - timedelta(minutes=5)
    ApiToken.objects.filter(pk=token.api_token.pk).update(last_used_at=long_ago)
    client.get("/api/v1/rooms/", HTTP_AUTHORIZATION=f"Bearer {token.value}")
    assert ApiToken.objects.get(pk=token.api_token.pk).last_used_at > long_ago


def test_an_admin_cannot_create_an_owner_token(team):
    admin = client_for(team.admin)
    page = admin.get(PAGE).content.decode()
    assert 'value="owner"' not in page, "only roles up to the admin's own are offered"
    response = admin.post(PAGE, {"name": "Sneaky", "role": "owner"})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_a_token_needs_a_name(team):
    response = client_for(team.owner).post(PAGE, {"name": "", "role": "streamer"})
    assert response.status_code == 400
    assert b"Give the token a name." in response.content


def test_streamers_cannot_open_the_tokens_page(team):
    assert client_for(team.streamer).get(PAGE).status_code == 403
    assert client_for(team.streamer).post(PAGE, {"name": "x", "role": "streamer"}).status_code == 403
    assert not ApiToken.objects.exists()


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_revoking_a_token_makes_it_401_at_once(team, client):
    token = make_token(team.organization, Role.ADMIN)
    response = client_for(team.admin).post(f"/api-tokens/{token.api_token.pk}/revoke")
    assert response.status_code == 302
    assert client.get("/api/v1/rooms/", HTTP_AUTHORIZATION=f"Bearer {token.value}").status_code == 401
    page = client_for(team.admin).get(PAGE).content.decode()
    assert "Revoked" in page


def test_an_admin_cannot_revoke_an_owner_token(team, client):
    token = make_token(team.organization, Role.OWNER)
    admin = client_for(team.admin)
    assert f"/api-tokens/{token.api_token.pk}/revoke" not in admin.get(PAGE).content.decode()
    admin.post(f"/api-tokens/{token.api_token.pk}/revoke")
    assert client.get("/api/v1/rooms/", HTTP_AUTHORIZATION=f"Bearer {token.value}").status_code == 200


def test_another_organizations_token_cannot_be_seen_or_revoked(team, other_team, client):
    token = make_token(other_team.organization, Role.STREAMER)
    owner = client_for(team.owner)
    assert token.api_token.prefix not in owner.get(PAGE).content.decode()
    assert owner.post(f"/api-tokens/{token.api_token.pk}/revoke").status_code == 404
    assert client.get("/api/v1/rooms/", HTTP_AUTHORIZATION=f"Bearer {token.value}").status_code == 200


def test_staff_see_tokens_in_admin_without_their_hash_and_can_revoke_them(team, client):
    token = make_token(team.organization, Role.STREAMER)
    staff = client_for(UserFactory(is_staff=True, is_superuser=True))
    listing = staff.get("/admin/api/apitoken/", {"q": "streamer"}).content.decode()
    change = staff.get(f"/admin/api/apitoken/{token.api_token.pk}/change/").content.decode()
    for page in (listing, change):
        assert token.api_token.prefix in page
        assert token.api_token.digest not in page and token.value not in page
    assert staff.get("/admin/api/apitoken/add/").status_code == 403, "tokens are created by their organizations"
    staff.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.api_token.pk]})
    assert client.get("/api/v1/rooms/", HTTP_AUTHORIZATION=f"Bearer {token.value}").status_code == 401


@pytest.fixture
def three_a_minute(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_token": "3/minute"}}


def test_each_token_has_its_own_request_budget(team, three_a_minute):
    busy, quiet = make_token(team.organization, Role.STREAMER), make_token(team.organization, Role.STREAMER)
    client = busy.client()
    assert [client.get("/api/v1/rooms/").status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get("/api/v1/rooms/")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert "throttled" in refused.json()["detail"]
    assert quiet.client().get("/api/v1/rooms/").status_code == 200, "another token is not slowed down"
