"""Fixtures of the security suites: organizations A and B built once per module (committed, and
deleted afterwards), the people and programs of B, and a count of the requests sent."""

from __future__ import annotations

import logging

import pytest

from . import probe
from .world import ROLES, World, build_org, destroy_org


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """A and B, committed for the whole module: every request runs in a rolled-back savepoint."""
    with django_db_blocker.unblock():
        built = World(build_org("alpha"), build_org("bravo"))
    yield built
    with django_db_blocker.unblock():
        destroy_org(built.a)
        destroy_org(built.b)


@pytest.fixture
def unthrottled(settings):
    """The per-token API rate limit is tested elsewhere; here one token sends thousands of requests."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_token": None}}
    settings.OME_WEBHOOK_FAILURES_PER_WINDOW = 1_000_000


@pytest.fixture
def b_identities(world, db) -> dict[str, probe.Identity]:
    """Everyone of organization B, and nobody: B's members signed in, B's API tokens, an anonymous visitor."""
    b = world.b
    identities = {"anonymous": probe.anonymous()}
    for role in ROLES:
        identities[f"session:{role}"] = probe.session_identity(f"B's {role} (signed in)", b.members[role])
        identities[f"token:{role}"] = probe.token_identity(f"B's {role} API token", b.tokens[role])
    # Not B, but not staff either: the admin must turn A's own owner away just the same.
    identities["a-session:owner"] = probe.session_identity("A's owner (signed in)", world.a.members["owner"])
    return identities


@pytest.fixture(autouse=True)
def _quiet_request_log():
    """Thousands of expected 404s: keep django.request's log for server errors only."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def pytest_terminal_summary(terminalreporter):
    if probe.SENT:
        total = sum(probe.SENT.values())
        detail = ", ".join(f"{suite}: {count}" for suite, count in sorted(probe.SENT.items()))
        terminalreporter.write_line(f"security suites sent {total} requests ({detail})")
