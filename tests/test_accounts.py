"""Sign up, sign in, sign out and password reset."""

import re

from django.core import mail

from organizations.models import Membership, Organization, Role, User

from .factories import PASSWORD, UserFactory


def test_sign_up_creates_the_user_and_their_organization_as_owner(client, db):
    response = client.post(
        "/accounts/signup/",
        {
            "full_name": "Ada Lovelace",
            "email": "Ada@Example.com",
            "password": PASSWORD,
            "organization_name": "Analytical Streams",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/rooms/"
    user = User.objects.get(email="ada@example.com")
    organization = Organization.objects.get(name="Analytical Streams")
    assert Membership.objects.get(user=user, organization=organization).role == Role.OWNER
    page = client.get("/rooms/")
    assert b"Analytical Streams" in page.content


def test_sign_up_refuses_an_existing_email_and_a_weak_password(client, db):
    UserFactory(email="taken@example.com")
    response = client.post(
        "/accounts/signup/", {"email": "taken@example.com", "password": "123", "organization_name": "X"}
    )
    assert response.status_code == 200
    assert b"An account with this email already exists" in response.content
    assert b"This password is too short" in response.content
    assert not Organization.objects.filter(name="X").exists()


def test_sign_in_with_email_and_password_then_sign_out(client, db):
    UserFactory(email="streamer@example.com")
    response = client.post("/accounts/login/", {"username": "streamer@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/rooms/").status_code in (200, 302)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/rooms/")["Location"].startswith("/accounts/login/")


def test_wrong_password_shows_an_error_and_repeated_attempts_are_throttled(client, db):
    UserFactory(email="streamer@example.com")
    response = client.post("/accounts/login/", {"username": "streamer@example.com", "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter a correct email" in response.content
    for _ in range(10):
        client.post("/accounts/login/", {"username": "streamer@example.com", "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "streamer@example.com", "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts" in response.content


def test_password_reset_emails_a_link_that_sets_a_new_password(client, db):
    UserFactory(email="forgetful@example.com")
    response = client.post("/accounts/password_reset/", {"email": "forgetful@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    assert b"Choose a new password" in form_page.content
    response = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a brand new passphrase", "new_password2": "a brand new passphrase"},
    )
    assert response.status_code == 302
    assert client.login(email="forgetful@example.com", password="a brand new passphrase")


def test_password_reset_for_an_unknown_email_reveals_nothing(client, db):
    response = client.post("/accounts/password_reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert mail.outbox == []
