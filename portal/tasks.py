"""Periodic tasks of the portal as a whole."""

import logging

from celery import shared_task

from ome.client import OmeUnavailable
from ome.reconcile import reconcile as reconcile_once

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def reconcile() -> None:
    """Compare the database with OME and repair drift (Celery beat, every RECONCILE_SECONDS)."""
    try:
        reconcile_once()
    except OmeUnavailable as error:
        # Nothing is changed while OME cannot be read: its silence is not a fact about streams.
        logger.warning("reconcile skipped: %s", error)
