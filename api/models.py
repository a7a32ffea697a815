"""API tokens: an organization's credentials for programs (the REST API and the original stack's API).

A token is shown once when it is created and stored only as a SHA-256 digest: tokens are 256-bit
random strings, so a fast digest is as safe as a slow password hash and lets a request find its
token with one indexed query. The prefix (the first characters) lets people recognise a token
in lists and logs without revealing it.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from organizations.models import Role
from organizations.querysets import TenantQuerySet

TOKEN_PREFIX = "sst_"
PREFIX_LENGTH = 12  # "sst_" and 8 random characters: enough to tell tokens apart, useless to an attacker


class ApiTokenQuerySet(TenantQuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    organization_lookup = "organization"

    organization = models.ForeignKey("organizations.Organization", on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. “CI deploy script”.")
    role = models.CharField(
        max_length=16, choices=Role.choices, default=Role.STREAMER, help_text="What the token may do."
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=PREFIX_LENGTH, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def generate(cls) -> str:
        return TOKEN_PREFIX + secrets.token_urlsafe(32)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def display(self) -> str:
        return f"{self.prefix}…"
