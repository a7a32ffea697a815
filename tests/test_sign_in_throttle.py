"""Sign-in throttling that a client cannot dodge: failures are counted per client address (from
the configured number of trusted proxies, never from a header the client writes) and per
account (across addresses), and a user's own browser keeps working while their account is
under attack."""

import time

import pytest
from django.test import Client

from .factories import PASSWORD, UserFactory

PROXY = "10.0.0.5"  # Traefik, as the portal sees it on the stack's network


@pytest.fixture
def limits(settings):
    settings.SIGNIN_FAILURES_PER_ADDRESS = 5
    settings.SIGNIN_FAILURES_PER_ACCOUNT = 3
    settings.SIGNIN_FAILURE_WINDOW_SECONDS = 900
    return settings


def sign_in(client: Client, email: str, password: str, **meta):
    return client.post("/accounts/login/", {"username": email, "password": password}, **meta)


def test_rotating_x_forwarded_for_does_not_dodge_the_limit_with_direct_access(client, db, limits):
    limits.TRUSTED_PROXY_COUNT = 0
    UserFactory(email="victim@example.com")
    for attempt in range(5):
        # A password spray: another account each time, so only the address can stop it.
        response = sign_in(
            client,
            f"user{attempt}@example.com",
            "guess",
            REMOTE_ADDR="198.51.100.7",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{attempt}",
        )
        assert response.status_code == 200
    response = sign_in(
        client, "victim@example.com", PASSWORD, REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="192.0.2.99"
    )
    assert response.status_code == 429, "a new X-Forwarded-For must not buy a direct client more guesses"
    assert b"Too many failed sign-in attempts" in response.content


def test_rotating_x_forwarded_for_does_not_dodge_the_limit_behind_one_proxy(client, db, limits):
    limits.TRUSTED_PROXY_COUNT = 1
    UserFactory(email="victim@example.com")
    for attempt in range(5):
        # The client writes any X-Forwarded-For it likes; Traefik appends the address it saw.
        forwarded = f"192.0.2.{attempt}, 198.51.100.7"
        response = sign_in(
            client, f"user{attempt}@example.com", "guess", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded
        )
        assert response.status_code == 200
    response = sign_in(
        client, "victim@example.com", PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="192.0.2.99, 198.51.100.7"
    )
    assert response.status_code == 429


def test_two_clients_behind_the_proxy_are_told_apart(client, db, limits):
    limits.TRUSTED_PROXY_COUNT = 1
    UserFactory(email="someone@example.com")
    for attempt in range(6):
        sign_in(client, f"user{attempt}@example.com", "guess", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.7")
    refused = sign_in(client, "someone@example.com", PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert refused.status_code == 429, "the sprayer's own address is throttled"
    other = sign_in(Client(), "someone@example.com", PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert other.status_code == 302, "another client behind the same proxy still signs in"


def test_guessing_one_accounts_password_from_many_addresses_is_throttled(client, db, limits):
    limits.TRUSTED_PROXY_COUNT = 0
    UserFactory(email="victim@example.com")
    for attempt in range(3):
        response = sign_in(client, "victim@example.com", f"guess{attempt}", REMOTE_ADDR=f"192.0.2.{attempt}")
        assert response.status_code == 200
    response = sign_in(Client(), "victim@example.com", PASSWORD, REMOTE_ADDR="203.0.113.50")
    assert response.status_code == 429, "a new address must not buy more guesses at the same account"
    assert b"Too many failed sign-in attempts" in response.content
    assert int(response["Retry-After"]) > 0
    other = sign_in(Client(), "someone-else@example.com", "x", REMOTE_ADDR="203.0.113.50")
    assert other.status_code == 200, "other accounts are not affected"


def test_the_account_owners_own_browser_still_signs_in_while_the_account_is_under_attack(db, limits):
    UserFactory(email="victim@example.com")
    browser = Client()
    assert sign_in(browser, "victim@example.com", PASSWORD, REMOTE_ADDR="203.0.113.50").status_code == 302
    browser.post("/accounts/logout/")
    for attempt in range(10):
        sign_in(Client(), "victim@example.com", f"guess{attempt}", REMOTE_ADDR=f"192.0.2.{attempt}")
    assert sign_in(Client(), "victim@example.com", PASSWORD, REMOTE_ADDR="203.0.113.51").status_code == 429
    response = sign_in(browser, "victim@example.com", PASSWORD, REMOTE_ADDR="203.0.113.52")
    assert response.status_code == 302, "the browser that signed in before is not locked out by others' failures"


def test_a_browser_known_for_one_account_is_still_limited_for_it(db, limits):
    UserFactory(email="victim@example.com")
    browser = Client()
    assert sign_in(browser, "victim@example.com", PASSWORD).status_code == 302
    browser.post("/accounts/logout/")
    for attempt in range(3):
        assert (
            sign_in(browser, "victim@example.com", f"guess{attempt}", REMOTE_ADDR=f"192.0.2.{attempt}").status_code
            == 200
        )
    assert sign_in(browser, "victim@example.com", "guess", REMOTE_ADDR="192.0.2.9").status_code == 429


def test_successful_sign_ins_are_not_counted(client, db, limits):
    UserFactory(email="regular@example.com")
    for _ in range(12):
        response = sign_in(Client(), "regular@example.com", PASSWORD, REMOTE_ADDR="203.0.113.50")
        assert response.status_code == 302, "signing in again and again is not an attack"


def test_the_limit_lifts_when_the_window_ends(client, db, limits):
    limits.SIGNIN_FAILURE_WINDOW_SECONDS = 2
    UserFactory(email="victim@example.com")
    time.sleep(2 - time.time() % 2)  # start at the beginning of a window
    for attempt in range(3):
        sign_in(client, "victim@example.com", f"guess{attempt}")
    response = sign_in(client, "victim@example.com", PASSWORD)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 2
    time.sleep(int(response["Retry-After"]))
    assert sign_in(client, "victim@example.com", PASSWORD).status_code == 302


def test_the_admin_sign_in_counts_toward_the_same_limits(client, db, limits):
    UserFactory(email="boss@example.com", is_staff=True, is_superuser=True)
    for attempt in range(3):
        client.post(
            "/admin/login/",
            {"username": "boss@example.com", "password": f"guess{attempt}"},
            REMOTE_ADDR=f"192.0.2.{attempt}",
        )
    response = Client().post(
        "/admin/login/", {"username": "boss@example.com", "password": PASSWORD}, REMOTE_ADDR="203.0.113.50"
    )
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts" in response.content
    assert sign_in(Client(), "boss@example.com", PASSWORD, REMOTE_ADDR="203.0.113.50").status_code == 429
