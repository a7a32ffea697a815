"""The webhooks pages (owners and admins): endpoints, their signing secret (shown once), and each
endpoint's recent deliveries with a Resend button."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.errors import PortalError
from organizations.models import Role
from organizations.tenancy import TenantObject, member_required

from . import services
from .forms import EndpointEditForm, EndpointForm
from .models import Delivery, Endpoint

RECENT_DELIVERIES = 50

_endpoint = TenantObject(Endpoint.objects.select_related("organization"), "pk", "endpoint_id", "endpoint")
_delivery = TenantObject(Delivery.objects.select_related("endpoint"), "pk", "delivery_id", "delivery")


def _list(request, form: EndpointForm, *, status: int = 200):
    endpoints = Endpoint.objects.for_organization(request.organization)
    return render(request, "webhooks/list.html", {"form": form, "endpoints": endpoints}, status=status)


@never_cache
@member_required(Role.ADMIN)
def endpoint_list(request):
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = services.create_endpoint(
                organization=request.organization,
                url=form.cleaned_data["url"].strip(),
                events=form.cleaned_data["events"],
                description=form.cleaned_data["description"],
                created_by=request.user,
            )
        except ValidationError as refused:
            form.apply_errors(refused)
        except PortalError as error:
            form.add_error(None, error.message)
        else:
            # Rendered, not redirected: the secret exists in clear only in this answer.
            return _detail(request, endpoint, new_secret=secret)
    return _list(request, form, status=400 if form.errors else 200)


def _detail(request, endpoint: Endpoint, *, form: EndpointEditForm | None = None, new_secret: str = "", status=200):
    form = form or EndpointEditForm(
        initial={
            "url": endpoint.url,
            "description": endpoint.description,
            "events": endpoint.events,
            "enabled": endpoint.enabled,
        }
    )
    deliveries = endpoint.deliveries.all()[:RECENT_DELIVERIES]
    context = {"endpoint": endpoint, "form": form, "deliveries": deliveries, "new_secret": new_secret}
    return render(request, "webhooks/detail.html", context, status=status)


@never_cache
@member_required(Role.ADMIN, of=_endpoint)
def endpoint_detail(request, endpoint: Endpoint):
    if request.method != "POST":
        return _detail(request, endpoint)
    form = EndpointEditForm(request.POST)
    if form.is_valid():
        try:
            services.update_endpoint(
                endpoint=endpoint,
                url=form.cleaned_data["url"].strip(),
                description=form.cleaned_data["description"],
                events=form.cleaned_data["events"],
                enabled=form.cleaned_data["enabled"],
            )
        except ValidationError as refused:
            form.apply_errors(refused)
        else:
            messages.success(request, "Endpoint saved.")
            return redirect(endpoint)
    endpoint.refresh_from_db()
    return _detail(request, endpoint, form=form, status=400)


@require_POST
@member_required(Role.ADMIN, of=_endpoint)
def endpoint_delete(request, endpoint: Endpoint):
    services.delete_endpoint(endpoint=endpoint)
    messages.success(request, f"Endpoint {endpoint.url} deleted: it receives nothing from now on.")
    return redirect("webhooks:list")


@never_cache
@require_POST
@member_required(Role.ADMIN, of=_endpoint)
def rotate_secret(request, endpoint: Endpoint):
    secret = services.rotate_signing_secret(endpoint=endpoint)
    return _detail(request, endpoint, new_secret=secret)


@require_POST
@member_required(Role.ADMIN, of=_endpoint)
def send_test(request, endpoint: Endpoint):
    services.send_test_event(endpoint=endpoint)
    messages.success(request, "A ping event is on its way; its delivery is listed below.")
    return redirect(endpoint)


@require_POST
@member_required(Role.ADMIN, of=_delivery)
def resend(request, delivery: Delivery):
    try:
        services.resend_delivery(delivery=delivery)
    except PortalError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{delivery.event_type} sent again.")
    return redirect(delivery.endpoint)
