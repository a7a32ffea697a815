"""Rooms (live channels) and their live sessions."""

from __future__ import annotations

import re
import secrets
import string
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from core.crypto import EncryptedTextField, mask, secret_digest
from organizations.querysets import TenantQuerySet

ROOM_ID_PATTERN = r"[a-z0-9][a-z0-9_-]{2,63}"
ROOM_ID_RE = re.compile(rf"^{ROOM_ID_PATTERN}$")
_ROOM_ID_ALPHABET = string.ascii_lowercase + string.digits


_LITERAL_SEGMENT_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@lru_cache(maxsize=1)
def reserved_room_ids() -> frozenset[str]:
    """Every literal word of the site's URL paths (`new`, `rooms`, `admin`, `edit`, …).

    Room ids appear in paths next to these words (`/rooms/ID/` beside `/rooms/new/`), so an id
    equal to one of them could shadow a page, now or after a page is added: the words come from
    the URL configuration itself rather than from a list someone has to keep.
    """
    words: set[str] = set()

    def walk(patterns) -> None:
        for entry in patterns:
            route = str(entry.pattern).lower().lstrip("^").rstrip("$")
            for segment in re.split(r"[/\\]", route):
                segment = segment.split(":")[0].removesuffix("\\")
                if _LITERAL_SEGMENT_RE.match(segment):
                    words.add(segment)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns)
            elif not isinstance(entry, URLPattern):  # pragma: no cover — Django has only these two
                continue

    walk(get_resolver().url_patterns)
    words.update(part for part in settings.STATIC_URL.split("/") if part)
    return frozenset(words)


def validate_room_id(value: str) -> None:
    if not ROOM_ID_RE.match(value or ""):
        raise ValidationError(
            "A room id is 3 to 64 characters: lowercase letters, digits, '-' and '_', starting with a letter or digit.",
            code="invalid",
        )
    if value in reserved_room_ids():
        raise ValidationError(
            f"'{value}' is part of the site's addresses (like /rooms/{value}/): choose another room id.",
            code="reserved",
        )
    suffix = settings.OME_RTMP_VARIANT_SUFFIX
    if suffix and value.endswith(suffix):
        raise ValidationError(
            f"A room id cannot end with '{suffix}': that name is used for the room's restream variant.",
            code="reserved",
        )


def generate_room_id() -> str:
    return "room-" + "".join(secrets.choice(_ROOM_ID_ALPHABET) for _ in range(8))


def generate_stream_key() -> str:
    # Letters and digits only, so a double-click selects the whole key when copying it into OBS.
    return "sk" + secrets.token_urlsafe(24).replace("-", "x").replace("_", "y")


def normalize_origin_list(text: str) -> list[str]:
    return [line.strip().rstrip("/") for line in (text or "").replace(",", "\n").splitlines() if line.strip()]


_ORIGIN_RE = re.compile(r"^https?://(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$")


def validate_embed_origins(text: str) -> None:
    bad = [origin for origin in normalize_origin_list(text) if origin != "*" and not _ORIGIN_RE.match(origin.lower())]
    if bad:
        raise ValidationError(
            "Not an origin: %(bad)s. Write one scheme and host per line, like https://example.com, "
            "https://*.example.com or http://localhost:8080, or * for any site.",
            params={"bad": ", ".join(bad)},
            code="invalid_origin",
        )


class Visibility(models.TextChoices):
    PUBLIC = "public", "Public — listed and playable by anyone"
    UNLISTED = "unlisted", "Unlisted — playable by anyone with the link"
    PRIVATE = "private", "Private — members and signed links only"


class LiveState(models.TextChoices):
    OFFLINE = "offline", "Offline"
    STARTING = "starting", "Starting"
    LIVE = "live", "Live"
    # The stream vanished from OME without a closing (OME restarted): waiting for the encoder.
    RECONNECTING = "reconnecting", "Reconnecting"


class Quality(models.TextChoices):
    """How a room is delivered to viewers; OME is told when the room's stream is created."""

    ORIGINAL = "original", "Original — as published"
    ADAPTIVE = "adaptive", "Adaptive — the original plus lower renditions for slow networks"


class RoomQuerySet(TenantQuerySet):
    def live(self):
        return self.exclude(live_state=LiveState.OFFLINE)

    def adaptive(self):
        return self.filter(quality=Quality.ADAPTIVE)

    def listed(self):
        return self.filter(visibility=Visibility.PUBLIC)


