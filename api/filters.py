"""Query filters of the REST API's lists (django-filter). `room` is always the room id."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField

from broadcasts.models import Destination, Platform, Push, PushState
from organizations.models import Membership, Role
from recordings.models import Recording, RecordingState
from rooms.models import LiveSession, LiveState, Room, Visibility


class UtcIsoDateTimeField(IsoDateTimeField):
    """ISO 8601 in any UTC offset, compared in UTC (PostgreSQL refuses offsets beyond ±15:59)."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValidationError("This date and time is out of range.", code="invalid") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class RoomFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(field_name="live_state", choices=LiveState.choices)
    visibility = django_filters.ChoiceFilter(choices=Visibility.choices)

    class Meta:
        model = Room
        fields = ["state", "visibility", "is_enabled"]


class DestinationFilter(django_filters.FilterSet):
    room = django_filters.CharFilter(field_name="room__public_id", help_text="Room id.")
    platform = django_filters.ChoiceFilter(choices=Platform.choices)

    class Meta:
        model = Destination
        fields = ["room", "platform", "enabled", "auto_start"]


class PushFilter(django_filters.FilterSet):
    room = django_filters.CharFilter(field_name="room__public_id", help_text="Room id.")
    state = django_filters.MultipleChoiceFilter(choices=PushState.choices, help_text="Repeat for several states.")
    # A plain number, not a choice among all destinations: another organization's ids must look like no ids.
    destination = django_filters.NumberFilter(field_name="destination_id", help_text="Destination id.")
    external_id = django_filters.CharFilter()

    class Meta:
        model = Push
        fields = ["room", "state", "destination", "external_id"]


class RecordingFilter(django_filters.FilterSet):
    room = django_filters.CharFilter(field_name="room__public_id", help_text="Room id.")
    state = django_filters.MultipleChoiceFilter(choices=RecordingState.choices, help_text="Repeat for several states.")
    external_id = django_filters.CharFilter()

    class Meta:
        model = Recording
        fields = ["room", "state", "external_id"]


class LiveSessionFilter(django_filters.FilterSet):
    room = django_filters.CharFilter(field_name="room__public_id", help_text="Room id.")
    open = django_filters.BooleanFilter(field_name="ended_at", lookup_expr="isnull", help_text="Still live.")
    started_after = UtcIsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = UtcIsoDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = LiveSession
        fields = ["room", "open", "started_after", "started_before"]


class MemberFilter(django_filters.FilterSet):
    role = django_filters.ChoiceFilter(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["role"]
