"""Players: the `outgoing` webhook, viewers counted in OME's stats, LL-HLS playlists."""

from __future__ import annotations

import time

import pytest
import requests

from ome_emulator.testing import EmulatorProcess

from .conftest import ControlServer

pytestmark = pytest.mark.emulator

STATS = "/v1/stats/current/vhosts/default/apps/app"


def stats(ome: EmulatorProcess, stream: str | None = None) -> dict:
    path = f"{STATS}/streams/{stream}" if stream else STATS
    response = ome.api("GET", path)
    assert response.status_code == 200, response.text
    return response.json()["response"]


def test_an_llhls_player_is_closed_at_once_in_the_webhooks_and_counted_in_the_stats_until_it_leaves(
    hooked_ome: EmulatorProcess, control_server: ControlServer
) -> None:
    hooked_ome.publish("rtmp://127.0.0.1:1935/app/room1")
    viewer = hooked_ome.play("http://127.0.0.1:3333/app/room1/llhls.m3u8", {"port": 47001})["viewer"]
    plays = [item.request for item in control_server.wait_for(3) if item.request["direction"] == "outgoing"]
    assert [play["status"] for play in plays] == ["opening", "closing"]
    assert stats(hooked_ome, "room1")["connections"]["llhls"] == 1, "still watching"
    hooked_ome.stop_play(viewer)
    time.sleep(0.3)
    assert stats(hooked_ome, "room1")["connections"]["llhls"] == 0
    assert len(control_server.received) == 3, "nothing more is reported when the player leaves"


def test_viewers_are_counted_in_the_stats_per_protocol(ome: EmulatorProcess) -> None:
    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    first = ome.play("ws://127.0.0.1:3333/app/room1")["viewer"]
    ome.play("ws://127.0.0.1:3333/app/room1_rtmp")
    ome.play("http://127.0.0.1:3333/app/room1/llhls.m3u8")
    current = stats(ome, "room1")
    assert current["connections"]["webrtc"] == 2 and current["connections"]["llhls"] == 1
    assert current["totalConnections"] == 3 and current["maxTotalConnections"] == 3
    assert stats(ome)["totalConnections"] == 3
    assert stats(ome)["connections"]["webrtc"] == 2

    ome.stop_play(first)
    current = stats(ome, "room1")
    assert current["connections"]["webrtc"] == 1 and current["totalConnections"] == 2
    assert current["maxTotalConnections"] == 3
    assert current["totalBytesIn"] > 0 and current["totalBytesOut"] > 0


def test_playing_a_stream_that_is_not_live_is_404(ome: EmulatorProcess) -> None:
    assert ome.play("ws://127.0.0.1:3333/app/nostream", expect=404)["allowed"] is True
    response = ome.api("GET", f"{STATS}/streams/nostream")
    assert response.json() == {
        "message": "[HTTP] Could not find the stream: [default/#default#app/nostream] (404)",
        "statusCode": 404,
    }


def test_a_refused_player_is_not_counted(hooked_ome: EmulatorProcess, control_server: ControlServer) -> None:
    hooked_ome.publish("rtmp://127.0.0.1:1935/app/room1")
    control_server.answer = lambda body: {"allowed": body["request"]["direction"] == "incoming"}
    hooked_ome.play("ws://127.0.0.1:3333/app/room1", expect=403)
    assert stats(hooked_ome, "room1")["connections"]["webrtc"] == 0


def test_players_are_disconnected_when_the_stream_ends(
    hooked_ome: EmulatorProcess, control_server: ControlServer
) -> None:
    hooked_ome.publish("rtmp://127.0.0.1:1935/app/room1")
    hooked_ome.play("ws://127.0.0.1:3333/app/room1", {"user_agent": "Player/1"})
    hooked_ome.unpublish("room1")
    received = control_server.wait_for(4)
    closings = sorted(item.request["direction"] for item in received if item.request["status"] == "closing")
    assert closings == ["incoming", "outgoing"]
    assert hooked_ome.state()["viewers"] == []


def test_llhls_playlists_ask_the_webhook(hooked_ome: EmulatorProcess, control_server: ControlServer) -> None:
    playlist = f"{hooked_ome.llhls_url}/app/room1/llhls.m3u8"
    assert requests.get(playlist, timeout=5).status_code == 404
    hooked_ome.publish("rtmp://127.0.0.1:1935/app/room1")
    response = requests.get(playlist + "?token=abc", headers={"User-Agent": "hls.js"}, timeout=5)
    assert response.status_code == 200 and response.text.startswith("#EXTM3U")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    # OME 0.21: an opening, and at once a closing for the same client (the request's connection closed).
    # (The first request, before the stream existed, got its opening and no closing.)
    opening, closing = (item.body for item in control_server.wait_for(4)[2:4])
    assert opening["request"]["protocol"] == "LLHLS" and opening["request"]["direction"] == "outgoing"
    assert opening["request"]["url"] == playlist + "?token=abc"
    assert opening["client"]["user_agent"] == "hls.js"
    assert closing["request"] == opening["request"] | {
        "status": "closing",
        "new_url": playlist + "?token=abc",
        "time": closing["request"]["time"],
    }
    assert closing["client"] == opening["client"]

    control_server.answer = lambda body: {"allowed": False}
    assert requests.get(playlist, timeout=5).status_code == 403


def _playable(ome: EmulatorProcess, stream: str) -> bool:
    return any(item["name"] == stream and item["playable"] for item in ome.state()["streams"])


def test_a_starting_stream_is_listed_but_its_players_get_an_opening_no_closing_and_no_count(
    hooked_ome: EmulatorProcess, control_server: ControlServer
) -> None:
    # OME lists a browser's stream as soon as the publisher answered, and serves it only once it
    # started (~5 s later): players retrying meanwhile are asked about, refused, never closed.
    hooked_ome.publish("ws://127.0.0.1:3333/app/browser?direction=send", delay=3)
    streams = hooked_ome.api("GET", "/v1/vhosts/default/apps/app/streams").json()["response"]
    assert streams == ["browser"], "listed while it starts"
    assert not _playable(hooked_ome, "browser")
    for port in (41001, 41002, 41003):
        refused = hooked_ome.play("ws://127.0.0.1:3333/app/browser", {"port": port}, expect=404)
        assert refused["allowed"] is True, "the webhook was asked and allowed it; OME could not serve it"
    assert requests.get(f"{hooked_ome.llhls_url}/app/browser/llhls.m3u8", timeout=5).status_code == 404
    assert stats(hooked_ome, "browser")["totalConnections"] == 0, "players that never started are not counted"

    hooked_ome.wait_for(lambda: _playable(hooked_ome, "browser"), timeout=6, what="the stream to start")
    viewer = hooked_ome.play("ws://127.0.0.1:3333/app/browser", {"port": 41004})["viewer"]
    assert stats(hooked_ome, "browser")["connections"]["webrtc"] == 1
    hooked_ome.stop_play(viewer)
    control_server.wait_for(6)  # publisher opening, 4 player openings, the played viewer's closing
    time.sleep(0.3)
    plays = [item.request for item in control_server.received if item.request["direction"] == "outgoing"]
    assert [(play["protocol"], play["status"]) for play in plays] == [
        ("WebRTC", "opening"),
        ("WebRTC", "opening"),
        ("WebRTC", "opening"),
        ("LLHLS", "opening"),
        ("WebRTC", "opening"),
        ("WebRTC", "closing"),
    ], "only the session that played is closed"
