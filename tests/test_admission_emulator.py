"""The admission webhook end to end: the OME emulator (a separate process) sends real signed
webhooks to the portal's live server and obeys its answers, as OME does."""

from urllib.parse import parse_qs, quote, urlsplit

import pytest

from broadcasts import services as broadcasts
from broadcasts.models import Platform, Push, PushState
from ome.reconcile import reconcile
from rooms import credentials, endpoints, viewers
from rooms import services as room_services
from rooms.models import LiveSession, LiveState, Room, Visibility

from .conftest import client_for

pytestmark = [pytest.mark.emulator, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def webhooked_ome(ome, live_server, settings):
    """The emulator asking the live portal, and the portal's OME client talking to the emulator."""
    ome.config(webhook_url=live_server.url + "/ome/admission", webhook_secret=settings.OME_WEBHOOK_SECRET)
    settings.OME_API_URL = ome.api_url
    yield ome
    ome.reset()  # its closing webhooks reach the portal while the test database is still there


def _rtmp(ome, stream: str) -> str:
    return f"rtmp://127.0.0.1:1935/app/{stream}"


def _streams(ome) -> list[str]:
    return ome.api("GET", "/v1/vhosts/default/apps/app/streams").json()["response"]


def _state(room) -> str:
    return Room.objects.get(pk=room.pk).live_state


def _webhooks(ome, *, status: str, direction: str = "incoming") -> list[dict]:
    return [
        hook
        for hook in ome.webhook_requests()
        if hook["request"]["request"]["status"] == status and hook["request"]["request"]["direction"] == direction
    ]


def test_obs_goes_live_with_the_key_and_ome_serves_the_stream_under_the_rooms_id(webhooked_ome, room):
    answer = webhooked_ome.publish(_rtmp(webhooked_ome, room.stream_key))
    assert answer["stream"] == "acme-live"
    assert _streams(webhooked_ome) == ["acme-live"], "the key never became a stream name"
    assert _state(room) == LiveState.STARTING
    assert LiveSession.objects.get(room=room).protocol == "rtmp"
    hook = _webhooks(webhooked_ome, status="opening")[0]
    assert hook["status"] == 200 and hook["answer"]["new_url"] == "rtmp://127.0.0.1:1935/app/acme-live"


def test_a_wrong_key_is_refused_with_its_reason_and_nothing_goes_live(webhooked_ome, room):
    with pytest.raises(AssertionError) as refused:
        webhooked_ome.publish(_rtmp(webhooked_ome, "sk-wrong"))
    assert refused.value.status == 403
    assert refused.value.body["reason"] == "unknown stream key: it may have been replaced by a new one"
    assert _streams(webhooked_ome) == []
    assert _state(room) == LiveState.OFFLINE


def test_srt_with_the_url_the_room_page_gives_goes_live(webhooked_ome, room):
    srt_url = endpoints.srt_publish_url(room.stream_key)
    assert webhooked_ome.publish(srt_url)["stream"] == "acme-live"
    assert LiveSession.objects.get(room=room).protocol == "srt"
    opening = webhooked_ome.webhook_requests()[0]
    assert opening["request"]["request"]["url"] == f"srt://default/app/{room.stream_key}", "OME 0.21's form"


def test_an_obs_still_set_up_with_the_older_srt_url_goes_live_too(webhooked_ome, room):
    # The srt:// stream id the room page showed before OME 0.21 (deprecated there, still accepted).
    stream_id = quote(f"srt://127.0.0.1:9999/app/{room.stream_key}", safe="")
    assert webhooked_ome.publish(f"srt://127.0.0.1:9999?streamid={stream_id}")["stream"] == "acme-live"


def test_a_second_publisher_is_refused_and_its_closing_leaves_the_live_alone(webhooked_ome, room):
    webhooked_ome.publish(_rtmp(webhooked_ome, room.stream_key), {"port": 40001})
    with pytest.raises(AssertionError) as refused:
        webhooked_ome.publish(_rtmp(webhooked_ome, room.stream_key), {"port": 40002})
    assert refused.value.body["reason"] == "this room is already live: stop the other stream first"
    # OME reports the refused encoder's session closing (with new_url), like the golden recording.
    webhooked_ome.wait_for(lambda: _webhooks(webhooked_ome, status="closing"), what="the refused publisher's closing")
    assert _state(room) == LiveState.STARTING
    assert _streams(webhooked_ome) == ["acme-live"]


def test_a_second_publisher_to_a_live_room_is_refused_while_ome_still_has_the_stream(webhooked_ome, room):
    webhooked_ome.publish(_rtmp(webhooked_ome, room.stream_key), {"port": 40001})
    reconcile()
    assert _state(room) == LiveState.LIVE
    with pytest.raises(AssertionError) as refused:
        webhooked_ome.publish(_rtmp(webhooked_ome, room.stream_key), {"port": 40002})
    assert refused.value.body["reason"] == "this room is already live: stop the other stream first"
    assert _streams(webhooked_ome) == ["acme-live"]


def test_an_encoder_reconnecting_after_ome_lost_the_live_stream_is_admitted_into_the_same_session(webhooked_ome, room):
    # The database says live, OME (restarted) has no stream: the old publisher is gone.
    session = room_services.go_live(room_id=room.pk, protocol="rtmp", confirmed=True)
    room_services.stream_lost(room_id=room.pk)
    answer = webhooked_ome.publish(_rtmp(webhooked_ome, room.stream_key), {"port": 40002}, delay=1.5)
    assert answer["stream"] == "acme-live"
    assert list(LiveSession.objects.filter(room=room)) == [session]
    assert _state(room) == LiveState.RECONNECTING, "live again once the reconcile loop sees the stream"
    # Its stream takes a moment to appear; meanwhile another encoder does not take its place.
    with pytest.raises(AssertionError) as refused:
        webhooked_ome.publish(_rtmp(webhooked_ome, room.stream_key), {"port": 40004})
    assert refused.value.body["reason"] == "this room is already live: stop the other stream first"
    webhooked_ome.wait_for(lambda: _streams(webhooked_ome) == ["acme-live"], what="the reconnected stream")
    reconcile()
    assert _state(room) == LiveState.LIVE
    # Now OME has the stream again: a second encoder is a second publisher.
    with pytest.raises(AssertionError) as refused:
        webhooked_ome.publish(_rtmp(webhooked_ome, room.stream_key), {"port": 40003})
    assert refused.value.body["reason"] == "this room is already live: stop the other stream first"
    assert LiveSession.objects.get(room=room).ended_at is None


def test_go_live_starts_auto_pushes_and_the_end_of_the_stream_stops_them(webhooked_ome, room):
    destination = broadcasts.add_destination(
        room=room,
        name="Backup server",
        platform=Platform.CUSTOM,
        url="rtmp://backup.example.com/live",
        stream_key="backup-key",
        auto_start=True,
    )
    webhooked_ome.publish(_rtmp(webhooked_ome, room.stream_key))
    push = Push.objects.get(destination=destination)
    assert push.state in (PushState.STARTING, PushState.PUSHING)
    assert [item["id"] for item in webhooked_ome.pushes()] == [push.ome_id]
    reconcile()  # the loop sees the stream in OME: the room is live
    assert _state(room) == LiveState.LIVE
    webhooked_ome.unpublish("acme-live")
    assert _state(room) == LiveState.OFFLINE
    session = LiveSession.objects.get(room=room)
    assert session.ended_at is not None
    push.refresh_from_db()
    assert push.state in (PushState.STOPPING, PushState.STOPPED)
    webhooked_ome.wait_for(lambda: not webhooked_ome.pushes(), what="OME to drop the stopped push")


def test_the_browser_publisher_goes_live_with_the_credential_from_its_page(webhooked_ome, room, team):
    url = client_for(team.streamer).post(f"/rooms/{room.public_id}/publish-credential").json()["url"]
    credential = parse_qs(urlsplit(url).query)["credential"][0]
    ws_url = f"{webhooked_ome.signalling_url}/app/{room.public_id}?direction=send&credential={credential}"
    assert webhooked_ome.publish(ws_url)["stream"] == "acme-live"
    assert LiveSession.objects.get(room=room).started_by == team.streamer
    webhooked_ome.unpublish("acme-live")
    assert _state(room) == LiveState.OFFLINE
    with pytest.raises(AssertionError) as replayed:
        webhooked_ome.publish(ws_url)
    assert replayed.value.body["reason"] == "this publish credential was already used: press Go live again"


def test_viewers_are_counted_while_they_watch(webhooked_ome, room):
    webhooked_ome.publish(_rtmp(webhooked_ome, room.stream_key))
    webhooked_ome.play(f"{webhooked_ome.signalling_url}/app/acme-live")  # before the portal saw it live: not counted…
    assert viewers.counts([room.pk]) == {room.pk: 0}
    reconcile()  # …until the loop confirms the stream and reads OME's statistics, where this viewer is
    assert viewers.counts([room.pk]) == {room.pk: 1}
    first = webhooked_ome.play(f"{webhooked_ome.signalling_url}/app/acme-live")
    webhooked_ome.play(f"{webhooked_ome.llhls_url}/app/acme-live/llhls.m3u8")
    assert viewers.counts([room.pk]) == {room.pk: 3}
    webhooked_ome.stop_play(first["viewer"])
    webhooked_ome.wait_for(lambda: viewers.counts([room.pk]) == {room.pk: 2}, what="the viewer to be counted out")
    reconcile()
    assert Room.objects.get(pk=room.pk).viewer_count == 2


def test_a_private_room_plays_only_with_a_valid_token(webhooked_ome, room, team):
    room.visibility = Visibility.PRIVATE
    room.save()
    webhooked_ome.publish(_rtmp(webhooked_ome, room.stream_key))
    with pytest.raises(AssertionError) as refused:
        webhooked_ome.play(f"{webhooked_ome.signalling_url}/app/acme-live")
    assert refused.value.status == 403
    token = credentials.mint_playback_token(room_id=room.pk, user_id=team.streamer.pk)
    assert webhooked_ome.play(f"{webhooked_ome.signalling_url}/app/acme-live?token={token}")["allowed"] is True


def test_an_embed_links_viewer_is_disconnected_when_the_link_expires(webhooked_ome, room, client):
    room.visibility = Visibility.PRIVATE
    room.save()
    webhooked_ome.publish(_rtmp(webhooked_ome, room.stream_key))
    link, _ = credentials.mint_embed_link(room=room, lifetime_seconds=3600)
    page = client.get(f"/embed/{room.public_id}?link={link}")
    assert page.status_code == 200
    token = page.context["config"]["webrtcUrl"].split("token=")[1]
    answer = webhooked_ome.play(f"{webhooked_ome.signalling_url}/app/acme-live?token={token}")
    assert 3_590_000 < answer["lifetime"] <= 3_600_000, "OME is told to end the playback with the link"


def test_a_webhook_signed_with_another_secret_refuses_everything(webhooked_ome, room):
    webhooked_ome.config(webhook_secret="not-the-portals-secret")
    with pytest.raises(AssertionError) as refused:
        webhooked_ome.publish(_rtmp(webhooked_ome, room.stream_key))
    assert refused.value.status == 403
    assert _webhooks(webhooked_ome, status="opening")[0]["status"] == 403
    assert _state(room) == LiveState.OFFLINE
