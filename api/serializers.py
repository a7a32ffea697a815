"""Shapes of the REST API's requests and answers. No business rules here: views hand the
validated data to the services, which decide. Secrets are write-only or masked."""

from __future__ import annotations

import json

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from broadcasts.models import Destination, Platform, Push, validate_destination_url
from organizations.models import Membership
from recordings.models import Recording
from rooms import credentials, endpoints
from rooms.models import LiveSession, Room, validate_room_id
from webhooks.events import register_representation
from webhooks.models import ALL_EVENTS, Delivery, Endpoint


def _absolute(request, path: str) -> str:
    # Without a request (a webhook payload built by a worker): the portal's public address.
    return request.build_absolute_uri(path) if request is not None else settings.PUBLIC_URL + path


class OriginListField(serializers.ListField):
    """Allowed embed origins as a JSON list; the room keeps them one per line."""

    child = serializers.CharField(max_length=300)

    def to_internal_value(self, data):
        return "\n".join(super().to_internal_value(data))

    def to_representation(self, value):
        return [line.strip() for line in (value or "").splitlines() if line.strip()]


class RoomSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True, help_text="The room id: URLs and OME stream name.")
    allowed_embed_origins = OriginListField(
        required=False,
        max_length=100,
        help_text='Sites allowed to embed the player ("https://example.com", "https://*.example.com") or ["*"].',
    )
    state = serializers.CharField(
        source="live_state",
        read_only=True,
        help_text="offline, starting, live or reconnecting (the stream vanished from OME: waiting for the encoder).",
    )
    watch_url = serializers.SerializerMethodField()
    embed_url = serializers.SerializerMethodField()
    rtmp_server_url = serializers.SerializerMethodField(help_text="OBS 'Server'; the stream key goes in 'Stream Key'.")

    class Meta:
        model = Room
        fields = [
            "id",
            "title",
            "description",
            "visibility",
            "allowed_embed_origins",
            "auto_record",
            "quality",
            "is_enabled",
            "state",
            "live_since",
            "ingest_protocol",
            "viewer_count",
            "stream_key_rotated_at",
            "watch_url",
            "embed_url",
            "rtmp_server_url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "is_enabled",
            "live_since",
            "ingest_protocol",
            "viewer_count",
            "stream_key_rotated_at",
            "created_at",
            "updated_at",
        ]
        # The service validates the model (full_clean); a second copy of its checks here would drift.
        extra_kwargs = {
            "allowed_embed_origins": {"validators": []},
            "quality": {
                "help_text": "original (as published) or adaptive (plus lower renditions and a quality menu; "
                "limited per organization, 403 past the limit). Takes effect at the room's next go-live."
            },
        }

    def get_watch_url(self, room: Room) -> str:
        return _absolute(self.context.get("request"), reverse("watch", args=[room.public_id]))

    def get_embed_url(self, room: Room) -> str:
        return _absolute(self.context.get("request"), reverse("embed", args=[room.public_id]))

    def get_rtmp_server_url(self, room: Room) -> str:
        return endpoints.rtmp_server_url()


class RoomCreateSerializer(RoomSerializer):
    id = serializers.CharField(
        source="public_id",
        required=False,
        allow_blank=True,
        max_length=64,
        validators=[validate_room_id],
        help_text="3–64 characters: a-z, 0-9, '-' and '_'. Left out, one like room-k3x9q2ab is generated.",
    )


class StreamKeySerializer(serializers.Serializer):
    stream_key = serializers.CharField(help_text="Secret: OBS 'Stream Key'.")
    rtmp_server_url = serializers.CharField()
    srt_url = serializers.CharField(help_text="SRT publish URL; it contains the stream key.")

    @staticmethod
    def for_room(room: Room) -> dict:
        return {
            "stream_key": room.stream_key,
            "rtmp_server_url": endpoints.rtmp_server_url(),
            "srt_url": endpoints.srt_publish_url(room.stream_key),
        }


