"""What OME answered about pushes, recorded on their rows (the tasks and the reconcile loop call
these), and the last check before OME is asked to connect anywhere."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ome.client import PushInfo

from .models import PUSH_STATE_FROM_OME, Push, PushState, validate_destination_url
from .signals import announce_state_changes

DESTINATION_FAILED = (
    "The destination refused the stream or could not be reached. Check the server URL and the stream key, then retry."
)


def refuse_unsafe_target(*, push: Push) -> bool:
    """Judge the push's server again right before OME connects to it: a name may resolve
    elsewhere now than when it was saved. A refused push is marked failed; True if refused."""
    try:
        validate_destination_url(push.url)
    except ValidationError as refused:
        push_failed(push_id=push.pk, message="Not started: " + " ".join(refused.messages))
        return True
    return False


def apply_ome_info(push: Push, info: PushInfo) -> bool:
    """Copy OME's view of a push onto the row (not saved); True when something changed."""
    before = (push.state, push.sent_bytes, push.sent_time_ms, push.started_at, push.error_message)
    state = PUSH_STATE_FROM_OME.get(info.state)
    if state is PushState.ERROR:
        push.error_message = DESTINATION_FAILED
    if state in (PushState.STARTING, PushState.PUSHING, PushState.ERROR):
        push.state = state
    push.sent_bytes = max(push.sent_bytes, info.total_sent_bytes or info.sent_bytes)
    push.sent_time_ms = max(push.sent_time_ms, info.total_sent_time_ms or info.sent_time_ms)
    if state is PushState.PUSHING and push.started_at is None:
        push.started_at = info.start_time or timezone.now()
    return before != (push.state, push.sent_bytes, push.sent_time_ms, push.started_at, push.error_message)


def push_registered(*, push_id: int, info: PushInfo | None) -> None:
    """OME accepted the push (or already had it: same id, same push)."""
    with transaction.atomic():
        push = Push.objects.select_for_update().filter(pk=push_id).first()
        if push is None or not push.can_stop:
            return
        before = push.state
        if push.state == PushState.REQUESTED:
            push.state = PushState.STARTING
        if info is not None:
            apply_ome_info(push, info)
        push.save()
        announce_state_changes([(push.pk, before, push.state)])


def push_failed(*, push_id: int, message: str) -> None:
    with transaction.atomic():
        failed_now = (
            Push.objects.filter(pk=push_id)
            .exclude(state__in=[PushState.STOPPED, PushState.ERROR])
            .update(state=PushState.ERROR, error_message=message[:500], updated_at=timezone.now())
        )
        if failed_now:
            announce_state_changes([(push_id, "", PushState.ERROR)])
        else:  # failed already: the newer reason
            Push.objects.filter(pk=push_id, state=PushState.ERROR).update(
                error_message=message[:500], updated_at=timezone.now()
            )


def push_stopped(*, push_id: int) -> None:
    with transaction.atomic():
        stopped = (
            Push.objects.filter(pk=push_id)
            .exclude(state__in=[PushState.STOPPED, PushState.ERROR])
            .update(state=PushState.STOPPED, stopped_at=timezone.now(), updated_at=timezone.now())
        )
        if stopped:
            announce_state_changes([(push_id, "", PushState.STOPPED)])
