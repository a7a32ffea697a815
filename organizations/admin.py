from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .forms import AdminSignInForm
from .models import Invitation, Membership, Organization, User

admin.site.login_form = AdminSignInForm  # the sign-in limits (portal/throttle.py) apply here too


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_staff", "is_active", "date_joined", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "member_count",
        "room_count",
        "adaptive_rooms",
        "is_suspended",
        "recording_retention_days",
        "created_at",
    ]
    list_filter = ["is_suspended", "created_at"]
    search_fields = ["name", "slug", "memberships__user__email"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    actions = ["suspend", "unsuspend"]

    @admin.display(description="members")
    def member_count(self, obj):
        return obj.memberships.count()

    @admin.display(description="rooms")
    def room_count(self, obj):
        return obj.rooms.count()

    @admin.display(description="adaptive rooms (used / limit)")
    def adaptive_rooms(self, obj):
        return f"{obj.rooms.filter(quality='adaptive').count()} / {obj.max_adaptive_rooms}"

    @admin.action(description="Suspend: no going live, restreaming or recording")
    def suspend(self, request, queryset):
        # One save each rather than a queryset update: saving is what tells the caches that hold
        # an organization's facts (the admission webhook's) to drop them at once.
        updated = self._set_suspended(queryset, is_suspended=True)
        self.message_user(request, f"{updated} organization(s) suspended.")

    @admin.action(description="Lift suspension")
    def unsuspend(self, request, queryset):
        updated = self._set_suspended(queryset, is_suspended=False, suspended_reason="")
        self.message_user(request, f"{updated} organization(s) can go live again.")

    @staticmethod
    def _set_suspended(queryset, **fields) -> int:
        organizations = list(queryset)
        for organization in organizations:
            for name, value in fields.items():
                setattr(organization, name, value)
            organization.save(update_fields=list(fields))
        return len(organizations)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "organization__name"]
    autocomplete_fields = ["user", "organization"]
    list_select_related = ["user", "organization"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "organization", "role", "invited_by", "created_at", "expires_at", "accepted_at"]
    list_filter = ["role", "accepted_at"]
    search_fields = ["email", "organization__name"]
    readonly_fields = ["token_digest", "accepted_at", "accepted_by"]
    list_select_related = ["organization", "invited_by"]
