"""The one place where data is scoped to an organization.

Every model that belongs to a tenant declares `organization_lookup` (the ORM path from the
model to its Organization) and uses `TenantQuerySet`. Views, the API, admin actions and
services read tenant data only through `for_organization()` / `get_for_organization_or_404()`,
so a query can't forget the filter: one organization never sees another's rooms, keys,
pushes or recordings.
"""

from __future__ import annotations

from functools import wraps
from typing import TYPE_CHECKING, TypeVar

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404
from django.shortcuts import redirect
from django.utils.functional import SimpleLazyObject

if TYPE_CHECKING:
    from portal.models import Membership, Organization

ModelT = TypeVar("ModelT", bound=models.Model)

SESSION_KEY = "organization_id"


class TenantQuerySet(models.QuerySet):
    def for_organization(self, organization: Organization | int | None):
        if organization is None:
            return self.none()
        return self.filter(**{self.model.organization_lookup: organization})


def get_for_organization_or_404(model_or_qs, organization, **lookup):
    queryset = model_or_qs if isinstance(model_or_qs, models.QuerySet) else model_or_qs.objects.all()
    try:
        return queryset.for_organization(organization).get(**lookup)
    except queryset.model.DoesNotExist:
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.") from None


def memberships_of(user):
    from portal.models import Membership

    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("organization")


def _current_membership(request) -> Membership | None:
    memberships = list(memberships_of(request.user))
    if not memberships:
        return None
    wanted = request.session.get(SESSION_KEY)
    for membership in memberships:
        if membership.organization_id == wanted:
            return membership
    return memberships[0]


def switch_organization(request, organization_id: int) -> Membership:
    """Make `organization_id` the current organization, if the user belongs to it."""
    membership = memberships_of(request.user).filter(organization_id=organization_id).first()
    if membership is None:
        raise Http404("You are not a member of that organization.")
    request.session[SESSION_KEY] = membership.organization_id
    request.membership = membership
    request.organization = membership.organization
    return membership


class CurrentOrganizationMiddleware:
    """Sets request.membership and request.organization (lazily) for signed-in users."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = SimpleLazyObject(lambda: _current_membership(request))
        request.organization = SimpleLazyObject(lambda: request.membership.organization if request.membership else None)
        return self.get_response(request)


def member_required(role: str | None = None):
    """Require a signed-in member of the current organization, with `role` or above."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                from django.contrib.auth.views import redirect_to_login

                return redirect_to_login(request.get_full_path())
            if not request.membership:
                return redirect("org_create")
            if role is not None and not request.membership.has_role(role):
                raise PermissionDenied(f"This needs the {role} role or above.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def get_member_object_or_404(request, model_or_qs, **lookup):
    """Load a tenant object for a signed-in member.

    Looks in the current organization first; a user who belongs to several organizations and
    opens a link to another of theirs is switched to it. Anyone else gets a 404.
    """
    queryset = model_or_qs if isinstance(model_or_qs, models.QuerySet) else model_or_qs.objects.all()
    try:
        return get_for_organization_or_404(queryset, request.organization, **lookup)
    except Http404:
        other_org_ids = list(memberships_of(request.user).values_list("organization_id", flat=True))
        obj = queryset.filter(**{f"{queryset.model.organization_lookup}__in": other_org_ids}, **lookup).first()
        if obj is None:
            raise
        switch_organization(request, _organization_id_of(obj))
        return obj


def _organization_id_of(obj) -> int:
    target = obj
    for part in obj.organization_lookup.split("__"):
        target = getattr(target, part)
    return target.pk
