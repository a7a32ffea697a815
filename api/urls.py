"""URLs of the API app: the tokens page, the REST API v1 with its schema and docs, and the
original stack's OME-shaped API (`/v1/vhosts/…`), all included at the site root."""

from django.urls import include, path, re_path
from rest_framework.renderers import JSONRenderer
from rest_framework.routers import APIRootView, DefaultRouter

from . import compat, schema, views, viewsets

app_name = "api"


class _Root(viewsets.TenantAPIMixin, APIRootView):
    """GET /api/v1/: the API's lists, for a valid token (never Django's session or password auth)."""


class _Router(DefaultRouter):
    include_format_suffixes = False
    APIRootView = _Root


router = _Router(root_renderers=[JSONRenderer])
router.register("rooms", viewsets.RoomViewSet, basename="room")
router.register("destinations", viewsets.DestinationViewSet, basename="destination")
router.register("pushes", viewsets.PushViewSet, basename="push")
router.register("recordings", viewsets.RecordingViewSet, basename="recording")
router.register("sessions", viewsets.LiveSessionViewSet, basename="session")
router.register("members", viewsets.MemberViewSet, basename="member")
router.register("webhooks", viewsets.WebhookEndpointViewSet, basename="webhook")
router.register("webhook-deliveries", viewsets.WebhookDeliveryViewSet, basename="webhook-delivery")

urlpatterns = [
    # The tokens page (owners and admins)
    path("api-tokens/", views.api_tokens, name="tokens"),
    path("api-tokens/<int:token_id>/revoke", views.api_token_revoke, name="token_revoke"),
    # REST API v1, schema and docs
    path("api/v1/organization/", viewsets.OrganizationView.as_view(), name="organization"),
    path("api/v1/", include(router.urls)),
    path("api/schema/", schema.SchemaView.as_view(), name="schema"),
    path("api/docs/", schema.SwaggerView.as_view(url_name="api:schema"), name="docs"),
    # The original stack's API (OME REST API v1 shapes)
    path("v1/vhosts/<str:vhost>/apps/<str:app>/streams", compat.streams, name="ome_streams"),
    path("v1/vhosts/<str:vhost>/apps/<str:app>", compat.app_action, name="ome_app_action"),
    re_path(r"^v1(?:/(?P<rest>.*))?$", compat.not_found, name="ome_not_found"),
]
