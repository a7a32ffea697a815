"""Rooms' part of the reconcile loop: live state and viewer counts follow OME's stream list.

The webhook reports publishes as they open and close; this pass confirms them (a browser
publisher's stream only appears in OME seconds after it connects), repairs what a lost webhook
left behind, and disconnects streams of rooms that were disabled while live. A live room whose
stream vanished without a closing (OME crashed or restarted) waits for its encoder as
"reconnecting" for OME_RECONNECT_GRACE_SECONDS before it goes offline.

Viewer counts: OME's per-stream statistics are the truth, but a pass reads only its share of
the live streams (RECONCILE_STATS_PER_PASS, round robin: see ome.reconcile). A room read
this pass shows OME's figure, which also raises its session's peak, and the webhook's counter is
set to it; the other rooms show the webhook's counter, OME's last figure plus the players who
opened or closed since — an estimate that never raises a peak.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q

from ome.client import OmeClient, OmeError
from ome.reconcile import OmeSnapshot

from . import services, viewers
from .models import LiveState, Room

logger = logging.getLogger(__name__)


def reconcile_live_state(snapshot: OmeSnapshot) -> None:
    rooms = list(
        Room.objects.filter(Q(public_id__in=snapshot.streams) | ~Q(live_state=LiveState.OFFLINE))
        .select_related("organization")
        .only(
            "pk", "public_id", "live_state", "live_since", "stream_lost_at", "is_enabled", "organization__is_suspended"
        )
    )
    starting_deadline = snapshot.taken_at - timedelta(seconds=services.STARTING_GRACE_SECONDS)
    reconnect_grace = timedelta(seconds=settings.OME_RECONNECT_GRACE_SECONDS)
    live_rooms: list[Room] = []
    for room in rooms:
        listed = room.public_id in snapshot.streams
        allowed = room.is_enabled and not room.organization.is_suspended
        if listed and not allowed:
            _disconnect(room)
        elif listed:
            live_rooms.append(room)
            if room.live_state != LiveState.LIVE:
                services.go_live(room_id=room.pk, confirmed=True)
        elif room.live_state == LiveState.LIVE and allowed and reconnect_grace > timedelta(0):
            # Gone without a closing: OME crashed or restarted (it forgot the stream and sends no
            # closing), or the closing was lost. Wait for the encoder, keeping pushes and recording.
            services.stream_lost(room_id=room.pk)
        elif room.live_state == LiveState.RECONNECTING:
            lost_at = room.stream_lost_at
            if not allowed or lost_at is None or lost_at < snapshot.taken_at - reconnect_grace:
                services.go_offline(room_id=room.pk)
        elif room.live_state == LiveState.LIVE or (room.live_since and room.live_since < starting_deadline):
            services.go_offline(room_id=room.pk)
    # The webhook's counts (one cache round trip for all rooms), corrected by OME's statistics
    # for the rooms this pass read.
    measured = {
        room.pk: snapshot.stream_stats[room.public_id].viewers
        for room in live_rooms
        if room.public_id in snapshot.stream_stats
    }
    counts = viewers.counts([room.pk for room in live_rooms]) | measured
    if settings.RECONCILE_STATS_PER_PASS <= 0:
        measured = counts  # statistics reads are off: the webhook's counts are all there is
    services.record_viewer_counts(counts=counts, measured=measured.keys())
    viewers.realign(measured)


def _disconnect(room: Room) -> None:
    logger.info("disconnecting the publisher of disabled room %s", room.public_id)
    try:
        OmeClient.from_settings().delete_stream(room.public_id)
    except OmeError as error:
        logger.warning("could not disconnect %s: %s", room.public_id, error)
