"""Sending one delivery: claim it, check the address again, POST the signed body, record the try.

Idempotent per delivery: a try first claims the row (only a pending delivery whose time has
come can be claimed, and the claim pushes its time past the try's timeout), so a task that runs
twice, or a sweep that queues a delivery whose message was only slow, sends nothing twice while
a try is under way. A worker killed mid-try leaves a claim that expires: the sweep sends it again.

Failed tries are retried with exponential backoff (WEBHOOK_RETRY_BASE_SECONDS, doubling up to
WEBHOOK_RETRY_MAX_SECONDS, WEBHOOK_MAX_ATTEMPTS tries: about a day). An endpoint whose every
try failed for WEBHOOK_DISABLE_AFTER_SECONDS (and at least WEBHOOK_DISABLE_AFTER_FAILURES tries)
is disabled and the organization's owners get an email.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import timedelta

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from core.outbound import validate_outbound_url
from organizations.models import Membership, Role

from .models import Delivery, DeliveryState, Endpoint
from .signing import SIGNATURE_HEADER, signature_header

logger = logging.getLogger(__name__)

USER_AGENT = "StreamingStack-Webhooks/1"
_session = requests.Session()


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones (with a little jitter)."""
    base = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)
    return min(settings.WEBHOOK_RETRY_MAX_SECONDS, base) * random.uniform(0.9, 1.0)


def send(delivery_id: int) -> float | None:
    """Try to send a delivery if it is due; the seconds until its next try, or None when it is done
    (delivered, failed for good, not due, or being sent elsewhere)."""
    now = timezone.now()
    claim_until = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + 30)
    claimed = Delivery.objects.due(now).filter(pk=delivery_id).update(next_attempt_at=claim_until)
    if not claimed:
        return None
    delivery = Delivery.objects.select_related("endpoint__organization").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        _finish(delivery, state=DeliveryState.FAILED, error="Not sent: the endpoint is disabled.")
        return None
    status_code, latency_ms, error = _post(endpoint, delivery)
    return _record_try(delivery_id, status_code=status_code, latency_ms=latency_ms, error=error)


def _post(endpoint: Endpoint, delivery: Delivery) -> tuple[int | None, int | None, str]:
    """(status code, latency in ms, error in words); the error is empty for a 2xx answer."""
    try:
        # Judged again right before connecting: the name may point somewhere else than at saving.
        validate_outbound_url(endpoint.url, schemes=("https", "http"))
    except ValidationError as refused:
        return None, None, "Not sent: " + " ".join(refused.messages)
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-StreamingStack-Event": delivery.event_type,
        "X-StreamingStack-Delivery": str(delivery.event_id),
        SIGNATURE_HEADER: signature_header(secret=endpoint.signing_secret, timestamp=int(time.time()), body=body),
    }
    started = time.monotonic()
    try:
        # No redirects: a redirect could lead anywhere, past the address check.
        response = _session.post(
            endpoint.url, data=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS, allow_redirects=False
        )
        response.close()
    except requests.Timeout:
        return None, _ms_since(started), f"No answer within {settings.WEBHOOK_TIMEOUT_SECONDS:g} seconds."
    except requests.RequestException as failure:
        return None, _ms_since(started), f"Could not connect: {type(failure).__name__}."
    latency = _ms_since(started)
    if 200 <= response.status_code < 300:
        return response.status_code, latency, ""
    return response.status_code, latency, f"The endpoint answered {response.status_code}; a 2xx answer was expected."


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _record_try(delivery_id: int, *, status_code: int | None, latency_ms: int | None, error: str) -> float | None:
    now = timezone.now()
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
        endpoint = Endpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.last_status_code = status_code
        delivery.last_latency_ms = latency_ms
        delivery.last_error = error[:500]
        delay = None
        if not error:
            delivery.state, delivery.next_attempt_at = DeliveryState.SUCCEEDED, None
            endpoint.failure_streak, endpoint.failing_since = 0, None
        else:
            endpoint.failure_streak += 1
            endpoint.failing_since = endpoint.failing_since or now
            if delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
                delivery.state, delivery.next_attempt_at = DeliveryState.FAILED, None
            else:
                delay = retry_delay(delivery.attempts)
                delivery.next_attempt_at = now + timedelta(seconds=delay)
        delivery.save()
        if error and endpoint.enabled and _keeps_failing(endpoint, now):
            _disable(endpoint, now=now)
            delay = None
        endpoint.save(update_fields=["failure_streak", "failing_since", "enabled", "disabled_reason", "updated_at"])
    return delay


def _keeps_failing(endpoint: Endpoint, now) -> bool:
    return (
        endpoint.failure_streak >= settings.WEBHOOK_DISABLE_AFTER_FAILURES
        and endpoint.failing_since is not None
        and endpoint.failing_since <= now - timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS)
    )


def _disable(endpoint: Endpoint, *, now) -> None:
    """Stop sending to an endpoint that keeps failing; its pending deliveries fail; owners are told."""
    endpoint.enabled = False
    endpoint.disabled_reason = (
        f"Disabled on {now:%Y-%m-%d %H:%M} UTC after {endpoint.failure_streak} failed tries in a row "
        f"since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC."
    )
    Delivery.objects.filter(endpoint=endpoint, state=DeliveryState.PENDING).update(
        state=DeliveryState.FAILED, next_attempt_at=None, last_error="Not sent: the endpoint was disabled."
    )
    logger.warning(
        "webhook endpoint %s of %s disabled after %d failures",
        endpoint.pk,
        endpoint.organization_id,
        endpoint.failure_streak,
    )
    owners = list(
        Membership.objects.filter(organization_id=endpoint.organization_id, role=Role.OWNER).values_list(
            "user__email", flat=True
        )
    )
    if not owners:
        return
    context = {"endpoint": endpoint, "page_url": settings.PUBLIC_URL + endpoint.get_absolute_url()}
    subject = f"Webhook endpoint disabled: {endpoint.url}"[:200]
    message = render_to_string("emails/webhook_disabled.txt", context)
    transaction.on_commit(lambda: send_mail(subject=subject, message=message, from_email=None, recipient_list=owners))


def _finish(delivery: Delivery, *, state: str, error: str) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(
        state=state, next_attempt_at=None, last_error=error[:500], updated_at=timezone.now()
    )
