"""Fixtures for the API tests: a token per role of the `team` organization, one of `other_team`,
and DRF clients that send them as `Authorization: Bearer TOKEN`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from api import services
from organizations.models import Membership, Role
from recordings.models import Recording, RecordingState

ROLES = [Role.OWNER, Role.ADMIN, Role.STREAMER]


@dataclass
class Token:
    value: str
    role: str
    api_token: object

    def client(self) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.value}")
        return client


def make_token(organization, role: str, *, name: str = "") -> Token:
    """A token with `role`, created by an owner the way the tokens page does it."""
    actor = Membership.objects.filter(organization=organization, role=Role.OWNER).select_related(
        "user", "organization"
    )[0]
    api_token, value = services.create_api_token(actor=actor, name=name or f"{role} script", role=role)
    return Token(value, role, api_token)


@pytest.fixture
def tokens(team) -> dict[str, Token]:
    return {role: make_token(team.organization, role) for role in ROLES}


@pytest.fixture
def api(tokens) -> APIClient:
    """An owner token's client (most tests are about behaviour, not roles)."""
    return tokens[Role.OWNER].client()


@pytest.fixture
def other_api(other_team) -> APIClient:
    return make_token(other_team.organization, Role.OWNER).client()


CONTENT = bytes(range(256)) * 40  # 10 240 bytes


def finished_recording(room, name: str = "rec.mp4", *, content: bytes = CONTENT) -> Recording:
    """A finished recording with its file in the recordings folder, as OME leaves it."""
    folder = Path(settings.RECORDINGS_DIR) / f"org-{room.organization_id}" / room.public_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    return Recording.objects.create(
        room=room,
        state=RecordingState.FINISHED,
        file_path=f"/org-{room.organization_id}/{room.public_id}/{name}",
        info_path=f"/org-{room.organization_id}/{room.public_id}/{name}.xml",
        size_bytes=len(content),
        duration_ms=3000,
    )


def go_live(ome, room) -> None:
    """The room's stream is in OME (an RTMP publish) and the reconcile loop has seen it."""
    from ome.reconcile import reconcile

    ome.publish(f"rtmp://127.0.0.1:1935/app/{room.public_id}")
    reconcile()
