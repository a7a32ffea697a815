from django.contrib import admin

from . import services
from .models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Staff see and revoke tokens; the digest never shows and tokens are created by their organizations."""

    list_display = ["name", "organization", "role", "display", "created_by", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["role", ("revoked_at", admin.EmptyFieldListFilter), "organization"]
    search_fields = ["name", "prefix", "organization__name", "created_by__email"]
    fields = ["name", "organization", "role", "display", "created_by", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["organization", "role", "display", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    @admin.display(description="Token")
    def display(self, obj: ApiToken) -> str:
        return obj.display

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        count = services.revoke_tokens(queryset)
        self.message_user(request, f"{count} token(s) revoked.")
