"""Restreaming: destinations (YouTube, Facebook, Twitch, any RTMP(S)/SRT server) and pushes to them."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.crypto import EncryptedTextField, mask
from core.outbound import validate_outbound_url
from organizations.querysets import TenantQuerySet


class Platform(models.TextChoices):
    YOUTUBE = "youtube", "YouTube (RTMP)"
    YOUTUBE_RTMPS = "youtube_rtmps", "YouTube (RTMPS)"
    FACEBOOK = "facebook", "Facebook Live (RTMPS)"
    TWITCH = "twitch", "Twitch"
    CUSTOM = "custom", "Other RTMP, RTMPS or SRT server"


# Ingest servers of the well-known platforms; the streamer only pastes their stream key.
PLATFORM_SERVERS = {
    Platform.YOUTUBE: "rtmp://a.rtmp.youtube.com/live2",
    Platform.YOUTUBE_RTMPS: "rtmps://a.rtmps.youtube.com/live2",
    Platform.FACEBOOK: "rtmps://live-api-s.facebook.com:443/rtmp/",
    Platform.TWITCH: "rtmp://live.twitch.tv/app",
}
ALLOWED_SCHEMES = ("rtmp", "rtmps", "srt")


def validate_destination_url(value: str) -> None:
    """A server the media server may push to: rtmp://, rtmps:// or srt://, never into a private network."""
    validate_outbound_url(value, schemes=ALLOWED_SCHEMES)


def ome_protocol(url: str) -> str:
    """OME's startPush protocol: rtmp also covers rtmps:// URLs."""
    return "srt" if url.startswith("srt://") else "rtmp"


def push_stream_name(room_public_id: str, platform: str) -> str:
    """The OME output stream a destination receives: the AAC variant, since browsers send Opus."""
    suffix = settings.OME_PUSH_VARIANT_SUFFIXES.get(platform, settings.OME_RTMP_VARIANT_SUFFIX)
    return f"{room_public_id}{suffix}"


class Destination(models.Model):
    """Where a room can be restreamed: a server URL and a stream key, encrypted at rest."""

    organization_lookup = "room__organization"

    room = models.ForeignKey("rooms.Room", on_delete=models.CASCADE, related_name="destinations")
    name = models.CharField(max_length=100, help_text="A label you recognise, e.g. “YouTube main channel”.")
    platform = models.CharField(max_length=20, choices=Platform.choices, default=Platform.YOUTUBE)
    url = models.CharField(
        "server URL", max_length=500, validators=[validate_destination_url], help_text="Filled in for known platforms."
    )
    stream_key = EncryptedTextField(blank=True)
    enabled = models.BooleanField(default=True, help_text="A disabled destination cannot be started.")
    auto_start = models.BooleanField(
        "start automatically", default=False, help_text="Start this restream whenever the room goes live."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_platform_display()})"

    @property
    def masked_stream_key(self) -> str:
        return mask(self.stream_key)

    @property
    def stream_name(self) -> str:
        return push_stream_name(self.room.public_id, self.platform)


class PushState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    STARTING = "starting", "Starting"
    PUSHING = "pushing", "Pushing"
    STOPPING = "stopping", "Stopping"
    STOPPED = "stopped", "Stopped"
    ERROR = "error", "Error"


# OME's push states, and what they mean for a push the portal asked for ...
PUSH_STATE_FROM_OME = {
    "ready": PushState.STARTING,  # registered; waits for the stream to be live
    "connecting": PushState.STARTING,  # OME 0.21: the session connects to the destination
    "pushing": PushState.PUSHING,
    "stopping": PushState.STOPPING,
    "stopped": PushState.STOPPED,
    "error": PushState.ERROR,
}
# ... and how a push looks in OME's words (the original stack's API answers in them).
PUSH_STATE_AS_OME = {
    PushState.REQUESTED: "ready",
    PushState.STARTING: "ready",
    PushState.PUSHING: "pushing",
    PushState.STOPPING: "stopping",
    PushState.STOPPED: "stopped",
    PushState.ERROR: "error",
}

# Pushes the portal wants running, and those it is still settling with OME.
ACTIVE_PUSH_STATES = (PushState.REQUESTED, PushState.STARTING, PushState.PUSHING, PushState.STOPPING)
RUNNING_PUSH_STATES = (PushState.REQUESTED, PushState.STARTING, PushState.PUSHING)


class PushQuerySet(TenantQuerySet):
    def active(self):
        return self.filter(state__in=ACTIVE_PUSH_STATES)


def new_push_id() -> str:
    return f"push-{uuid.uuid4().hex[:20]}"


class Push(models.Model):
    """One restream of a room to a destination, from the request to its end.

    The row is written before OME is asked, and its `ome_id` is the id OME knows the push by,
    so a task can run twice or after an OME restart and still mean the same push. The target
    (URL, key, stream) is copied from the destination: editing a destination never changes a
    push that is running.
    """

    organization_lookup = "room__organization"

    ome_id = models.CharField("OME push id", max_length=100, unique=True, default=new_push_id, editable=False)
    external_id = models.CharField(
        max_length=100, blank=True, db_index=True, help_text="The id an API client chose (the original stack's API)."
    )
    room = models.ForeignKey("rooms.Room", on_delete=models.CASCADE, related_name="pushes")
    destination = models.ForeignKey(
        Destination, null=True, blank=True, on_delete=models.SET_NULL, related_name="pushes"
    )
    stream_name = models.CharField(max_length=100)
    protocol = models.CharField(max_length=10, default="rtmp")
    url = models.CharField(max_length=500)
    stream_key = EncryptedTextField(blank=True)
    state = models.CharField(max_length=16, choices=PushState.choices, default=PushState.REQUESTED, db_index=True)
    error_message = models.CharField(max_length=500, blank=True)
    sent_bytes = models.BigIntegerField(default=0)
    sent_time_ms = models.BigIntegerField(default=0)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PushQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "pushes"
        constraints = [
            models.UniqueConstraint(
                fields=["destination"],
                condition=models.Q(state__in=ACTIVE_PUSH_STATES),
                name="one_active_push_per_destination",
            )
        ]

    def __str__(self) -> str:
        return f"{self.stream_name} → {self.destination or self.url}"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_PUSH_STATES

    @property
    def can_stop(self) -> bool:
        return self.state in RUNNING_PUSH_STATES

    @property
    def masked_stream_key(self) -> str:
        return mask(self.stream_key)

    @property
    def target(self) -> str:
        """The destination as shown to people: the server URL, never the key."""
        return self.url
