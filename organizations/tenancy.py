"""Who the signed-in member is, and for which organization: the gate of every member view.

The queries themselves are scoped in organizations.querysets; this module decides which
organization a request acts for (the selected one, or the organization of the object a view's
URL names) and checks the member's role there.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404
from django.shortcuts import redirect
from django.utils.functional import SimpleLazyObject

from .models import Membership
from .querysets import get_for_organization_or_404

__all__ = [
    "CurrentOrganizationMiddleware",
    "TenantObject",
    "get_for_organization_or_404",
    "member_required",
    "memberships_of",
    "switch_organization",
]

SESSION_KEY = "organization_id"


def memberships_of(user):
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


@dataclass(frozen=True)
class TenantObject:
    """How a member view finds the one tenant object its URL names.

    `queryset` holds the candidates, `field` is matched against the URL keyword argument
    `url_kwarg`, and the object reaches the view as the keyword argument `arg`.
    """

    queryset: models.QuerySet
    field: str
    url_kwarg: str
    arg: str


def member_required(role: str | None = None, *, of: TenantObject | None = None):
    """Require a signed-in member with `role` or above: the one gate of every member view.

    Without `of`, the view is about the selected organization itself (room list, new room,
    members, API tokens): the role is the user's role there.

    With `of`, the view is about one object named in its URL. The object is looked up among
    all of the user's organizations (anyone else gets a 404) and the role checked is the user's
    role in **the object's organization** — never the selected one's, which may be another
    organization where the user has more rights. For this request only, `request.membership`
    and `request.organization` are the object's; the organization selected in the session is
    left alone (a view that wants to switch it on navigation calls `switch_organization`).
    """

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                from django.contrib.auth.views import redirect_to_login

                return redirect_to_login(request.get_full_path())
            if of is not None:
                obj, membership = _member_object_or_404(request, of, kwargs.pop(of.url_kwarg))
                request.membership = membership
                request.organization = membership.organization
                kwargs[of.arg] = obj
            elif not request.membership:
                return redirect("org_create")
            if role is not None and not request.membership.has_role(role):
                raise PermissionDenied(f"This needs the {role} role or above.")
            return view(request, *args, **kwargs)

        # Read by the security suites (tests/security/) to find every view that needs a role.
        wrapper.required_role = role
        return wrapper

    return decorator


def _member_object_or_404(request, spec: TenantObject, value) -> tuple[models.Model, Membership]:
    memberships = {membership.organization_id: membership for membership in memberships_of(request.user)}
    queryset = spec.queryset.all()
    lookup = queryset.model.organization_lookup
    obj = queryset.filter(**{f"{lookup}__in": list(memberships), spec.field: value}).first()
    if obj is None:
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.")
    return obj, memberships[organization_id_of(obj)]


def organization_id_of(obj) -> int:
    """The pk of the organization a tenant object belongs to (its `organization_lookup`)."""
    *path, last = obj.organization_lookup.split("__")
    target = obj
    for part in path:
        target = getattr(target, part)
    return getattr(target, f"{last}_id")
