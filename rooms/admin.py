from django.contrib import admin

from . import facts
from .models import LiveSession, Room


class LiveSessionInline(admin.TabularInline):
    model = LiveSession
    extra = 0
    fields = ["started_at", "ended_at", "protocol", "peak_viewers", "started_by"]
    readonly_fields = fields
    ordering = ["-started_at"]
    max_num = 0
    show_change_link = True


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = [
        "public_id",
        "title",
        "organization",
        "visibility",
        "quality",
        "live_state",
        "viewer_count",
        "is_enabled",
        "created_at",
    ]
    list_filter = ["live_state", "visibility", "quality", "is_enabled", "auto_record", "organization"]
    search_fields = ["public_id", "title", "organization__name"]
    readonly_fields = [
        "masked_stream_key",
        "stream_key_rotated_at",
        "live_state",
        "live_since",
        "ingest_protocol",
        "delivered_quality",
        "viewer_count",
        "created_at",
        "updated_at",
    ]
    list_select_related = ["organization"]
    autocomplete_fields = ["organization", "created_by"]
    inlines = [LiveSessionInline]
    actions = ["disable", "enable"]

    @admin.display(description="stream key")
    def masked_stream_key(self, obj):
        return obj.masked_stream_key

    @admin.action(description="Disable: the room cannot go live")
    def disable(self, request, queryset):
        self.message_user(request, f"{_set_enabled(queryset, False)} room(s) disabled.")

    @admin.action(description="Enable")
    def enable(self, request, queryset):
        self.message_user(request, f"{_set_enabled(queryset, True)} room(s) enabled.")


def _set_enabled(queryset, enabled: bool) -> int:
    updated = queryset.update(is_enabled=enabled)
    facts.forget_rooms(queryset)  # a queryset update sends no post_save: the webhook's cache must hear of it
    return updated


@admin.register(LiveSession)
class LiveSessionAdmin(admin.ModelAdmin):
    list_display = ["room", "started_at", "ended_at", "protocol", "peak_viewers", "started_by"]
    list_filter = ["protocol", "started_at"]
    search_fields = ["room__public_id", "room__title", "room__organization__name"]
    list_select_related = ["room", "started_by"]
    date_hierarchy = "started_at"
    readonly_fields = ["room", "started_at", "ended_at", "protocol", "peak_viewers", "started_by"]
