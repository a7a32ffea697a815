"""Pushes' part of the reconcile loop: make the database's intent and OME's pushes meet.

- A push OME reports gets its state and counters copied (all rows in one bulk update).
- A push that should run but that OME no longer lists (OME keeps pushes in memory only, so a
  restart forgets them) is registered again; one whose room went offline is marked stopped.
- A push OME still runs but the portal stopped or gave up on is stopped in OME.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from core.bulk import bulk_update_rows
from ome.client import OmeClient, OmeError
from ome.reconcile import OmeSnapshot

from . import outcomes
from .models import ACTIVE_PUSH_STATES, Push, PushState
from .signals import announce_state_changes
from .tasks import start_push_task, stop_push_task

logger = logging.getLogger(__name__)

PUSH_ID_PREFIX = "push-"
UPDATED_FIELDS = ["state", "error_message", "sent_bytes", "sent_time_ms", "started_at", "stopped_at", "updated_at"]


def reconcile_pushes(snapshot: OmeSnapshot) -> None:
    pushes = list(Push.objects.filter(state__in=ACTIVE_PUSH_STATES).select_related("room"))
    changed: list[Push] = []
    to_register: list[int] = []
    to_stop: list[int] = []
    now = timezone.now()
    before = {push.pk: push.state for push in pushes}
    for push in pushes:
        if push.updated_at > snapshot.taken_at:
            continue  # changed since OME was read (a task just registered it): judged next time
        info = snapshot.pushes.get(push.ome_id)
        room_live = push.room.is_live
        if push.state == PushState.REQUESTED:
            continue  # its start task has not run yet
        if push.state == PushState.STOPPING:
            if info is None or info.state == "stopped":
                push.state, push.stopped_at = PushState.STOPPED, now
                changed.append(push)
            continue
        if info is None or info.state == "stopped":
            if push.state == PushState.PUSHING and not room_live:
                push.state, push.stopped_at = PushState.STOPPED, now  # the room went offline
                changed.append(push)
            elif info is None:
                to_register.append(push.pk)  # OME forgot it (restart): register it again
            else:
                push.state, push.error_message = PushState.ERROR, "The media server ended this restream."
                changed.append(push)
            continue
        if push.state == PushState.PUSHING and info.state == "ready" and not room_live:
            to_stop.append(push.pk)  # the stream ended; OME would wait for it to come back
            push.state = PushState.STOPPING
            changed.append(push)
            continue
        if outcomes.apply_ome_info(push, info):
            changed.append(push)
    for push in changed:
        push.updated_at = now
    if changed:
        with transaction.atomic():
            bulk_update_rows(changed, UPDATED_FIELDS)
            announce_state_changes((push.pk, before[push.pk], push.state) for push in changed)
    for push_id in to_register:
        start_push_task.delay(push_id)
    for push_id in to_stop:
        stop_push_task.delay(push_id)
    _stop_abandoned(snapshot, known={push.ome_id for push in pushes})


def _stop_abandoned(snapshot: OmeSnapshot, *, known: set[str]) -> None:
    """Stop pushes OME runs for us that the portal no longer wants (stopped, failed, deleted)."""
    unknown = [
        push_id
        for push_id, info in snapshot.pushes.items()
        if push_id.startswith(PUSH_ID_PREFIX) and push_id not in known and info.state != "stopped"
    ]
    if not unknown:
        return
    client = OmeClient.from_settings()
    for push_id in unknown:
        try:
            client.stop_push(push_id)
        except OmeError as error:
            logger.warning("could not stop abandoned push %s: %s", push_id, error)
