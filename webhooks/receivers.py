"""The domain apps announce changes (signals); these turn them into webhook events."""

from __future__ import annotations

from broadcasts.models import Push, PushState
from recordings.models import Recording, RecordingState

from . import services
from .models import Endpoint, Event

PUSH_EVENTS = {
    PushState.PUSHING: Event.PUSH_STARTED,
    PushState.ERROR: Event.PUSH_FAILED,
    PushState.STOPPED: Event.PUSH_STOPPED,
}
RECORDING_EVENTS = {
    RecordingState.FINISHED: Event.RECORDING_READY,
    RecordingState.INTERRUPTED: Event.RECORDING_READY,
    RecordingState.ERROR: Event.RECORDING_FAILED,
}


def room_live(sender, room, **kwargs) -> None:
    services.record_event(organization_id=room.organization_id, event_type=Event.ROOM_LIVE, obj=room)


def room_offline(sender, room, was_live=True, **kwargs) -> None:
    if was_live:  # a room that never got past "starting" was never announced live
        services.record_event(organization_id=room.organization_id, event_type=Event.ROOM_OFFLINE, obj=room)


def push_changed(sender, push_ids, state, **kwargs) -> None:
    event = PUSH_EVENTS.get(state)
    # The reconcile loop announces changes in bulk: one query when no endpoint wants them.
    if (
        event is None
        or not Endpoint.objects.filter(enabled=True, organization__rooms__pushes__pk__in=push_ids).exists()
    ):
        return
    for push in Push.objects.filter(pk__in=push_ids).select_related("room", "destination"):
        services.record_event(organization_id=push.room.organization_id, event_type=event, obj=push)


def recording_changed(sender, recording_ids, state, **kwargs) -> None:
    event = RECORDING_EVENTS.get(state)
    if (
        event is None
        or not Endpoint.objects.filter(enabled=True, organization__rooms__recordings__pk__in=recording_ids).exists()
    ):
        return
    for recording in Recording.objects.filter(pk__in=recording_ids).select_related("room"):
        # Interrupted is ready only with the file OME left; without one nothing can be published.
        kind = event if event != Event.RECORDING_READY or recording.is_downloadable else Event.RECORDING_FAILED
        services.record_event(organization_id=recording.room.organization_id, event_type=kind, obj=recording)