class LiveStateSerializer(serializers.Serializer):
    room = serializers.CharField()
    state = serializers.CharField(
        help_text="offline, starting, live or reconnecting (the stream vanished from OME: waiting for the encoder)."
    )
    live = serializers.BooleanField()
    viewers = serializers.IntegerField()
    since = serializers.DateTimeField(allow_null=True)
    protocol = serializers.CharField(help_text="Ingest protocol while live: webrtc, rtmp, srt…")


class EmbedLinkRequestSerializer(serializers.Serializer):
    lifetime_seconds = serializers.IntegerField(
        min_value=credentials.EMBED_LINK_MIN_SECONDS,
        max_value=credentials.EMBED_LINK_MAX_SECONDS,
        default=30 * 24 * 3600,
        help_text="How long the link works: from an hour to a year (default 30 days).",
    )


class EmbedLinkSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="The private room's player; works for anyone until it expires.")
    snippet = serializers.CharField(help_text="An <iframe> for the embedding site.")
    expires_at = serializers.DateTimeField()


class DestinationSerializer(serializers.ModelSerializer):
    room = serializers.CharField(source="room.public_id", read_only=True)
    url = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="Only for platform 'custom'; known platforms fill it in.",
    )
    stream_key = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=500,
        trim_whitespace=True,
        help_text="Write-only. Left empty on update, the current key is kept.",
    )
    stream_key_masked = serializers.CharField(source="masked_stream_key", read_only=True)

    class Meta:
        model = Destination
        fields = [
            "id",
            "room",
            "name",
            "platform",
            "url",
            "stream_key",
            "stream_key_masked",
            "enabled",
            "auto_start",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def validate(self, data):
        # Input completeness only; the service re-checks and validates the URL.
        platform = data.get("platform", getattr(self.instance, "platform", Platform.YOUTUBE))
        if platform == Platform.CUSTOM and not (data.get("url") or getattr(self.instance, "url", "")):
            raise serializers.ValidationError(
                {"url": "Enter the server address, starting with rtmp://, rtmps:// or srt://."}
            )
        has_key = data.get("stream_key") or getattr(self.instance, "stream_key", "")
        if platform != Platform.CUSTOM and not has_key:
            raise serializers.ValidationError(
                {"stream_key": "This platform needs the stream key from its live dashboard."}
            )
        return data


class PushSerializer(serializers.ModelSerializer):
    room = serializers.CharField(source="room.public_id", read_only=True)
    stream_key_masked = serializers.CharField(source="masked_stream_key", read_only=True)
    can_stop = serializers.BooleanField(read_only=True)

    class Meta:
        model = Push
        fields = [
            "id",
            "room",
            "destination",
            "external_id",
            "state",
            "error_message",
            "stream_name",
            "protocol",
            "url",
            "stream_key_masked",
            "sent_bytes",
            "sent_time_ms",
            "can_stop",
            "created_at",
            "started_at",
            "stopped_at",
        ]
        read_only_fields = fields


class CustomPushSerializer(serializers.Serializer):
    """A push to a server given directly, without a saved destination."""

    url = serializers.CharField(
        max_length=500, validators=[validate_destination_url], help_text="rtmp://, rtmps:// or srt:// server URL."
    )
    stream_key = serializers.CharField(max_length=500, required=False, allow_blank=True, write_only=True)
    platform = serializers.ChoiceField(
        choices=Platform.choices,
        default=Platform.CUSTOM,
        help_text="Picks the OME output stream the push sends (the AAC variant).",
    )
    external_id = serializers.CharField(
        max_length=100, required=False, allow_blank=True, help_text="Your own id for it; unique among running pushes."
    )


class RecordingSerializer(serializers.ModelSerializer):
    room = serializers.CharField(source="room.public_id", read_only=True)
    can_stop = serializers.BooleanField(read_only=True)
    file_name = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField(
        help_text="Finished and interrupted recordings: the file, with HTTP Range."
    )

    class Meta:
        model = Recording
        fields = [
            "id",
            "room",
            "external_id",
            "state",
            "error_message",
            "upload_error",
            "file_name",
            "size_bytes",
            "duration_ms",
            "download_url",
            "can_stop",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_file_name(self, recording: Recording) -> str:
        return recording.file_name if recording.is_downloadable else ""

    @extend_schema_field(OpenApiTypes.URI)
    def get_download_url(self, recording: Recording) -> str | None:
        if not recording.is_downloadable:
            return None
        return _absolute(self.context.get("request"), reverse("api:recording-file", args=[recording.pk]))


class RecordingStartSerializer(serializers.Serializer):
    external_id = serializers.CharField(
        max_length=100, required=False, allow_blank=True, help_text="Your own id for it; unique among running ones."
    )


class LiveSessionSerializer(serializers.ModelSerializer):
    room = serializers.CharField(source="room.public_id", read_only=True)
    duration_seconds = serializers.SerializerMethodField()

    class Meta:
        model = LiveSession
        fields = ["id", "room", "started_at", "ended_at", "protocol", "peak_viewers", "duration_seconds"]
        read_only_fields = fields

    def get_duration_seconds(self, session: LiveSession) -> int:
        return int(session.duration.total_seconds())


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.get_full_name", read_only=True)
    joined_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "name", "role", "joined_at"]
        read_only_fields = fields


class OrganizationSerializer(serializers.Serializer):
    MODEL_FIELDS = (
        "name",
        "slug",
        "is_suspended",
        "max_rooms",
        "max_destinations_per_room",
        "recording_retention_days",
        "recording_storage_limit_mb",
    )

    name = serializers.CharField()
    slug = serializers.CharField()
    is_suspended = serializers.BooleanField(help_text="A suspended organization cannot go live, restream or record.")
    max_rooms = serializers.IntegerField()
    max_destinations_per_room = serializers.IntegerField()
    recording_retention_days = serializers.IntegerField()
    recording_storage_limit_mb = serializers.IntegerField()
    storage_used_bytes = serializers.IntegerField()
    token_name = serializers.CharField(help_text="The token this request was made with.")
    token_role = serializers.CharField()


class WebhookEndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=ALL_EVENTS),
        allow_empty=False,
        help_text="The events it receives: " + ", ".join(ALL_EVENTS) + ".",
    )
    url = serializers.CharField(max_length=500, help_text="Where the portal POSTs events.")
    signing_secret_masked = serializers.CharField(source="masked_secret", read_only=True)

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "enabled",
            "disabled_reason",
            "failure_streak",
            "signing_secret_masked",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["disabled_reason", "failure_streak", "created_at", "updated_at"]
        # The service judges the URL (core.outbound) and the model; no second copy of its checks here.
        extra_kwargs = {"url": {"validators": []}}


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    signing_secret = serializers.SerializerMethodField(
        help_text="Shown in this answer only: keep it to check the X-StreamingStack-Signature header."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "signing_secret"]

    def get_signing_secret(self, endpoint) -> str:
        return self.context.get("signing_secret", "")


class SigningSecretSerializer(serializers.Serializer):
    signing_secret = serializers.CharField(read_only=True)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    payload = serializers.SerializerMethodField(help_text="The JSON body sent (the same on every try).")

    class Meta:
        model = Delivery
        fields = [
            "id",
            "endpoint",
            "event_id",
            "event_type",
            "state",
            "attempts",
            "last_attempt_at",
            "next_attempt_at",
            "last_status_code",
            "last_latency_ms",
            "last_error",
            "created_at",
            "payload",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_payload(self, delivery) -> dict:
        return json.loads(delivery.body)


def register_webhook_representations() -> None:
    """How webhook payloads show rooms, pushes and recordings: exactly as this API does."""
    register_representation(Room, lambda room: RoomSerializer(room).data)
    register_representation(Push, lambda push: PushSerializer(push).data)
    register_representation(Recording, lambda recording: RecordingSerializer(recording).data)