class Room(models.Model):
    organization_lookup = "organization"

    organization = models.ForeignKey("organizations.Organization", on_delete=models.CASCADE, related_name="rooms")
    public_id = models.CharField(
        "room id",
        max_length=64,
        unique=True,
        validators=[validate_room_id],
        error_messages={"unique": "This room id is taken. Choose another one."},
        help_text="Used in the room's URLs and as the OME stream name.",
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    visibility = models.CharField(max_length=16, choices=Visibility.choices, default=Visibility.PUBLIC)
    allowed_embed_origins = models.TextField(
        blank=True,
        validators=[validate_embed_origins],
        help_text="Sites allowed to embed the player in an iframe, one origin per line "
        "(https://example.com, https://*.example.com), or * for any site.",
    )
    is_enabled = models.BooleanField(default=True, help_text="A disabled room cannot go live.")
    auto_record = models.BooleanField(default=False, help_text="Record automatically whenever the room goes live.")
    quality = models.CharField(
        "delivery",
        max_length=16,
        choices=Quality.choices,
        default=Quality.ORIGINAL,
        help_text="Adaptive adds lower renditions (a quality menu in the player) and costs the server CPU. "
        "A change takes effect at the room's next go-live.",
    )
    # What OME was told for the room's current stream (the transcode webhook's answer): players
    # follow it, not `quality`, which may have changed since the stream started.
    delivered_quality = models.CharField(
        max_length=16, choices=Quality.choices, default=Quality.ORIGINAL, editable=False
    )

    stream_key = EncryptedTextField(editable=False, digest_field="stream_key_digest")
    stream_key_digest = models.CharField(max_length=64, unique=True, editable=False)
    stream_key_rotated_at = models.DateTimeField(default=timezone.now, editable=False)
    # Signed into every embed link of the room; raising it withdraws all links issued so far.
    embed_link_generation = models.PositiveIntegerField(default=0, editable=False)

    live_state = models.CharField(max_length=16, choices=LiveState.choices, default=LiveState.OFFLINE, db_index=True)
    live_since = models.DateTimeField(null=True, blank=True)
    ingest_protocol = models.CharField(max_length=16, blank=True)
    # When a live room's stream vanished from OME; it stays "reconnecting" for a grace period.
    stream_lost_at = models.DateTimeField(null=True, blank=True, editable=False)
    viewer_count = models.PositiveIntegerField(default=0)

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RoomQuerySet.as_manager()

    class Meta:
        ordering = ["title", "public_id"]

    def __str__(self) -> str:
        return self.public_id

    def get_absolute_url(self) -> str:
        return reverse("rooms:detail", args=[self.public_id])

    def set_stream_key(self, key: str) -> None:
        self.stream_key = key
        self.stream_key_digest = secret_digest(key)
        self.stream_key_rotated_at = timezone.now()

    @property
    def masked_stream_key(self) -> str:
        return mask(self.stream_key)

    @property
    def is_live(self) -> bool:
        return self.live_state != LiveState.OFFLINE

    @property
    def reconnect_grace_seconds(self) -> int:
        """How long a room whose stream vanished waits as "reconnecting" for its encoder."""
        return int(settings.OME_RECONNECT_GRACE_SECONDS)

    @property
    def embed_origins(self) -> list[str]:
        return normalize_origin_list(self.allowed_embed_origins)

    @property
    def frame_ancestors(self) -> str:
        """The CSP frame-ancestors source list for the room's player pages."""
        origins = self.embed_origins
        if "*" in origins:
            return "*"
        return " ".join(["'self'", *origins])


class LiveSessionQuerySet(TenantQuerySet):
    def open(self):
        """Sessions still going on (a room has at most one)."""
        return self.filter(ended_at__isnull=True)


class LiveSession(models.Model):
    """One go-live of a room, from the first frame to the end of the publish."""

    organization_lookup = "room__organization"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="sessions")
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    protocol = models.CharField(max_length=16, blank=True)
    peak_viewers = models.PositiveIntegerField(default=0)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    objects = LiveSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["room"], condition=models.Q(ended_at__isnull=True), name="one_open_session_per_room"
            )
        ]

    def __str__(self) -> str:
        return f"{self.room} at {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def duration(self):
        return (self.ended_at or timezone.now()) - self.started_at
