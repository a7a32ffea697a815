"""Outgoing webhooks: the endpoints an organization registers, and every delivery to them.

A delivery is stored before it is sent, in the transaction of the change it reports, so no event
is lost when a worker or Redis fails: the row is the request, the queued task only its messenger.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from core.crypto import EncryptedTextField, mask
from organizations.querysets import TenantQuerySet


class Event(models.TextChoices):
    ROOM_LIVE = "room.live", "room.live — a room is live (viewers can watch)"
    ROOM_OFFLINE = "room.offline", "room.offline — a live room went offline"
    RECORDING_READY = "recording.ready", "recording.ready — a recording can be downloaded and played"
    RECORDING_FAILED = "recording.failed", "recording.failed — a recording failed"
    PUSH_STARTED = "push.started", "push.started — a restream is being sent"
    PUSH_FAILED = "push.failed", "push.failed — a restream failed"
    PUSH_STOPPED = "push.stopped", "push.stopped — a restream stopped"
    PING = "ping", "ping — a test delivery sent from the endpoint's page"


# What an endpoint can ask for (a ping is sent on request, to every endpoint).
ALL_EVENTS = [event.value for event in Event if event != Event.PING]


def generate_signing_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class EndpointQuerySet(TenantQuerySet):
    def wanting(self, event: str) -> list[Endpoint]:
        """Enabled endpoints that asked for `event` (checked here: JSON containment differs by database)."""
        return [endpoint for endpoint in self.filter(enabled=True) if event in endpoint.events]


class Endpoint(models.Model):
    organization_lookup = "organization"

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField("URL", max_length=500, help_text="Where the portal POSTs events (https:// recommended).")
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text="The event types this endpoint receives.")
    signing_secret = EncryptedTextField(editable=False)
    enabled = models.BooleanField(default=True)
    # Failed tries in a row (any delivery), and since when: a long streak disables the endpoint.
    failure_streak = models.PositiveIntegerField(default=0, editable=False)
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=300, blank=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EndpointQuerySet.as_manager()

    class Meta:
        ordering = ["url", "pk"]

    def __str__(self) -> str:
        return self.url

    def get_absolute_url(self) -> str:
        return reverse("webhooks:detail", args=[self.pk])

    @property
    def masked_secret(self) -> str:
        return mask(self.signing_secret)


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Delivered"
    FAILED = "failed", "Failed"


class DeliveryQuerySet(TenantQuerySet):
    def due(self, now=None):
        return self.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now or timezone.now())


class Delivery(models.Model):
    """One event for one endpoint: the exact body sent (the same on every try) and the last try."""

    organization_lookup = "endpoint__organization"

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField(default=uuid.uuid4, editable=False, db_index=True)
    event_type = models.CharField(max_length=32, choices=Event.choices)
    body = models.TextField(help_text="The JSON sent, byte for byte the same on every try.")
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="webhooks_delivery_due")]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id} ({self.state})"
