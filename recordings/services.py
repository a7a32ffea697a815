"""What people ask of recordings: start, stop, record again after OME lost one (views, the API,
admin actions, receivers and the reconcile loop call these). What OME answers is recorded by
recordings.outcomes; files, deletion and retention are recordings.files."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from core.errors import Conflict, LimitReached, NotAllowed
from core.queue import enqueue_on_commit

from . import storage
from .files import storage_used_bytes
from .models import STOPPABLE_RECORDING_STATES, Recording, RecordingState
from .tasks import start_recording_task, stop_recording_task

logger = logging.getLogger(__name__)


def start_recording(*, room, requested_by=None, external_id: str = "") -> Recording:
    """Record the room now, or as soon as it goes live (OME waits for the stream).

    `external_id` is an API client's own id for it, unique among the organization's active recordings.
    """
    organization = room.organization
    if organization.is_suspended:
        raise NotAllowed(f"{organization.name} is suspended: recording is not possible.")
    if not room.is_enabled:
        raise NotAllowed("This room is disabled by the operators: recording is not possible.")
    limit = organization.recording_storage_limit_mb * 1_000_000
    if storage_used_bytes(organization) >= limit:
        raise LimitReached(
            f"Recordings of {organization.name} use all of its {organization.recording_storage_limit_mb} MB. "
            "Delete old recordings to record again."
        )
    if (
        external_id
        and Recording.objects.for_organization(organization).active().filter(external_id=external_id).exists()
    ):
        raise Conflict(f"A recording with the id '{external_id}' is already running.")
    recording = Recording(room=room, requested_by=requested_by, external_id=external_id)
    folder = (f"org-{organization.pk}", room.public_id)
    # OME fills in the times; the extension makes it an MP4 that browsers play and seek.
    recording.file_path = storage.ome_path(
        *folder, f"{recording.ome_id}_${{StartTime:YYYYMMDDhhmmss}}_${{EndTime:YYYYMMDDhhmmss}}.mp4"
    )
    recording.info_path = storage.ome_path(*folder, f"{recording.ome_id}.xml")
    try:
        with transaction.atomic():
            recording.save()
    except IntegrityError:
        raise Conflict("This room is already being recorded.") from None
    enqueue_on_commit(start_recording_task, recording.pk)
    return recording


def stop_recording(*, recording: Recording) -> Recording:
    if not recording.can_stop:
        return recording
    recording.state = RecordingState.STOPPING
    recording.save(update_fields=["state", "updated_at"])
    enqueue_on_commit(stop_recording_task, recording.pk)
    return recording


def start_auto_recording(*, room) -> Recording | None:
    if not room.auto_record or Recording.objects.filter(room=room).active().exists():
        return None
    try:
        return start_recording(room=room)
    except (Conflict, NotAllowed, LimitReached) as error:
        logger.info("auto-record of %s skipped: %s", room.public_id, error.message)
        return None


def stop_room_recordings(*, room) -> None:
    for recording in Recording.objects.filter(room=room, state__in=STOPPABLE_RECORDING_STATES):
        stop_recording(recording=recording)


def resume_recording(*, interrupted: Recording) -> Recording | None:
    """Record again in a new file after OME lost a recording, while the room is (still) live.

    The recording was wanted running, by hand or because the room records automatically, like
    the pushes that the reconcile loop registers again: OME waits for the stream to come back.
    """
    room = interrupted.room
    if not room.is_live or Recording.objects.filter(room=room).active().exists():
        return None
    try:
        return start_recording(room=room, requested_by=interrupted.requested_by, external_id=interrupted.external_id)
    except (Conflict, NotAllowed, LimitReached) as error:
        logger.info("recording of %s not resumed after OME lost it: %s", room.public_id, error.message)
        return None
