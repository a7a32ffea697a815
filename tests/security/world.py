"""Two organizations with one of everything, and the tools to see whether anything of one changed
or leaked: Alpha (A, the victim) and Bravo (B, the attacker), built the same way.

Each organization has an owner, an admin and a streamer, an API token of each role, a public
room and a private room that is live, a destination with a secret key, a running push and a
failed one, a finished recording with its file on disk and a running one, an open live session,
a pending invitation and a signed embed link. Names start with the organization's prefix
("alpha-…", "Alpha …"), so a page of B that shows any of them shows something of A.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.utils import timezone

from api import services as api_services
from broadcasts.models import Destination, Platform, Push, PushState
from organizations import services as organization_services
from organizations.models import Invitation, Membership, Organization, Role, User
from recordings.models import Recording, RecordingState
from rooms import credentials
from rooms import services as room_services
from rooms.models import LiveSession, LiveState, Room, Visibility
from webhooks import services as webhook_services
from webhooks.models import Delivery, DeliveryState, Endpoint

ROLES = (Role.OWNER, Role.ADMIN, Role.STREAMER)
RECORDING_CONTENT = bytes(range(256)) * 8
# Bookkeeping, not data of the organization: a token's "last used" moves whenever it is used.
VOLATILE_FIELDS = {"last_used_at"}


@dataclass
class Org:
    prefix: str
    organization: Organization
    members: dict[str, User]
    memberships: dict[str, Membership]
    tokens: dict[str, str]  # role → the token itself, as a program would send it
    token_rows: dict[str, object]
    room: Room  # public, offline
    private_room: Room  # private, live
    destination: Destination
    push: Push  # pushing
    failed_push: Push  # error: can be retried
    recording: Recording  # finished, with its file
    running_recording: Recording  # recording, on the private room
    session: LiveSession  # the private room's open live session
    invitation: Invitation
    invitation_token: str
    embed_link: str
    endpoint: Endpoint  # a webhook endpoint
    signing_secret: str
    delivery: Delivery  # one delivery to it

    @property
    def recording_file(self) -> Path:
        return recordings_path(self.recording.file_path)

    @property
    def folder(self) -> Path:
        return Path(settings.RECORDINGS_DIR) / f"org-{self.organization.pk}"

    def secrets(self) -> dict[str, str]:
        """Everything of the organization that works as a key: never in another organization's answers."""
        found = {
            f"stream key of {self.room.public_id}": self.room.stream_key,
            f"stream key of {self.private_room.public_id}": self.private_room.stream_key,
            "destination key": self.destination.stream_key,
            "push key": self.push.stream_key,
            "failed push key": self.failed_push.stream_key,
            "invitation token": self.invitation_token,
            "embed link": self.embed_link,
            "webhook signing secret": self.signing_secret,
        }
        found.update({f"{role} API token": token for role, token in self.tokens.items()})
        return found

    def public_markers(self) -> list[str]:
        """What anyone may see: the public room's id and title (its watch page is public)."""
        return [self.room.public_id, self.room.title]

    def private_markers(self) -> list[str]:
        """Names that only the organization's members may see."""
        return [
            self.organization.name,
            self.organization.slug,
            self.private_room.public_id,
            self.private_room.title,
            self.destination.name,
            f"{self.prefix}-dest.example",
            f"{self.prefix}-push.example",
            f"{self.prefix}-failed.example",
            self.push.external_id,
            self.failed_push.external_id,
            self.recording.external_id,
            self.running_recording.external_id,
            f"{self.prefix}-recording",
            f"{self.prefix}-hooks.example",
            f"@{self.prefix}.test",
            *(str(row.name) for row in self.token_rows.values()),
            *(str(row.prefix) for row in self.token_rows.values()),
        ]

    def markers(self) -> list[str]:
        return self.public_markers() + self.private_markers()


def recordings_path(ome_path: str) -> Path:
    return Path(settings.RECORDINGS_DIR) / ome_path.lstrip("/")


