from django.contrib import admin

from . import files, services
from .models import ACTIVE_RECORDING_STATES, Recording


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_display = ["ome_id", "room", "organization", "state", "duration_ms", "size_bytes", "created_at", "finished_at"]
    list_filter = ["state", "interrupted", "created_at"]
    search_fields = ["ome_id", "file_path", "room__public_id", "room__organization__name"]
    list_select_related = ["room__organization"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "ome_id",
        "room",
        "state",
        "error_message",
        "file_path",
        "info_path",
        "size_bytes",
        "duration_ms",
        "storage_key",
        "checksum_sha256",
        "interrupted",
        "upload_attempts",
        "upload_error",
        "upload_retry_at",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
    ]
    actions = ["stop_recordings", "delete_with_files"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # deleting must remove the file too: use the action

    @admin.display(description="organization", ordering="room__organization__name")
    def organization(self, obj):
        return obj.room.organization

    @admin.action(description="Stop the selected recordings")
    def stop_recordings(self, request, queryset):
        stopping = [services.stop_recording(recording=recording) for recording in queryset.active()]
        self.message_user(request, f"Stopping {len(stopping)} recording(s).")

    @admin.action(description="Delete the selected recordings and their files (finished ones only)")
    def delete_with_files(self, request, queryset):
        deleted = 0
        for recording in queryset.exclude(state__in=ACTIVE_RECORDING_STATES):
            files.delete_recording(recording=recording)
            deleted += 1
        self.message_user(request, f"Deleted {deleted} recording(s).")
