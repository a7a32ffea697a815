"""What a token may do: its role, as for a member (owner > admin > streamer)."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from organizations.models import ROLE_RANK, Role

from .models import ApiToken


class TokenRole(BasePermission):
    """Requires an API token whose role is at least the view's `roles[action]` (streamer by default)."""

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return False  # DRF answers 401: no valid token was presented
        needed = Role(getattr(view, "roles", {}).get(getattr(view, "action", None), Role.STREAMER))
        if ROLE_RANK[Role(token.role)] >= ROLE_RANK[needed]:
            return True
        self.message = (
            f"This needs a token with the {needed.label.lower()} role or above; this token is a {token.role}'s."
        )
        return False
