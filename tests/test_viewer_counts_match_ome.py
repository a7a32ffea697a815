"""Viewer counts converge to OME's own statistics: players whose session never started (OME sends
their `opening` and never a `closing`) are not viewers, and peaks come from corrected figures.

The emulator reproduces what inflated the counts against a real OME (measured on 0.19; 0.21 does
the same, for a shorter while): a browser's stream is listed as soon as the publisher connects,
served a moment later, and players retrying in between are asked about, refused and never closed.
And what would deflate them on 0.21: LL-HLS players are reported closing right after they open."""

import math
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from ome.client import OmeClient
from ome.reconcile import reconcile
from rooms import viewers
from rooms.models import LiveSession, LiveState, Room

from .conftest import client_for
from .factories import RoomFactory

pytestmark = [pytest.mark.emulator, pytest.mark.django_db(transaction=True)]

# Long enough for 50 webhook round trips on a busy 2-core machine (a real OME 0.21 takes ~1.2 s, 0.19 ~5 s).
START_SECONDS = 10


class CountingSession(requests.Session):
    """A real HTTP session that counts the requests it sends."""

    calls = 0

    def request(self, *args, **kwargs):
        self.calls += 1
        return super().request(*args, **kwargs)


@pytest.fixture
def webhooked_ome(portal_ome, live_server, settings):
    """The emulator asking the live portal's admission webhook; the portal reading the emulator."""
    portal_ome.config(webhook_url=live_server.url + "/ome/admission", webhook_secret=settings.OME_WEBHOOK_SECRET)
    yield portal_ome
    portal_ome.reset()  # its closing webhooks reach the portal while the test database is still there


def _playable(ome, stream: str) -> bool:
    return any(item["name"] == stream and item["playable"] for item in ome.state()["streams"])


def test_a_player_retrying_while_the_stream_starts_is_one_viewer_and_the_sessions_peak_is_one(
    webhooked_ome, room, team
):
    url = client_for(team.streamer).post(f"/rooms/{room.public_id}/publish-credential").json()["url"]
    credential = parse_qs(urlsplit(url).query)["credential"][0]
    publish_url = f"{webhooked_ome.signalling_url}/app/{room.public_id}?direction=send&credential={credential}"
    webhooked_ome.publish(publish_url, delay=START_SECONDS)
    started = time.monotonic()
    reconcile()
    assert Room.objects.get(pk=room.pk).live_state == LiveState.LIVE, "OME lists the stream while it starts"

    play_url = f"{webhooked_ome.signalling_url}/app/{room.public_id}"
    browser = {"address": "198.51.100.20"}  # one viewer; each retry is a new connection (a new port)
    for _ in range(50):
        refused = webhooked_ome.play(play_url, browser, expect=404)
        assert refused["allowed"] is True, "the portal admitted the player; OME could not serve it yet"
    assert time.monotonic() - started < START_SECONDS, "every retry came while the stream was starting"
    reconcile()
    assert Room.objects.get(pk=room.pk).viewer_count == 0, "50 refused retries are nobody watching"

    webhooked_ome.wait_for(lambda: _playable(webhooked_ome, room.public_id), timeout=START_SECONDS + 5, what="start")
    webhooked_ome.play(play_url, browser)
    reconcile()
    reconcile()
    assert Room.objects.get(pk=room.pk).viewer_count == 1, "the room shows 'Live · 1 watching'"
    assert viewers.counts([room.pk]) == {room.pk: 1}, "the webhook's counter was realigned on OME's figure"

    webhooked_ome.unpublish(room.public_id)
    session = LiveSession.objects.get(room=room)
    assert session.ended_at is not None
    assert session.peak_viewers == 1, f"peak {session.peak_viewers} for a session one person watched"


