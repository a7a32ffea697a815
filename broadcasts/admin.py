from django.contrib import admin

from . import services
from .models import Destination, Push


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin):
    list_display = ["name", "room", "organization", "platform", "url", "masked_stream_key", "enabled", "auto_start"]
    list_filter = ["platform", "enabled", "auto_start"]
    search_fields = ["name", "url", "room__public_id", "room__organization__name"]
    list_select_related = ["room__organization"]
    autocomplete_fields = ["room"]
    exclude = ["stream_key"]
    readonly_fields = ["masked_stream_key", "created_at", "updated_at"]

    @admin.display(description="organization", ordering="room__organization__name")
    def organization(self, obj):
        return obj.room.organization

    @admin.display(description="stream key")
    def masked_stream_key(self, obj):
        return obj.masked_stream_key


@admin.register(Push)
class PushAdmin(admin.ModelAdmin):
    list_display = ["ome_id", "room", "organization", "target", "state", "sent_bytes", "created_at", "started_at"]
    list_filter = ["state", "protocol", "created_at"]
    search_fields = ["ome_id", "url", "room__public_id", "room__organization__name", "destination__name"]
    list_select_related = ["room__organization", "destination"]
    date_hierarchy = "created_at"
    exclude = ["stream_key"]
    readonly_fields = [
        "ome_id",
        "room",
        "destination",
        "stream_name",
        "protocol",
        "url",
        "masked_stream_key",
        "state",
        "error_message",
        "sent_bytes",
        "sent_time_ms",
        "requested_by",
        "created_at",
        "started_at",
        "stopped_at",
    ]
    actions = ["stop_pushes"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="organization", ordering="room__organization__name")
    def organization(self, obj):
        return obj.room.organization

    @admin.display(description="stream key")
    def masked_stream_key(self, obj):
        return obj.masked_stream_key

    @admin.action(description="Stop the selected pushes")
    def stop_pushes(self, request, queryset):
        stopping = [services.stop_push(push=push) for push in queryset.active()]
        self.message_user(request, f"Stopping {len(stopping)} push(es).")
