"""Live sessions, members and the organization through the REST API."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from organizations.models import Role
from rooms import services as room_services
from rooms.models import LiveSession


def test_sessions_list_past_and_open_go_lives(api, room):
    earlier = timezone.now() - timedelta(hours=2)
    LiveSession.objects.create(room=room, started_at=earlier, ended_at=earlier + timedelta(minutes=30), peak_viewers=7)
    room_services.go_live(room_id=room.pk, protocol="webrtc", confirmed=True)
    sessions = api.get("/api/v1/sessions/").json()["results"]
    assert [(s["protocol"], s["ended_at"] is None) for s in sessions] == [("webrtc", True), ("", False)]
    assert sessions[1]["duration_seconds"] == 1800 and sessions[1]["peak_viewers"] == 7
    open_only = api.get("/api/v1/sessions/", {"open": "true", "room": "acme-live"}).json()["results"]
    assert [s["protocol"] for s in open_only] == ["webrtc"]
    by_peak = api.get("/api/v1/sessions/", {"ordering": "-peak_viewers"}).json()["results"]
    assert by_peak[0]["peak_viewers"] == 7


def test_members_list_with_roles(api, team):
    members = api.get("/api/v1/members/").json()["results"]
    assert [(m["email"], m["role"]) for m in members] == [
        (team.admin.email, "admin"),
        (team.owner.email, "owner"),
        (team.streamer.email, "streamer"),
    ]
    owners = api.get("/api/v1/members/", {"role": "owner"}).json()["results"]
    assert [m["email"] for m in owners] == [team.owner.email]


def test_the_organization_and_the_token_it_was_asked_with(tokens, team):
    data = tokens[Role.STREAMER].client().get("/api/v1/organization/").json()
    assert data["name"] == "Acme" and data["token_role"] == "streamer" and data["token_name"] == "streamer script"
    assert data["max_rooms"] == team.organization.max_rooms and data["storage_used_bytes"] == 0


def test_session_time_filters_take_any_utc_offset_and_refuse_impossible_dates(api, room):
    LiveSession.objects.create(room=room, started_at=timezone.now() - timedelta(hours=1))
    # +19:35 is a valid ISO 8601 offset that PostgreSQL would refuse: compared in UTC instead.
    assert api.get("/api/v1/sessions/", {"started_after": "2000-07-12T19:15:18+19:35"}).json()["count"] == 1
    assert api.get("/api/v1/sessions/", {"started_before": "2000-07-12T19:15:18-18:58"}).json()["count"] == 0
    response = api.get("/api/v1/sessions/", {"started_after": "0001-01-01T00:00:00+05:00"})
    assert response.status_code == 400 and "out of range" in response.json()["started_after"][0]
    assert api.get("/api/v1/sessions/", {"started_after": "yesterday"}).status_code == 400