def test_an_llhls_viewer_shows_while_it_watches_although_ome_reports_it_closing_at_once(webhooked_ome, room):
    # OME 0.21 sends an opening and right away a closing for every LL-HLS playlist request, and
    # nothing when the player really leaves: the webhook counts it in, OME's statistics count it out.
    webhooked_ome.publish(f"rtmp://127.0.0.1:1935/app/{room.stream_key}")
    reconcile()
    assert Room.objects.get(pk=room.pk).live_state == LiveState.LIVE
    player = webhooked_ome.play(
        f"{webhooked_ome.llhls_url}/app/{room.public_id}/llhls.m3u8", {"address": "198.51.100.30"}
    )
    plays = [hook["request"]["request"]["status"] for hook in webhooked_ome.webhook_requests()[1:]]
    assert plays == ["opening", "closing"]
    assert viewers.counts([room.pk]) == {room.pk: 1}, "the join shows before the next statistics read"
    reconcile()
    assert Room.objects.get(pk=room.pk).viewer_count == 1
    assert LiveSession.objects.get(room=room).peak_viewers == 1

    webhooked_ome.stop_play(player["viewer"])
    reconcile()
    assert Room.objects.get(pk=room.pk).viewer_count == 0, "OME's statistics no longer count it"
    assert viewers.counts([room.pk]) == {room.pk: 0}


@pytest.mark.parametrize(
    ("live", "budget"),
    [(10, 4), (1000, None)],
    ids=["10 rooms, 4 a pass", "1,000 rooms, the default budget"],
)
def test_with_more_live_rooms_than_the_budget_every_room_is_corrected_round_robin(
    portal_ome, team, settings, live, budget
):
    settings.RECONCILE_STATS_PER_PASS = budget = budget or settings.RECONCILE_STATS_PER_PASS
    rooms = [RoomFactory(organization=team.organization, public_id=f"acme-rr-{index:04d}") for index in range(live)]
    for room in rooms:
        portal_ome.publish(f"rtmp://127.0.0.1:1935/app/{room.public_id}")
        portal_ome.play(f"{portal_ome.signalling_url}/app/{room.public_id}")  # one viewer each, in OME's stats
    reconcile()  # every room goes live
    # The webhook counted five players per room whose sessions never started (no closing will come).
    for index, room in enumerate(rooms):
        for port in range(10 * index, 10 * index + 5):
            viewers.joined(room_id=room.pk, public_id=room.public_id, protocol="webrtc", address="192.0.2.9", port=port)

    def shown() -> dict[str, int]:
        return dict(Room.objects.filter(pk__in=[room.pk for room in rooms]).values_list("public_id", "viewer_count"))

    passes = math.ceil(live / budget)
    corrected: list[int] = []
    seconds: list[float] = []
    for _ in range(passes + 3):  # until every room is read, then passes that read other rooms
        session = CountingSession()
        started = time.monotonic()
        reconcile(OmeClient(portal_ome.api_url, portal_ome.token, session=session))
        seconds.append(time.monotonic() - started)
        assert session.calls == 4 + budget, "streams, pushes, records, app statistics + the pass's share of rooms"
        corrected.append(sum(1 for count in shown().values() if count == 1))
    print(
        f"\n{live} live rooms, {budget} statistics a pass: {4 + budget} OME calls a pass, "
        f"rooms corrected after each pass {corrected}, all within {passes} passes; "
        f"a pass took {min(seconds):.2f}-{max(seconds):.2f} s"
    )
    assert corrected[:passes] == [min(live, budget * (index + 1)) for index in range(passes)], (
        "each pass corrects the next rooms in turn"
    )
    assert corrected[passes:] == [live] * 3, "between their reads, rooms keep OME's figure, not the inflated one"
    assert set(shown().values()) == {1}
    peaks = LiveSession.objects.filter(room__in=rooms, ended_at__isnull=True).values_list("peak_viewers", flat=True)
    assert set(peaks) == {1}, "no peak was taken from the inflated counts"


def test_with_statistics_reads_off_the_webhooks_counts_are_shown_and_make_the_peak(portal_ome, room, settings):
    settings.RECONCILE_STATS_PER_PASS = 0
    portal_ome.publish("rtmp://127.0.0.1:1935/app/acme-live")
    reconcile()
    for port in (50001, 50002):
        viewers.joined(room_id=room.pk, public_id=room.public_id, protocol="webrtc", address="192.0.2.9", port=port)
    session = CountingSession()
    reconcile(OmeClient(portal_ome.api_url, portal_ome.token, session=session))
    assert session.calls == 4, "no statistics read"
    assert Room.objects.get(pk=room.pk).viewer_count == 2
    assert LiveSession.objects.get(room=room).peak_viewers == 2
