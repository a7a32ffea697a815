"""Everything that changes API tokens, and the lookup that turns a presented token into one."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from core.errors import LimitReached, NotAllowed
from organizations.models import ROLE_RANK, Membership, Role

from .models import PREFIX_LENGTH, ApiToken

MAX_ACTIVE_TOKENS = 50
# last_used_at is a hint for people ("used 3 minutes ago"), not an audit log: write it at most this often.
LAST_USED_PRECISION = timedelta(seconds=60)
MAX_TOKEN_LENGTH = 200


def _check_can_manage(actor: Membership) -> None:
    if not actor.has_role(Role.ADMIN):
        raise NotAllowed("Only owners and admins can manage API tokens.")


def create_api_token(*, actor: Membership, name: str, role: str) -> tuple[ApiToken, str]:
    """A new token for the actor's organization, with at most the actor's role.

    Returns the row and the token itself: this is the only time the token exists in clear.
    """
    _check_can_manage(actor)
    if ROLE_RANK[Role(role)] > ROLE_RANK[Role(actor.role)]:
        raise NotAllowed(f"A token can have at most your own role ({actor.get_role_display()}).")
    organization = actor.organization
    if ApiToken.objects.for_organization(organization).active().count() >= MAX_ACTIVE_TOKENS:
        raise LimitReached(f"An organization can have at most {MAX_ACTIVE_TOKENS} API tokens. Revoke unused ones.")
    token = ApiToken.generate()
    api_token = ApiToken.objects.create(
        organization=organization,
        name=name.strip(),
        role=role,
        digest=ApiToken.hash(token),
        prefix=token[:PREFIX_LENGTH],
        created_by=actor.user,
    )
    return api_token, token


def revoke_api_token(*, actor: Membership, api_token: ApiToken) -> ApiToken:
    """Stop a token from working, at once. Only owners may revoke owner tokens."""
    _check_can_manage(actor)
    if ROLE_RANK[Role(api_token.role)] > ROLE_RANK[Role(actor.role)]:
        raise NotAllowed("Only an owner can revoke an owner token.")
    revoke_tokens(ApiToken.objects.filter(pk=api_token.pk))
    api_token.refresh_from_db(fields=["revoked_at"])
    return api_token


def revoke_tokens(tokens) -> int:
    """Revoke every token of a queryset that is still active (staff, in admin); how many were."""
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


def authenticate(token: str) -> ApiToken | None:
    """The active token `token` names (with its organization), or None. One indexed query."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    api_token = ApiToken.objects.active().select_related("organization").filter(digest=ApiToken.hash(token)).first()
    if api_token is not None:
        _touch(api_token)
    return api_token


def _touch(api_token: ApiToken) -> None:
    now = timezone.now()
    if api_token.last_used_at is not None and now - api_token.last_used_at < LAST_USED_PRECISION:
        return
    api_token.last_used_at = now
    ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
