"""Shared fixtures: an organization with a member of each role, an outsider from another
organization, clients signed in as each of them, and Chromium through Playwright."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.core.cache import cache
from django.test import Client

from organizations.models import Membership, Organization, Role, User

from .celery_worker import celery_worker  # noqa: F401 — a fixture, for tests about the queue
from .chromium import CHROMIUM, CHROMIUM_ARGS
from .factories import MembershipFactory, OrganizationFactory, RoomFactory, UserFactory
from .fake_dns import fake_dns  # noqa: F401 — a fixture, for tests about what names resolve to
from .recordings_bucket import bucket, s3_server  # noqa: F401 — fixtures: an S3 server, a recordings bucket
from .webhook_receiver import receiver, second_receiver  # noqa: F401 — fixtures: HTTP receivers on loopback


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Team:
    organization: Organization
    owner: User
    admin: User
    streamer: User

    def member(self, role: str) -> User:
        return {Role.OWNER: self.owner, Role.ADMIN: self.admin, Role.STREAMER: self.streamer}[role]


def make_team(name: str = "Acme") -> Team:
    organization = OrganizationFactory(name=name)
    users = {}
    for role in (Role.OWNER, Role.ADMIN, Role.STREAMER):
        users[role] = MembershipFactory(
            organization=organization, role=role, user__email=f"{role}@{organization.slug}.test"
        ).user
    return Team(organization, users[Role.OWNER], users[Role.ADMIN], users[Role.STREAMER])


@pytest.fixture
def team(db) -> Team:
    return make_team("Acme")


@pytest.fixture
def other_team(db) -> Team:
    return make_team("Globex")


@pytest.fixture
def room(team):
    return RoomFactory(organization=team.organization, public_id="acme-live", title="Acme Live")


@pytest.fixture
def other_room(other_team):
    return RoomFactory(organization=other_team.organization, public_id="globex-live", title="Globex Live")


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def owner_client(team):
    return client_for(team.owner)


@pytest.fixture
def streamer_client(team):
    return client_for(team.streamer)


@pytest.fixture
def outsider_client(other_team):
    return client_for(other_team.owner)


# --- Chromium -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class ConsoleErrors(list):
    def assert_none(self):
        assert not self, "the page logged errors in the browser console:\n" + "\n".join(self)


@pytest.fixture
def browser_context(chromium):
    context = chromium.new_context(permissions=["camera", "microphone"], viewport={"width": 1200, "height": 800})
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    page.console_errors = ConsoleErrors()
    page.on("console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    return page


def sign_in(context, live_server, user: User) -> None:
    """Give a browser context the session cookie of `user` (the sign-in form has its own test)."""
    client = client_for(user)
    cookie = client.cookies["sessionid"]
    context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": live_server.url}])


@pytest.fixture
def membership_of():
    def _membership(user, organization):
        return Membership.objects.get(user=user, organization=organization)

    return _membership


__all__ = ["RoomFactory", "UserFactory", "client_for", "make_team", "sign_in"]


# --- OME ------------------------------------------------------------------------------------


@pytest.fixture
def portal_ome(ome, settings):
    """The OME emulator (reset), with the portal pointed at it: its API, token and recordings folder."""
    settings.OME_API_URL = ome.api_url
    settings.OME_API_TOKEN = ome.token
    settings.RECORDINGS_DIR = ome.recordings_dir
    settings.OME_RECORDINGS_DIR = ""
    return ome
