from django.contrib import admin
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
    # OME's TranscodeWebhook (internal network): which outputs (renditions, thumbnails) a stream gets
    path("ome/transcode", room_webhook.transcode_webhook, name="ome_transcode"),
    # Accounts, organizations and members (before admin/: the admin's sign-in is throttled there)
    path("", include("organizations.urls")),
    # Rooms and the player
    path("rooms/<str:public_id>/restream/", include("broadcasts.urls")),
    path("rooms/<str:public_id>/recordings/", include("recordings.urls")),
    path("rooms/", include("rooms.urls")),
    path("watch/<str:public_id>", room_views.watch, name="watch"),
    path("watch/<str:public_id>/status", room_views.watch_status, name="watch_status"),
    path("watch/<str:public_id>/thumbnail.jpg", room_views.watch_thumbnail, name="watch_thumbnail"),
    path("embed/<str:public_id>", room_views.embed, name="embed"),
    path("player.html", room_views.player_html, name="player_html"),
    # oEmbed for watch and embed links (CMSs, forums and chat apps unfold them into the player)
    path("oembed", room_views.oembed_view, name="oembed"),
    # Outgoing webhooks to embedding sites (owners and admins)
    path("webhooks/", include("webhooks.urls")),
    path("admin/", admin.site.urls),
    # API tokens page, REST API v1 (/api/), and the original stack's OME-shaped API (/v1/)
    path("", include("api.urls")),
]
