"""The REST API v1 (`/api/v1/`): thin DRF views over the same services as the UI.

Every view loads through `TenantAPIMixin.get_queryset()` — the token's organization, via
`for_organization()` — so another organization's object is a 404 everywhere; the token's role
gates each action (`roles`); services decide everything else and their refusals become 4xx in
`api.exceptions`.
"""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from broadcasts import services as broadcast_services
from broadcasts.models import Destination, Push
from organizations.models import Membership, Role
from recordings import files as recording_files
from recordings import services as recording_services
from recordings.models import Recording
from recordings.ranges import serve_recording
from rooms import credentials
from rooms import selectors as room_selectors
from rooms import services as room_services
from rooms.models import LiveSession, Room
from webhooks import services as webhook_services
from webhooks.models import Delivery, Endpoint

from . import filters, serializers
from .authentication import BearerTokenAuthentication
from .exceptions import api_exception_handler
from .parsers import JSONParser
from .permissions import TokenRole
from .throttling import TokenRateThrottle


class ApiPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class TenantAPIMixin:
    """Token auth, role checks, throttling, JSON, and THE organization scope of every queryset."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [TokenRole]
    throttle_classes = [TokenRateThrottle]
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    pagination_class = ApiPagination
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    roles: dict[str, str] = {}
    field_aliases: dict[str, str] = {}

    @property
    def organization(self):
        return self.request.auth.organization

    def get_queryset(self):
        queryset = super().get_queryset()
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular building the schema
            return queryset.none()
        return queryset.for_organization(self.organization)

    def get_exception_handler(self):
        return api_exception_handler


ADMIN_ONLY = Role.ADMIN

ROOM_EXAMPLE = {
    "id": "town-hall",
    "title": "Town hall",
    "description": "",
    "visibility": "public",
    "allowed_embed_origins": ["https://example.com"],
    "auto_record": False,
    "is_enabled": True,
    "state": "offline",
    "live_since": None,
    "ingest_protocol": "",
    "viewer_count": 0,
    "stream_key_rotated_at": "2026-01-05T10:00:00Z",
    "watch_url": "https://stream.example.com/watch/town-hall",
    "embed_url": "https://stream.example.com/embed/town-hall",
    "rtmp_server_url": "rtmp://stream.example.com:1935/app",
    "created_at": "2026-01-05T10:00:00Z",
    "updated_at": "2026-01-05T10:00:00Z",
}
PUSH_EXAMPLE = {
    "id": 42,
    "room": "town-hall",
    "destination": None,
    "external_id": "yt-main",
    "state": "starting",
    "error_message": "",
    "stream_name": "town-hall_rtmp",
    "protocol": "rtmp",
    "url": "rtmp://a.rtmp.youtube.com/live2",
    "stream_key_masked": "••••••••x9k2",
    "sent_bytes": 0,
    "sent_time_ms": 0,
    "can_stop": True,
    "created_at": "2026-01-05T10:02:00Z",
    "started_at": None,
    "stopped_at": None,
}
RECORDING_EXAMPLE = {
    "id": 7,
    "room": "town-hall",
    "external_id": "",
    "state": "finished",
    "error_message": "",
    "upload_error": "",
    "file_name": "rec-3f2a_20260105100300_20260105110300.mp4",
    "size_bytes": 734003200,
    "duration_ms": 3600000,
    "download_url": "https://stream.example.com/api/v1/recordings/7/file/",
    "can_stop": False,
    "created_at": "2026-01-05T10:03:00Z",
    "started_at": "2026-01-05T10:03:00Z",
    "finished_at": "2026-01-05T11:03:00Z",
}


@extend_schema_view(
    list=extend_schema(
        summary="List rooms", examples=[OpenApiExample("A room", value=ROOM_EXAMPLE, response_only=True)]
    ),
    retrieve=extend_schema(summary="Get a room"),
    create=extend_schema(
        summary="Create a room (admin)",
        examples=[
            OpenApiExample(
                "New room",
                value={"id": "town-hall", "title": "Town hall", "visibility": "public"},
                request_only=True,
            ),
            OpenApiExample("Created", value=ROOM_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    ),
    update=extend_schema(summary="Replace a room's settings (admin)"),
    partial_update=extend_schema(summary="Change a room's settings (admin)"),
    destroy=extend_schema(summary="Delete a room (admin; not while live)"),
)
class RoomViewSet(TenantAPIMixin, viewsets.ModelViewSet):
    """Rooms: live channels. `id` is the room id used in URLs and as the OME stream name."""

    queryset = Room.objects.select_related("organization")
    serializer_class = serializers.RoomSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = "[^/]+"
    filterset_class = filters.RoomFilter
    ordering_fields = ["title", "public_id", "created_at", "live_since", "viewer_count"]
    ordering = ["title", "public_id"]
    field_aliases = {"public_id": "id"}
    roles = {
        "create": ADMIN_ONLY,
        "update": ADMIN_ONLY,
        "partial_update": ADMIN_ONLY,
        "destroy": ADMIN_ONLY,
        "rotate_stream_key": ADMIN_ONLY,
        "embed_links": ADMIN_ONLY,
        "revoke_embed_links": ADMIN_ONLY,
    }

    def get_serializer_class(self):
        if self.action == "create":
            return serializers.RoomCreateSerializer
        return super().get_serializer_class()

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = room_services.create_room(
            organization=self.organization, public_id=data.pop("public_id", ""), **data
        )

    def perform_update(self, serializer):
        room_services.update_room(room=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        room_services.delete_room(room=instance)

    @extend_schema(summary="Live state of a room", responses=serializers.LiveStateSerializer)
    @action(detail=True, methods=["get"])
    def live(self, request, id=None):
        return Response(room_selectors.room_status(room=self.get_object()))

    @extend_schema(
        summary="Reveal the stream key",
        description="The room's secret stream key for OBS, on demand (POST: never cached). Any member role.",
        request=None,
        responses=serializers.StreamKeySerializer,
    )
    @action(detail=True, methods=["post"], url_path="stream-key")
    def stream_key(self, request, id=None):
        return Response(
            serializers.StreamKeySerializer.for_room(self.get_object()), headers={"Cache-Control": "no-store"}
        )

    @extend_schema(
        summary="Rotate the stream key (admin)",
        description="Replaces the stream key; the old one is refused at once. The new key is in this answer.",
        request=None,
        responses=serializers.StreamKeySerializer,
    )
    @action(detail=True, methods=["post"], url_path="rotate-stream-key")
    def rotate_stream_key(self, request, id=None):
        room = self.get_object()
        room_services.rotate_stream_key(room=room)
        return Response(serializers.StreamKeySerializer.for_room(room), headers={"Cache-Control": "no-store"})

    @extend_schema(
        summary="Create an embed link of a private room (admin)",
        description="A signed, expiring player URL that plays this private room for anyone who has it, "
        "e.g. inside another site's iframe. Public and unlisted rooms need none.",
        request=serializers.EmbedLinkRequestSerializer,
        responses={201: serializers.EmbedLinkSerializer},
        examples=[OpenApiExample("One week", value={"lifetime_seconds": 604800}, request_only=True)],
    )
    @action(detail=True, methods=["post"], url_path="embed-links")
    def embed_links(self, request, id=None):
        room = self.get_object()
        serializer = serializers.EmbedLinkRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, link = credentials.mint_embed_link(
            room=room, lifetime_seconds=serializer.validated_data["lifetime_seconds"]
        )
        url = room_selectors.embed_link_url(request=request, room=room, token=token)
        data = {"url": url, "snippet": room_selectors.embed_snippet(url), "expires_at": link.expires}
        return Response(serializers.EmbedLinkSerializer(data).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Withdraw every embed link of the room (admin)",
        description="Every link issued so far stops working at once.",
        request=None,
        responses={204: None},
    )
    @action(detail=True, methods=["post"], url_path="embed-links/revoke")
    def revoke_embed_links(self, request, id=None):
        credentials.withdraw_embed_links(room=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Add a restream destination to the room",
        request=serializers.DestinationSerializer,
        responses={201: serializers.DestinationSerializer},
        examples=[
            OpenApiExample(
                "YouTube",
                value={"name": "YouTube main", "platform": "youtube", "stream_key": "abcd-efgh-ijkl-mnop"},
                request_only=True,
            ),
            OpenApiExample(
                "Any RTMP server",
                value={
                    "name": "Backup",
                    "platform": "custom",
                    "url": "rtmp://live.example.com/app",
                    "stream_key": "k1",
                },
                request_only=True,
            ),
        ],
    )
    @action(detail=True, methods=["post"])
    def destinations(self, request, id=None):
        room = self.get_object()
        serializer = serializers.DestinationSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        destination = broadcast_services.add_destination(room=room, **serializer.validated_data)
        return Response(
            serializers.DestinationSerializer(destination, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Start a push to a server URL",
        description="Restream the room to a server given directly (no saved destination). Works before the room "
        "is live: the media server starts the push when the stream appears. To push to a saved destination, "
        "use POST /api/v1/destinations/{id}/start-push/.",
        request=serializers.CustomPushSerializer,
        responses={201: serializers.PushSerializer},
        examples=[
            OpenApiExample(
                "YouTube",
                value={
                    "url": "rtmp://a.rtmp.youtube.com/live2",
                    "stream_key": "abcd-efgh-ijkl-mnop",
                    "platform": "youtube",
                    "external_id": "yt-main",
                },
                request_only=True,
            ),
            OpenApiExample("Started", value=PUSH_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    )
    @action(detail=True, methods=["post"])
    def pushes(self, request, id=None):
        room = self.get_object()
        serializer = serializers.CustomPushSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        push = broadcast_services.start_custom_push(room=room, **serializer.validated_data)
        return Response(
            serializers.PushSerializer(push, context=self.get_serializer_context()).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        summary="Start recording the room",
        description="Records now, or from when the room goes live.",
        request=serializers.RecordingStartSerializer,
        responses={201: serializers.RecordingSerializer},
        examples=[OpenApiExample("With your own id", value={"external_id": "weekly-42"}, request_only=True)],
    )
    @action(detail=True, methods=["post"])
    def recordings(self, request, id=None):
        room = self.get_object()
        serializer = serializers.RecordingStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        recording = recording_services.start_recording(room=room, **serializer.validated_data)
        return Response(
            serializers.RecordingSerializer(recording, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )


@extend_schema_view(
    list=extend_schema(summary="List destinations"),
    retrieve=extend_schema(summary="Get a destination"),
    update=extend_schema(summary="Replace a destination"),
    partial_update=extend_schema(summary="Change a destination (an empty stream_key keeps the current one)"),
    destroy=extend_schema(summary="Delete a destination (not while it is restreamed to)"),
)
class DestinationViewSet(
    TenantAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Restream destinations; create them with POST /api/v1/rooms/{id}/destinations/. Keys are write-only."""

    queryset = Destination.objects.select_related("room__organization")
    serializer_class = serializers.DestinationSerializer
    filterset_class = filters.DestinationFilter
    ordering_fields = ["name", "created_at", "platform"]
    ordering = ["name", "pk"]

    def perform_update(self, serializer):
        broadcast_services.update_destination(destination=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        broadcast_services.delete_destination(destination=instance)

    @extend_schema(
        summary="Start a push to this destination", request=None, responses={201: serializers.PushSerializer}
    )
    @action(detail=True, methods=["post"], url_path="start-push")
    def start_push(self, request, pk=None):
        push = broadcast_services.start_push(destination=self.get_object())
        return Response(
            serializers.PushSerializer(push, context=self.get_serializer_context()).data, status=status.HTTP_201_CREATED
        )


@extend_schema_view(
    list=extend_schema(
        summary="List pushes", examples=[OpenApiExample("A push", value=PUSH_EXAMPLE, response_only=True)]
    ),
    retrieve=extend_schema(summary="Get a push"),
)
class PushViewSet(TenantAPIMixin, viewsets.ReadOnlyModelViewSet):
    """Restreams, newest first. Start one from a destination or a room; stop or retry it here."""

    queryset = Push.objects.select_related("room__organization", "destination")
    serializer_class = serializers.PushSerializer
    filterset_class = filters.PushFilter
    ordering_fields = ["created_at", "started_at", "state", "sent_bytes"]
    ordering = ["-created_at", "-pk"]

    @extend_schema(summary="Stop a push", request=None, responses=serializers.PushSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        push = broadcast_services.stop_push(push=self.get_object())
        return Response(self.get_serializer(push).data)

    @extend_schema(
        summary="Retry a failed push",
        description="Starts it again as a new push.",
        request=None,
        responses={201: serializers.PushSerializer},
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        push = broadcast_services.retry_push(push=self.get_object())
        return Response(self.get_serializer(push).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(
        summary="List recordings",
        examples=[OpenApiExample("A finished recording", value=RECORDING_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(summary="Get a recording"),
    destroy=extend_schema(summary="Delete a recording and its file (stop it first)"),
)
class RecordingViewSet(
    TenantAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Recordings, newest first. Start one with POST /api/v1/rooms/{id}/recordings/."""

    queryset = Recording.objects.select_related("room__organization")
    serializer_class = serializers.RecordingSerializer
    filterset_class = filters.RecordingFilter
    ordering_fields = ["created_at", "finished_at", "size_bytes", "duration_ms"]
    ordering = ["-created_at", "-pk"]

    def perform_destroy(self, instance):
        recording_files.delete_recording(recording=instance)

    def perform_content_negotiation(self, request, force=False):
        if self.action == "file":  # the file is whatever it is; errors are JSON whatever the Accept header says
            return JSONRenderer(), JSONRenderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(summary="Stop a recording", request=None, responses=serializers.RecordingSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        recording = recording_services.stop_recording(recording=self.get_object())
        return Response(self.get_serializer(recording).data)

    @extend_schema(
        summary="Download a finished recording",
        description="The media file, with HTTP Range (206) so players can seek and downloads resume. "
        "`?download=1` asks the browser to save it. With recordings in object storage, a redirect (302) "
        "to a presigned URL of the file that expires after RECORDINGS_S3_URL_SECONDS; follow it without "
        "this API's Authorization header (the storage serves ranges too).",
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            (206, "application/octet-stream"): OpenApiTypes.BINARY,
            302: OpenApiResponse(description="Stored in the recordings bucket: its presigned URL in Location."),
            404: OpenApiResponse(description="Not finished, or the file is missing."),
            416: OpenApiResponse(description="Range not satisfiable."),
        },
    )
    @action(detail=True, methods=["get"])
    def file(self, request, pk=None):
        recording = self.get_object()
        return serve_recording(request, recording, as_attachment=request.query_params.get("download") == "1")


@extend_schema_view(
    list=extend_schema(summary="List live sessions"), retrieve=extend_schema(summary="Get a live session")
)
class LiveSessionViewSet(TenantAPIMixin, viewsets.ReadOnlyModelViewSet):
    """Go-lives of the organization's rooms, newest first; `open=true` for those still live."""

    queryset = LiveSession.objects.select_related("room")
    serializer_class = serializers.LiveSessionSerializer
    filterset_class = filters.LiveSessionFilter
    ordering_fields = ["started_at", "ended_at", "peak_viewers"]
    ordering = ["-started_at"]


@extend_schema_view(list=extend_schema(summary="List members"), retrieve=extend_schema(summary="Get a member"))
class MemberViewSet(TenantAPIMixin, viewsets.ReadOnlyModelViewSet):
    """The organization's members and their roles."""

    queryset = Membership.objects.select_related("user")
    serializer_class = serializers.MemberSerializer
    filterset_class = filters.MemberFilter
    ordering_fields = ["created_at", "role"]
    ordering = ["user__email"]


class OrganizationView(TenantAPIMixin, APIView):
    """The token's organization: limits and usage."""

    @extend_schema(summary="The token's organization", responses=serializers.OrganizationSerializer)
    def get(self, request):
        organization = self.organization
        data = {
            **{field: getattr(organization, field) for field in serializers.OrganizationSerializer.MODEL_FIELDS},
            "storage_used_bytes": recording_files.storage_used_bytes(organization),
            "token_name": request.auth.name,
            "token_role": request.auth.role,
        }
        return Response(serializers.OrganizationSerializer(data).data)


@extend_schema_view(
    list=extend_schema(summary="List webhook endpoints (admin)"),
    retrieve=extend_schema(summary="Get a webhook endpoint (admin)"),
    create=extend_schema(
        summary="Register a webhook endpoint (admin)",
        description="The answer carries the signing secret, this once.",
        responses={201: serializers.WebhookEndpointCreatedSerializer},
        examples=[
            OpenApiExample(
                "New endpoint",
                value={"url": "https://example.com/hooks/streaming", "events": ["room.live", "recording.ready"]},
                request_only=True,
            )
        ],
    ),
    update=extend_schema(summary="Replace a webhook endpoint (admin)"),
    partial_update=extend_schema(summary="Change a webhook endpoint (admin; enabled=true enables it again)"),
    destroy=extend_schema(summary="Delete a webhook endpoint (admin)"),
)
class WebhookEndpointViewSet(TenantAPIMixin, viewsets.ModelViewSet):
    """Where the organization's events are POSTed, signed (see the README's "For embedding sites")."""

    queryset = Endpoint.objects.select_related("organization")
    serializer_class = serializers.WebhookEndpointSerializer
    ordering_fields = ["url", "created_at"]
    ordering = ["url", "pk"]
    roles = dict.fromkeys(
        ["list", "retrieve", "create", "update", "partial_update", "destroy", "deliveries", "rotate_secret", "ping"],
        ADMIN_ONLY,
    )

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint, secret = webhook_services.create_endpoint(organization=self.organization, **serializer.validated_data)
        context = {**self.get_serializer_context(), "signing_secret": secret}
        return Response(
            serializers.WebhookEndpointCreatedSerializer(endpoint, context=context).data,
            status=status.HTTP_201_CREATED,
        )

    def perform_update(self, serializer):
        webhook_services.update_endpoint(endpoint=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        webhook_services.delete_endpoint(endpoint=instance)

    @extend_schema(
        summary="Recent deliveries to this endpoint (admin)", responses=serializers.WebhookDeliverySerializer(many=True)
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        endpoint = self.get_object()
        page = self.paginate_queryset(endpoint.deliveries.all())
        return self.get_paginated_response(serializers.WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(
        summary="Make a new signing secret (admin)", request=None, responses=serializers.SigningSecretSerializer
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        return Response({"signing_secret": webhook_services.rotate_signing_secret(endpoint=self.get_object())})

    @extend_schema(
        summary="Send a test event (ping) (admin)", request=None, responses={201: serializers.WebhookDeliverySerializer}
    )
    @action(detail=True, methods=["post"])
    def ping(self, request, pk=None):
        delivery = webhook_services.send_test_event(endpoint=self.get_object())
        return Response(serializers.WebhookDeliverySerializer(delivery).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(summary="List webhook deliveries (admin)"),
    retrieve=extend_schema(summary="Get a webhook delivery (admin)"),
)
class WebhookDeliveryViewSet(TenantAPIMixin, viewsets.ReadOnlyModelViewSet):
    """Every event sent to the organization's endpoints, newest first, with its last try."""

    queryset = Delivery.objects.select_related("endpoint")
    serializer_class = serializers.WebhookDeliverySerializer
    ordering_fields = ["created_at"]
    ordering = ["-created_at", "-pk"]
    roles = dict.fromkeys(["list", "retrieve", "resend"], ADMIN_ONLY)

    @extend_schema(
        summary="Send a delivery again now (admin)", request=None, responses=serializers.WebhookDeliverySerializer
    )
    @action(detail=True, methods=["post"])
    def resend(self, request, pk=None):
        delivery = webhook_services.resend_delivery(delivery=self.get_object())
        return Response(self.get_serializer(delivery).data)
