from django.contrib import admin

from .models import Delivery, Endpoint


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "organization", "enabled", "failure_streak", "masked_secret", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["url", "organization__name"]
    list_select_related = ["organization"]
    readonly_fields = [
        "masked_secret",
        "failure_streak",
        "failing_since",
        "disabled_reason",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="signing secret")
    def masked_secret(self, obj):
        return obj.masked_secret


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["event_type", "endpoint", "state", "attempts", "last_status_code", "last_latency_ms", "created_at"]
    list_filter = ["state", "event_type"]
    search_fields = ["event_id", "endpoint__url", "endpoint__organization__name"]
    list_select_related = ["endpoint"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in Delivery._meta.fields]

    def has_add_permission(self, request):
        return False
