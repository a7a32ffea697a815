"""What owners and admins ask of webhooks (endpoints, resends), and events becoming deliveries."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict
from core.outbound import validate_outbound_url
from core.queue import enqueue_on_commit
from organizations.models import Organization

from . import events
from .models import ALL_EVENTS, Delivery, DeliveryState, Endpoint, Event, generate_signing_secret
from .tasks import send_delivery_task

SCHEMES = ("https", "http")
MAX_ENDPOINTS_PER_ORGANIZATION = 20


def validate_endpoint_url(url: str) -> None:
    """The outgoing-address check of every URL the portal connects to (core.outbound)."""
    validate_outbound_url(url, schemes=SCHEMES)


def _clean_events(chosen: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(chosen))
    unknown = [event for event in chosen if event not in ALL_EVENTS]
    if unknown:
        raise ValidationError(
            {"events": f"Unknown events: {', '.join(unknown)}. Choose among {', '.join(ALL_EVENTS)}."}
        )
    if not chosen:
        raise ValidationError({"events": "Choose at least one event."})
    return [event for event in ALL_EVENTS if event in chosen]


def create_endpoint(
    *,
    organization: Organization,
    url: str,
    events: Iterable[str],
    description: str = "",
    enabled: bool = True,
    created_by=None,
) -> tuple[Endpoint, str]:
    """Register an endpoint; returns it with its signing secret, which is shown this once."""
    if Endpoint.objects.for_organization(organization).count() >= MAX_ENDPOINTS_PER_ORGANIZATION:
        raise Conflict(f"An organization has at most {MAX_ENDPOINTS_PER_ORGANIZATION} webhook endpoints.")
    try:
        validate_endpoint_url(url)
    except ValidationError as refused:
        raise ValidationError({"url": refused.messages}) from None
    secret = generate_signing_secret()
    endpoint = Endpoint(
        organization=organization,
        url=url,
        events=_clean_events(events),
        description=description,
        enabled=enabled,
        signing_secret=secret,
        created_by=created_by,
    )
    endpoint.full_clean()
    endpoint.save()
    return endpoint, secret


def update_endpoint(*, endpoint: Endpoint, **fields) -> Endpoint:
    """Change an endpoint's URL, events, description or enabled flag; enabling clears its failures."""
    unknown = set(fields) - {"url", "events", "description", "enabled"}
    if unknown:
        raise TypeError(f"update_endpoint() got unexpected fields {sorted(unknown)}")
    if "url" in fields:
        try:
            validate_endpoint_url(fields["url"])
        except ValidationError as refused:
            raise ValidationError({"url": refused.messages}) from None
    if "events" in fields:
        fields["events"] = _clean_events(fields["events"])
    if fields.get("enabled") and not endpoint.enabled:
        endpoint.failure_streak, endpoint.failing_since, endpoint.disabled_reason = 0, None, ""
    for name, value in fields.items():
        setattr(endpoint, name, value)
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def rotate_signing_secret(*, endpoint: Endpoint) -> str:
    """A new signing secret (shown once); the old one no longer signs anything."""
    secret = generate_signing_secret()
    endpoint.signing_secret = secret
    endpoint.save(update_fields=["signing_secret", "updated_at"])
    return secret


def delete_endpoint(*, endpoint: Endpoint) -> None:
    endpoint.delete()


def resend_delivery(*, delivery: Delivery) -> Delivery:
    """Send a delivery again now (the same event id and body, freshly signed)."""
    if not delivery.endpoint.enabled:
        raise Conflict("This endpoint is disabled: enable it before resending.")
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            state=DeliveryState.PENDING, next_attempt_at=timezone.now(), updated_at=timezone.now()
        )
        enqueue_on_commit(send_delivery_task, delivery.pk)
    delivery.refresh_from_db()
    return delivery


def send_test_event(*, endpoint: Endpoint) -> Delivery:
    """A `ping` delivery to check the endpoint and its signature check."""
    return _deliver(endpoint=endpoint, event_type=Event.PING, event_id=uuid.uuid4(), data={"endpoint": endpoint.pk})


def record_event(*, organization_id: int, event_type: str, obj) -> list[Delivery]:
    """An event of `organization_id`: one delivery per enabled endpoint of it that wants it.

    Called inside the transaction of the change it reports, so the deliveries exist exactly when
    the change does; each is sent once the transaction commits.
    """
    endpoints = Endpoint.objects.for_organization(organization_id).select_related("organization").wanting(event_type)
    if not endpoints:
        return []
    data = events.represent(obj)
    event_id = uuid.uuid4()
    return [_deliver(endpoint=endpoint, event_type=event_type, event_id=event_id, data=data) for endpoint in endpoints]


def _deliver(*, endpoint: Endpoint, event_type: str, event_id: uuid.UUID, data: dict) -> Delivery:
    now = timezone.now()
    body = events.envelope(
        event_id=event_id, event_type=event_type, created=now, organization_slug=endpoint.organization.slug, data=data
    )
    delivery = Delivery.objects.create(
        endpoint=endpoint, event_id=event_id, event_type=event_type, body=body, created_at=now, next_attempt_at=now
    )
    enqueue_on_commit(send_delivery_task, delivery.pk)
    return delivery
