"""Password-reset mails are limited per client address and per email address, and the page answers
the same whether or not an account has that email, also once a limit is reached."""

import re

import pytest
from django.core import mail
from django.test import Client

from .factories import UserFactory


@pytest.fixture
def limits(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    settings.PASSWORD_RESETS_PER_ADDRESS = 3
    settings.PASSWORD_RESETS_PER_EMAIL = 2
    settings.PASSWORD_RESET_WINDOW_SECONDS = 3600
    return settings


def _page(content: bytes, email_prefix: str) -> bytes:
    """The page without what differs by design: the CSRF token, the email typed in, the minutes left."""
    content = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", content)
    return re.sub(rb"in \d+ minutes?", b"", content).replace(email_prefix.encode(), b"")


def ask_reset(email: str, **meta):
    return Client().post("/accounts/password_reset/", {"email": email}, **meta)


def test_one_address_cannot_send_more_reset_mails_than_the_limit(db, limits):
    for n in range(5):
        UserFactory(email=f"user{n}@example.com")
    for n in range(3):
        response = ask_reset(f"user{n}@example.com", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
        assert response.status_code == 302
    response = ask_reset("user3@example.com", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="192.0.2.77")
    assert response.status_code == 429, "a new X-Forwarded-For must not buy more mails"
    assert b"Too many password reset requests" in response.content
    assert int(response["Retry-After"]) > 0
    assert len(mail.outbox) == 3
    assert ask_reset("user4@example.com", REMOTE_ADDR="203.0.113.9").status_code == 302, "other addresses still can"


def test_one_mailbox_gets_no_more_reset_mails_than_the_limit_from_any_number_of_addresses(db, limits):
    UserFactory(email="victim@example.com")
    for n in range(2):
        assert ask_reset("victim@example.com", REMOTE_ADDR=f"192.0.2.{n}").status_code == 302
    response = ask_reset("Victim@Example.com", REMOTE_ADDR="192.0.2.50")
    assert response.status_code == 429
    assert len(mail.outbox) == 2
    assert all(message.to == ["victim@example.com"] for message in mail.outbox)


def test_the_answer_is_the_same_for_an_unknown_email_under_and_over_the_limit(db, limits):
    UserFactory(email="known@example.com")
    pages = {}
    for email in ("known@example.com", "unknown@example.com"):
        answers = [ask_reset(email, REMOTE_ADDR=f"192.0.2.{n}") for n in range(3)]
        pages[email] = [(answer.status_code, answer.get("Location"), answer.content) for answer in answers]
    known, unknown = pages["known@example.com"], pages["unknown@example.com"]
    assert [status for status, _, _ in known] == [302, 302, 429]
    assert known[:2] == unknown[:2], "under the limit: the same redirect"
    assert known[2][0] == unknown[2][0] == 429
    assert _page(known[2][2], "known@") == _page(unknown[2][2], "unknown@"), "over it: the same page"
    assert len(mail.outbox) == 2
