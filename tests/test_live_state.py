"""A room's live state and sessions follow OME: starting, live, offline, whatever order the
webhook and the reconcile loop report it in."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from rooms import services, signals
from rooms.models import LiveSession, LiveState, Room

from .factories import RoomFactory


def _signals():
    seen = []

    def on_live(sender, room, session, **kwargs):
        seen.append(("live", room.public_id))

    def on_offline(sender, room, session, **kwargs):
        seen.append(("offline", room.public_id))

    signals.room_went_live.connect(on_live, weak=False)
    signals.room_went_offline.connect(on_offline, weak=False)
    return seen, lambda: (signals.room_went_live.disconnect(on_live), signals.room_went_offline.disconnect(on_offline))


def test_a_publish_opens_one_session_and_the_room_is_starting_until_ome_lists_it(room, team):
    seen, disconnect = _signals()
    try:
        services.go_live(room_id=room.pk, protocol="WebRTC", started_by_id=team.streamer.pk)
        services.go_live(room_id=room.pk, protocol="WebRTC")  # the webhook and a retry
        room.refresh_from_db()
        assert room.live_state == LiveState.STARTING
        assert room.ingest_protocol == "webrtc"
        services.go_live(room_id=room.pk, confirmed=True)  # the reconcile loop sees the stream
        room.refresh_from_db()
        assert room.live_state == LiveState.LIVE
        session = LiveSession.objects.get(room=room)
        assert session.ended_at is None and session.started_by == team.streamer
        assert seen == [("live", "acme-live")], "auto-start reacts once per go-live"
    finally:
        disconnect()


def test_going_offline_closes_the_session_and_resets_the_room(room):
    services.go_live(room_id=room.pk, protocol="rtmp", confirmed=True)
    services.record_viewer_counts(counts={room.pk: 7}, measured=[room.pk])
    services.record_viewer_counts(counts={room.pk: 3}, measured=[room.pk])
    session = services.go_offline(room_id=room.pk)
    room.refresh_from_db()
    assert room.live_state == LiveState.OFFLINE and room.viewer_count == 0 and room.live_since is None
    session.refresh_from_db()
    assert session.ended_at is not None
    assert session.peak_viewers == 7
    assert services.go_offline(room_id=room.pk) is None, "a second closing changes nothing"


def test_a_count_from_the_webhook_alone_is_shown_but_never_becomes_the_peak(room):
    services.go_live(room_id=room.pk, protocol="webrtc", confirmed=True)
    services.record_viewer_counts(counts={room.pk: 2}, measured=[room.pk])  # OME's statistics
    services.record_viewer_counts(counts={room.pk: 51})  # the webhook, counting retries that never started
    assert Room.objects.get(pk=room.pk).viewer_count == 51
    services.record_viewer_counts(counts={room.pk: 1}, measured=[room.pk])
    session = services.go_offline(room_id=room.pk)
    session.refresh_from_db()
    assert session.peak_viewers == 2


def test_a_publish_that_never_reached_ome_leaves_no_past_session(room):
    services.go_live(room_id=room.pk, protocol="webrtc")
    services.go_offline(room_id=room.pk)
    assert not LiveSession.objects.filter(room=room).exists()
    assert Room.objects.get(pk=room.pk).live_state == LiveState.OFFLINE


def test_viewer_counts_of_many_rooms_are_written_in_a_constant_number_of_queries(team):
    rooms = [RoomFactory(organization=team.organization) for _ in range(30)]
    for room in rooms:
        services.go_live(room_id=room.pk, protocol="rtmp", confirmed=True)
    with CaptureQueriesContext(connection) as few:
        services.record_viewer_counts(counts={room.pk: 1 for room in rooms[:2]}, measured=[r.pk for r in rooms[:2]])
    with CaptureQueriesContext(connection) as many:
        services.record_viewer_counts(
            counts={room.pk: index + 1 for index, room in enumerate(rooms)}, measured=[room.pk for room in rooms]
        )
    assert len(many) == len(few)
    assert Room.objects.get(pk=rooms[-1].pk).viewer_count == 30
    assert LiveSession.objects.get(room=rooms[-1]).peak_viewers == 30


def test_a_room_whose_stream_vanished_says_it_is_reconnecting_and_keeps_its_session(room, streamer_client):
    seen, disconnect = _signals()
    try:
        session = services.go_live(room_id=room.pk, protocol="rtmp", confirmed=True)
        assert services.stream_lost(room_id=room.pk)
        status = streamer_client.get(f"/rooms/{room.public_id}/status").json()
        assert (status["state"], status["live"]) == ("reconnecting", True)
        page = streamer_client.get(f"/rooms/{room.public_id}/").content.decode()
        assert "Reconnecting" in page and "Waiting up to 60 s for the encoder to come back" in page
        services.go_live(room_id=room.pk, protocol="rtmp")  # the encoder is admitted again
        assert Room.objects.get(pk=room.pk).live_state == LiveState.RECONNECTING, "until OME lists the stream"
        services.go_live(room_id=room.pk, confirmed=True)
        assert Room.objects.get(pk=room.pk).live_state == LiveState.LIVE
        assert list(LiveSession.objects.filter(room=room, ended_at__isnull=True)) == [session]
        assert seen == [("live", "acme-live")], "no second go-live: auto pushes and recording are not started twice"
    finally:
        disconnect()


def test_a_session_that_ends_while_reconnecting_is_kept_as_a_past_session(room):
    services.go_live(room_id=room.pk, protocol="rtmp", confirmed=True)
    services.stream_lost(room_id=room.pk)
    session = services.go_offline(room_id=room.pk)
    assert session is not None and LiveSession.objects.get(pk=session.pk).ended_at is not None
