"""Everything that changes accounts and organizations: sign-up, invitations, roles."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.text import slugify

from core.errors import Conflict, NotAllowed

from .models import Invitation, Membership, Organization, Role, User


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "org"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def create_organization(*, name: str, owner: User) -> Organization:
    organization = Organization.objects.create(name=name, slug=_unique_slug(name))
    Membership.objects.create(user=owner, organization=organization, role=Role.OWNER)
    return organization


@transaction.atomic
def sign_up(*, email: str, password: str, organization_name: str, full_name: str = "") -> tuple[User, Organization]:
    first, _, last = full_name.strip().partition(" ")
    user = User.objects.create_user(email=email, password=password, first_name=first, last_name=last)
    organization = create_organization(name=organization_name, owner=user)
    return user, organization


def _check_can_grant(actor: Membership, role: str) -> None:
    if not actor.can_manage_members:
        raise NotAllowed("Only owners and admins can manage members.")
    if role == Role.OWNER and actor.role != Role.OWNER:
        raise NotAllowed("Only an owner can make someone an owner.")


def invite_member(*, actor: Membership, email: str, role: str, accept_url_builder) -> Invitation:
    """Invite `email` to the actor's organization and email them a link to accept."""
    _check_can_grant(actor, role)
    organization = actor.organization
    email = email.strip().lower()
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise Conflict(f"{email} is already a member of {organization.name}.")
    token, digest = Invitation.new_token()
    with transaction.atomic():
        Invitation.objects.pending().filter(organization=organization, email__iexact=email).delete()
        invitation = Invitation.objects.create(
            organization=organization,
            email=email,
            role=role,
            token_digest=digest,
            invited_by=actor.user,
            expires_at=Invitation.default_expiry(),
        )
    context = {
        "invitation": invitation,
        "accept_url": accept_url_builder(token),
        "inviter": actor.user,
        "days": settings.INVITATION_DAYS,
    }
    transaction.on_commit(
        lambda: send_mail(
            subject=f"You are invited to {organization.name} on Streaming Stack",
            message=render_to_string("emails/invitation.txt", context),
            from_email=None,
            recipient_list=[email],
        )
    )
    return invitation


def find_pending_invitation(token: str) -> Invitation | None:
    return (
        Invitation.objects.pending()
        .select_related("organization")
        .filter(token_digest=Invitation.digest(token))
        .first()
    )


@transaction.atomic
def accept_invitation(*, invitation: Invitation, user: User) -> Membership:
    if not invitation.is_pending:
        raise Conflict("This invitation has expired or was already used.")
    if user.email.lower() != invitation.email.lower():
        raise NotAllowed(f"This invitation is for {invitation.email}. Sign in with that address to accept it.")
    membership, _created = Membership.objects.get_or_create(
        user=user, organization=invitation.organization, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership


def _owners_left_after(membership: Membership) -> int:
    return (
        Membership.objects.filter(organization=membership.organization, role=Role.OWNER)
        .exclude(pk=membership.pk)
        .count()
    )


@transaction.atomic
def change_role(*, actor: Membership, membership: Membership, role: str) -> Membership:
    _check_can_grant(actor, role)
    if membership.role == Role.OWNER and actor.role != Role.OWNER:
        raise NotAllowed("Only an owner can change another owner's role.")
    if membership.role == Role.OWNER and role != Role.OWNER and _owners_left_after(membership) == 0:
        raise Conflict("An organization needs at least one owner. Make someone else an owner first.")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def remove_member(*, actor: Membership, membership: Membership) -> None:
    if membership.pk != actor.pk:
        _check_can_grant(actor, membership.role)
    if membership.role == Role.OWNER and _owners_left_after(membership) == 0:
        raise Conflict("An organization needs at least one owner. Make someone else an owner first.")
    membership.delete()
