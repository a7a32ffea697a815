from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal import views
from portal.metrics import metrics_view
from rooms import views as room_views
from rooms import webhook as room_webhook

handler404 = "portal.errorviews.not_found"
handler500 = "portal.errorviews.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    # OME's AdmissionWebhooks (internal network): who may publish and play
    path("ome/admission", room_webhook.admission_webhook, name="ome_admission"),
    # Accounts
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    # Organizations and members
    path("orgs/new/", views.org_create, name="org_create"),
    path("orgs/switch/", views.org_switch, name="org_switch"),
    path("members/", views.members, name="members"),
    path("members/<int:membership_id>/role", views.member_role, name="member_role"),
    path("members/<int:membership_id>/remove", views.member_remove, name="member_remove"),
    path("invitations/<int:invitation_id>/revoke", views.invitation_revoke, name="invitation_revoke"),
    path("invite/<str:token>/", views.invitation_accept, name="invitation_accept"),
    # Rooms and the player
    path("rooms/<str:public_id>/restream/", include("broadcasts.urls")),
    path("rooms/<str:public_id>/recordings/", include("recordings.urls")),
    path("rooms/", include("rooms.urls")),
    path("watch/<str:public_id>", room_views.watch, name="watch"),
    path("watch/<str:public_id>/status", room_views.watch_status, name="watch_status"),
    path("embed/<str:public_id>", room_views.embed, name="embed"),
    path("player.html", room_views.player_html, name="player_html"),
    path("admin/login/", views.admin_login),  # admin.site.login under the sign-in limits
    path("admin/", admin.site.urls),
    # API tokens page, REST API v1 (/api/), and the original stack's OME-shaped API (/v1/)
    path("", include("api.urls")),
]
