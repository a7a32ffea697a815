"""Recordings' files: what an organization's recordings weigh, deleting a recording with its
files, and the retention clean-up.

With a bucket (RECORDINGS_STORAGE=s3) what a recording weighs is what its object holds (the
size verified after the upload), and a deleted recording's object and local leftovers are
removed by workers (recordings.tasks.queue_file_deletion, from the post_delete receiver)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.core.exceptions import SuspiciousFileOperation
from django.db.models import Sum
from django.utils import timezone

from core.errors import Conflict
from organizations.models import Organization

from . import storage
from .models import RECORDING_STATES_WITH_FILES, Recording, RecordingState

logger = logging.getLogger(__name__)


def storage_used_bytes(organization) -> int:
    recordings = Recording.objects.for_organization(organization).using_storage()
    return recordings.aggregate(total=Sum("size_bytes"))["total"] or 0


def delete_recording(*, recording: Recording) -> None:
    """Delete a recording; its files go with the row (see `delete_files`). Stop it first."""
    if recording.is_active:
        raise Conflict("This recording is still running. Stop it before deleting it.")
    recording.delete()


def delete_files(recording: Recording) -> None:
    """Remove a recording's media and info files from the recordings folder (local storage); runs
    whenever a row goes, room deletions included."""
    for path in (recording.file_path, recording.info_path):
        if not path or "${" in path:
            continue
        try:
            storage.local_path(path).unlink(missing_ok=True)
        except (OSError, SuspiciousFileOperation) as error:
            logger.warning("could not delete %s: %s", path, error)


def delete_expired_recordings(*, now=None) -> int:
    """Delete finished (and failed) recordings older than their organization's retention period."""
    now = now or timezone.now()
    deleted = 0
    for organization in Organization.objects.filter(recording_retention_days__gt=0):
        cutoff = now - timedelta(days=organization.recording_retention_days)
        expired = Recording.objects.for_organization(organization).filter(
            state__in=[*RECORDING_STATES_WITH_FILES, RecordingState.ERROR], created_at__lt=cutoff
        )
        for recording in expired:
            delete_recording(recording=recording)
            deleted += 1
    return deleted