def build_org(prefix: str) -> Org:
    title = prefix.capitalize()
    organization = organization_services.create_organization(
        name=f"{title} Broadcasting", owner=User.objects.create_user(email=f"owner@{prefix}.test")
    )
    organization.slug = f"{prefix}-broadcasting"
    organization.save(update_fields=["slug"])
    members = {Role.OWNER: User.objects.get(email=f"owner@{prefix}.test")}
    for role in (Role.ADMIN, Role.STREAMER):
        members[role] = User.objects.create_user(email=f"{role}@{prefix}.test")
        Membership.objects.create(user=members[role], organization=organization, role=role)
    memberships = {
        role: Membership.objects.select_related("organization", "user").get(user=user, organization=organization)
        for role, user in members.items()
    }
    tokens, token_rows = {}, {}
    for role in ROLES:
        row, token = api_services.create_api_token(
            actor=memberships[Role.OWNER], name=f"{title} {role} script", role=role
        )
        tokens[role], token_rows[role] = token, row

    room = room_services.create_room(
        organization=organization,
        created_by=members[Role.OWNER],
        public_id=f"{prefix}-live",
        title=f"{title} Live Show",
        visibility=Visibility.PUBLIC,
    )
    private_room = room_services.create_room(
        organization=organization,
        created_by=members[Role.OWNER],
        public_id=f"{prefix}-private",
        title=f"{title} Private Board",
        visibility=Visibility.PRIVATE,
    )
    Room.objects.filter(pk=private_room.pk).update(
        live_state=LiveState.LIVE, live_since=timezone.now(), ingest_protocol="rtmp", viewer_count=3
    )
    private_room.refresh_from_db()
    session = LiveSession.objects.create(room=private_room, protocol="rtmp", started_at=timezone.now())

    destination = Destination.objects.create(
        room=room,
        name=f"{title} YouTube",
        platform=Platform.CUSTOM,
        url=f"rtmp://{prefix}-dest.example/app",
        stream_key=f"{prefix}-destination-key-{os.urandom(6).hex()}",
    )
    push = Push.objects.create(
        room=room,
        destination=destination,
        external_id=f"{prefix}-push-1",
        stream_name=f"{room.public_id}_rtmp",
        url=f"rtmp://{prefix}-push.example/app",
        stream_key=f"{prefix}-push-key-{os.urandom(6).hex()}",
        state=PushState.PUSHING,
    )
    failed_push = Push.objects.create(
        room=room,
        external_id=f"{prefix}-push-2",
        stream_name=f"{room.public_id}_rtmp",
        url=f"rtmp://{prefix}-failed.example/app",
        stream_key=f"{prefix}-failed-key-{os.urandom(6).hex()}",
        state=PushState.ERROR,
        error_message="The destination refused the stream.",
    )
    name = f"{prefix}-recording.mp4"
    folder = f"/org-{organization.pk}/{room.public_id}"
    recording = Recording.objects.create(
        room=room,
        external_id=f"{prefix}-rec-1",
        state=RecordingState.FINISHED,
        file_path=f"{folder}/{name}",
        info_path=f"{folder}/{name}.xml",
        size_bytes=len(RECORDING_CONTENT),
        duration_ms=3000,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    running_recording = Recording.objects.create(
        room=private_room,
        external_id=f"{prefix}-rec-2",
        state=RecordingState.RECORDING,
        file_path=f"/org-{organization.pk}/{private_room.public_id}/{prefix}-running_${{EndTime:YYYYMMDDhhmmss}}.mp4",
        started_at=timezone.now(),
    )

    invitation_tokens: list[str] = []
    invitation = organization_services.invite_member(
        actor=memberships[Role.OWNER],
        email=f"invitee@{prefix}.test",
        role=Role.STREAMER,
        accept_url_builder=lambda token: invitation_tokens.append(token) or f"/invite/{token}/",
    )
    embed_link, _link = credentials.mint_embed_link(room=private_room, lifetime_seconds=7 * 24 * 3600)
    endpoint, signing_secret = webhook_services.create_endpoint(
        organization=organization, url=f"https://{prefix}-hooks.example/in", events=["room.live"]
    )
    delivery = Delivery.objects.create(
        endpoint=endpoint, event_type="room.live", body="{}", state=DeliveryState.SUCCEEDED, attempts=1
    )
    org = Org(
        prefix=prefix,
        organization=organization,
        members=members,
        memberships=memberships,
        tokens=tokens,
        token_rows=token_rows,
        room=room,
        private_room=private_room,
        destination=destination,
        push=push,
        failed_push=failed_push,
        recording=recording,
        running_recording=running_recording,
        session=session,
        invitation=invitation,
        invitation_token=invitation_tokens[0],
        embed_link=embed_link,
        endpoint=endpoint,
        signing_secret=signing_secret,
        delivery=delivery,
    )
    restore_files(org)
    return org


def restore_files(org: Org) -> None:
    """The finished recording's file, as OME left it (a request may have deleted it; the row came back)."""
    path = org.recording_file
    if not path.is_file() or path.stat().st_size != len(RECORDING_CONTENT):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(RECORDING_CONTENT)


def destroy_org(org: Org) -> None:
    users = [member.pk for member in org.members.values()]
    Organization.objects.filter(pk=org.organization.pk).delete()
    User.objects.filter(pk__in=users).delete()
    for path in sorted(org.folder.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    if org.folder.exists():
        org.folder.rmdir()


# --- What an organization holds, to compare before and after a request --------------------------


def tenant_models() -> list[type]:
    """Every model that belongs to an organization (it declares `organization_lookup`), and the organization."""
    tenant = [model for model in apps.get_models() if hasattr(model, "organization_lookup")]
    return [Organization, *sorted(tenant, key=lambda model: model._meta.label)]


def _rows(model, organization_id: int):
    lookup = "pk" if model is Organization else model.organization_lookup
    names = [f.attname for f in model._meta.concrete_fields if f.attname not in VOLATILE_FIELDS]
    return model._base_manager.filter(**{lookup: organization_id}).order_by("pk").values_list(*names), names


class Holdings:
    """Everything one organization holds in the database and the recordings folder."""

    def __init__(self, org: Org):
        self.org = org
        self.organization_id = org.organization.pk
        parts, params = [], []
        for model in tenant_models():
            queryset, _names = _rows(model, self.organization_id)
            sql, query_params = queryset.query.sql_with_params()
            parts.append(f"(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM ({sql}) t)")
            params.extend(query_params)
        self._sql = "SELECT " + ", ".join(parts)
        self._params = params
        self.baseline = self.fingerprint()
        self.baseline_rows = self.rows()

    def fingerprint(self) -> tuple:
        """One query: a digest of every row of every tenant model of the organization, and its files."""
        with connection.cursor() as cursor:
            cursor.execute(self._sql, self._params)
            digests = cursor.fetchone()
        return (*digests, self.files())

    def files(self) -> str:
        listing = []
        if self.org.folder.exists():
            for path in sorted(self.org.folder.rglob("*")):
                if path.is_file():
                    listing.append(f"{path.relative_to(self.org.folder)}:{path.stat().st_size}")
        return hashlib.md5("\n".join(listing).encode()).hexdigest()

    def rows(self) -> dict[str, dict]:
        found = {}
        for model in tenant_models():
            queryset, names = _rows(model, self.organization_id)
            found[model._meta.label] = {row[0]: dict(zip(names, row, strict=True)) for row in queryset}
        found["files"] = self.files()
        return found

    def changes(self) -> tuple:
        """() when nothing changed since the baseline, else what changed (models, rows, field names)."""
        if self.fingerprint() == self.baseline:
            return ()
        now = self.rows()
        summary = []
        for label, before in self.baseline_rows.items():
            after = now[label]
            if label == "files":
                if before != after:
                    summary.append(("files", "changed"))
                continue
            added = sorted(set(after) - set(before))
            removed = sorted(set(before) - set(after))
            if added:
                summary.append((label, "added", len(added)))
            if removed:
                summary.append((label, "removed", tuple(removed)))
            for pk in sorted(set(before) & set(after)):
                fields = tuple(name for name in before[pk] if before[pk][name] != after[pk][name])
                if fields:
                    summary.append((label, "changed", pk, fields))
        return tuple(summary) or (("unknown", "the fingerprint moved"),)


def basic(token: str) -> str:
    return "Basic " + base64.b64encode(token.encode()).decode()


@dataclass
class World:
    a: Org
    b: Org
    holdings: Holdings = field(init=False)

    def __post_init__(self):
        self.holdings = Holdings(self.a)

    def restore_files(self) -> None:
        restore_files(self.a)
        restore_files(self.b)
