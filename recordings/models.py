"""Recordings of rooms: what OME recorded, where the file is, how big and how long."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from organizations.querysets import TenantQuerySet


class RecordingState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    WAITING = "waiting", "Waiting for the stream"
    RECORDING = "recording", "Recording"
    STOPPING = "stopping", "Finishing"
    # RECORDINGS_STORAGE=s3: the file is complete and on its way into the bucket (kept on OME's
    # node until the bucket's copy is verified); then Ready (or Interrupted).
    UPLOADING = "uploading", "Uploading"
    FINISHED = "finished", "Ready"
    # OME died while recording: the row keeps whatever file OME had written until then.
    INTERRUPTED = "interrupted", "Interrupted"
    ERROR = "error", "Error"


ACTIVE_RECORDING_STATES = (
    RecordingState.REQUESTED,
    RecordingState.WAITING,
    RecordingState.RECORDING,
    RecordingState.STOPPING,
)
STOPPABLE_RECORDING_STATES = (RecordingState.REQUESTED, RecordingState.WAITING, RecordingState.RECORDING)
# Recordings that may have a file on disk: they count against the quota and can be downloaded.
RECORDING_STATES_WITH_FILES = (RecordingState.FINISHED, RecordingState.INTERRUPTED)
# ... and those whose file is complete, wherever it is: what OME and the reconcile loop no longer change.
RECORDING_STATES_WITH_COMPLETE_FILES = (*RECORDING_STATES_WITH_FILES, RecordingState.UPLOADING)

# OME's record states, and what they mean for a recording the portal asked for (a finished record
# leaves OME's list; its info file says how it ended) ...
RECORD_STATE_FROM_OME = {
    "ready": RecordingState.WAITING,
    "recording": RecordingState.RECORDING,
    "stopping": RecordingState.STOPPING,
    "error": RecordingState.ERROR,
}
# ... and how a recording looks in OME's words (the original stack's API answers in them).
RECORD_STATE_AS_OME = {
    RecordingState.REQUESTED: "ready",
    RecordingState.WAITING: "ready",
    RecordingState.RECORDING: "recording",
    RecordingState.STOPPING: "stopping",
    RecordingState.UPLOADING: "stopped",
    RecordingState.FINISHED: "stopped",
    RecordingState.INTERRUPTED: "error",
    RecordingState.ERROR: "error",
}


class RecordingQuerySet(TenantQuerySet):
    def active(self):
        return self.filter(state__in=ACTIVE_RECORDING_STATES)

    def finished(self):
        return self.filter(state=RecordingState.FINISHED)

    def with_files(self):
        return self.filter(state__in=RECORDING_STATES_WITH_FILES)

    def using_storage(self):
        """What takes room in the recordings storage (uploads in progress included: they soon do)."""
        return self.filter(state__in=RECORDING_STATES_WITH_COMPLETE_FILES)


def new_record_id() -> str:
    return f"rec-{uuid.uuid4().hex[:20]}"


class Recording(models.Model):
    """One recording of a room. `ome_id` is the id OME knows the record by; paths are OME's."""

    organization_lookup = "room__organization"

    ome_id = models.CharField("OME record id", max_length=100, unique=True, default=new_record_id, editable=False)
    external_id = models.CharField(
        max_length=100, blank=True, db_index=True, help_text="The id an API client chose (the original stack's API)."
    )
    room = models.ForeignKey("rooms.Room", on_delete=models.CASCADE, related_name="recordings")
    state = models.CharField(
        max_length=16, choices=RecordingState.choices, default=RecordingState.REQUESTED, db_index=True
    )
    error_message = models.CharField(max_length=500, blank=True)
    file_path = models.CharField(max_length=1000, blank=True, help_text="As OME wrote it.")
    info_path = models.CharField(max_length=1000, blank=True, help_text="OME's info XML about the file.")
    size_bytes = models.BigIntegerField(default=0)
    # RECORDINGS_STORAGE=s3 (recordings.archive): the object the file went into, under a random
    # part of the name nobody can guess from ids; empty while the file is in OME's folder.
    storage_key = models.CharField(max_length=1000, blank=True, help_text="The file's name in the recordings storage.")
    checksum_sha256 = models.CharField(max_length=64, blank=True, help_text="Of the file, checked after uploading.")
    interrupted = models.BooleanField(
        default=False, help_text="OME stopped while recording: the file was never finalized."
    )
    upload_attempts = models.PositiveIntegerField(default=0)
    upload_error = models.CharField(max_length=500, blank=True)
    # When the sweep (recordings.tasks.requeue_uploads) may hand the upload to a worker (again):
    # after a failure, the backoff; while a worker uploads, the end of its time limit.
    upload_retry_at = models.DateTimeField(null=True, blank=True, db_index=True)
    duration_ms = models.BigIntegerField(default=0)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RecordingQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["room"],
                condition=models.Q(state__in=ACTIVE_RECORDING_STATES),
                name="one_active_recording_per_room",
            )
        ]

    def __str__(self) -> str:
        return f"{self.room} at {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_RECORDING_STATES

    @property
    def can_stop(self) -> bool:
        return self.state in STOPPABLE_RECORDING_STATES

    @property
    def is_playable(self) -> bool:
        """A finished file, which browsers play and seek."""
        return self.state == RecordingState.FINISHED and bool(self.file_path)

    @property
    def is_downloadable(self) -> bool:
        """Finished, or interrupted with the file OME left (never finalized: it may not play)."""
        return self.state in RECORDING_STATES_WITH_FILES and bool(self.file_path) and "${" not in self.file_path

    @property
    def is_uploading(self) -> bool:
        return self.state == RecordingState.UPLOADING

    @property
    def file_name(self) -> str:
        return self.file_path.rsplit("/", 1)[-1]
