"""Celery tasks that tell OME to start and stop pushes. They take ids and are idempotent."""

from __future__ import annotations

import logging

from celery import shared_task

from core.queue import requeue_stale
from ome.client import OmeClient, OmeConflict, OmeNotFound
from ome.tasks import OmeCallTask

from . import outcomes
from .models import RUNNING_PUSH_STATES, Push, PushState

logger = logging.getLogger(__name__)


class PushTask(OmeCallTask):
    abstract = True

    def record_failure(self, push_id: int, message: str) -> None:
        outcomes.push_failed(push_id=push_id, message=message)


@shared_task(bind=True, base=PushTask)
def start_push_task(self, push_id: int) -> None:
    push = Push.objects.filter(pk=push_id).first()
    if push is None or push.state not in RUNNING_PUSH_STATES:
        return  # stopped or failed meanwhile; a pushing one is registered again after an OME restart
    if outcomes.refuse_unsafe_target(push=push):
        logger.info("push %s not started: its server is not a public address", push.ome_id)
        return
    try:
        info = OmeClient.from_settings().start_push(
            push_id=push.ome_id,
            stream_name=push.stream_name,
            url=push.url,
            stream_key=push.stream_key,
            protocol=push.protocol,
        )
    except OmeConflict:
        info = None  # "Duplicate ID": OME already has this very push (a retried task, or the reconcile loop)
    outcomes.push_registered(push_id=push_id, info=info)


@shared_task(bind=True, base=PushTask)
def stop_push_task(self, push_id: int) -> None:
    push = Push.objects.filter(pk=push_id).first()
    if push is None or push.state != PushState.STOPPING:
        return
    try:
        OmeClient.from_settings().stop_push(push.ome_id)
    except OmeNotFound:
        pass  # OME no longer has it (it ended, or OME restarted): stopped is what we wanted
    outcomes.push_stopped(push_id=push_id)


@shared_task(ignore_result=True)
def requeue_stale_requests() -> int:
    """Beat, every REQUEST_REQUEUE_SECONDS / 4: starts and stops whose queue message was lost go again.

    Their message was lost: a worker killed while the task waited for a retry, Redis down when
    the request was made, or restarted without its data. Pushes OME has accepted (starting,
    pushing) are the reconcile loop's business, not this sweep's.
    """
    return requeue_stale(Push.objects.filter(state=PushState.REQUESTED), task=start_push_task) + requeue_stale(
        Push.objects.filter(state=PushState.STOPPING), task=stop_push_task
    )
