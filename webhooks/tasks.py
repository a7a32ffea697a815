"""Celery tasks of webhooks: send one delivery, and the sweep that sends what is due."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from core.queue import REQUEUE_BATCH, enqueue

from . import delivery
from .models import Delivery, DeliveryState

logger = logging.getLogger(__name__)

# A retry due within this many seconds is queued with a countdown; later ones are left to the
# sweep (a long countdown would sit in Redis past its visibility timeout and be handed out twice).
SHORT_RETRY_SECONDS = 30


@shared_task(acks_late=True, ignore_result=True)
def send_delivery_task(delivery_id: int) -> None:
    retry_in = delivery.send(delivery_id)
    if retry_in is not None and retry_in <= SHORT_RETRY_SECONDS:
        send_delivery_task.apply_async((delivery_id,), countdown=retry_in)


@shared_task(ignore_result=True)
def send_due_deliveries() -> int:
    """Queue every delivery whose try is due: retries after a long backoff, and deliveries whose
    message was lost (a killed worker, Redis down or restarted empty)."""
    mark_seconds = max(1, int(settings.WEBHOOK_SWEEP_SECONDS * 2))
    queued = 0
    for pk in Delivery.objects.due().order_by("next_attempt_at").values_list("pk", flat=True)[:REQUEUE_BATCH]:
        if not cache.add(f"webhooks:queued:{pk}", 1, timeout=mark_seconds):
            continue
        if not enqueue(send_delivery_task, pk):
            cache.delete(f"webhooks:queued:{pk}")
            break
        queued += 1
    return queued


@shared_task(ignore_result=True)
def delete_old_deliveries() -> int:
    """Forget deliveries older than WEBHOOK_DELIVERY_RETENTION_DAYS (their pages list recent ones)."""
    cutoff = timezone.now() - timedelta(days=settings.WEBHOOK_DELIVERY_RETENTION_DAYS)
    deleted, _ = Delivery.objects.filter(created_at__lt=cutoff).exclude(state=DeliveryState.PENDING).delete()
    return deleted
