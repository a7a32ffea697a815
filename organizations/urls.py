"""Accounts, organizations, members and invitations (included at the site root, names unprefixed)."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("orgs/new/", views.org_create, name="org_create"),
    path("orgs/switch/", views.org_switch, name="org_switch"),
    path("members/", views.members, name="members"),
    path("members/<int:membership_id>/role", views.member_role, name="member_role"),
    path("members/<int:membership_id>/remove", views.member_remove, name="member_remove"),
    path("invitations/<int:invitation_id>/revoke", views.invitation_revoke, name="invitation_revoke"),
    path("invite/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("admin/login/", views.admin_login),  # admin.site.login under the sign-in limits
]
