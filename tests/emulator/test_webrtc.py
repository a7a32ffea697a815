"""The OME emulator's WebRTC signalling and media relay, driven by real clients.

The emulator runs as its own process (`python -m ome_emulator`), its admission webhooks going to a real control
server. Two kinds of clients talk to it over real WebSockets and UDP on loopback:
- aiortc (fast, no browser): publish a test pattern, play it back, check the frames decode and the protocol
  details (golden messages, admission webhooks, closing webhooks, lifetime, refusals, shutdown);
- Chromium with the real OvenLiveKit and OvenPlayer builds from node_modules, as the portal uses them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import http.server
import re
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiortc import (
    AudioStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.sdp import candidate_from_sdp

from ome_emulator.testing import EmulatorProcess

from .conftest import SECRET, ControlServer

REPO = Path(__file__).resolve().parents[2]
PAGES = Path(__file__).resolve().parent / "webrtc_pages"
NODE_MODULES = REPO / "node_modules"
GOLDEN_404 = {"code": 404, "error": "Cannot create offer"}


# --- The emulator as the portal sees it ---------------------------------------------------------------------------


class Ome:
    """The real emulator process (`ome` fixture) with its admission webhooks going to a real control server,
    seen the way the portal sees OME: streams listed by the REST API, viewer stats, webhooks received."""

    def __init__(self, process: EmulatorProcess, control: ControlServer) -> None:
        self.process = process
        self.control = control
        self.signalling_url = process.signalling_url
        # The emulator process and its log file outlive one test: this test's part starts here.
        self._log_start = process.log_path.stat().st_size if process.log_path.exists() else 0

    @property
    def answer(self) -> Callable[[dict], Any]:
        return self.control.answer

    @answer.setter
    def answer(self, function: Callable[[dict], Any]) -> None:
        self.control.answer = function

    def streams(self) -> list[str]:
        return sorted(self.process.api("GET", "/v1/vhosts/default/apps/app/streams").json()["response"])

    def playable(self, name: str) -> bool:
        """Listed and started: OME lists a WebRTC publisher's stream from its answer, serves it later."""
        return any(stream["name"] == name and stream["playable"] for stream in self.process.state()["streams"])

    def stream_info(self, name: str) -> dict:
        return self.process.api("GET", f"/v1/vhosts/default/apps/app/streams/{name}").json()["response"]

    def viewer_count(self, name: str) -> int:
        response = self.process.api("GET", f"/v1/stats/current/vhosts/default/apps/app/streams/{name}")
        return response.json()["response"]["connections"]["webrtc"] if response.status_code == 200 else 0

    def remove_stream(self, name: str) -> None:
        assert self.process.api("DELETE", f"/v1/vhosts/default/apps/app/streams/{name}").status_code == 200

    def hooks(self, status: str | None = None) -> list[dict]:
        bodies = [item.body for item in list(self.control.received)]
        return [body for body in bodies if status is None or body["request"]["status"] == status]

    def log(self) -> str:
        """What the emulator logged during this test (not what earlier tests made it log)."""
        with self.process.log_path.open("rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace")


@pytest.fixture
def emulator(ome: EmulatorProcess, control_server: ControlServer) -> Ome:
    ome.config(webhook_url=control_server.url, webhook_secret=SECRET, webrtc_stream_delay=0)
    return Ome(ome, control_server)


def video_codec_of(info: dict) -> str:
    return next(track["video"]["codec"] for track in info["input"]["tracks"] if track["type"] == "Video")


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def async_wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Polls a (blocking, HTTP) condition without blocking the aiortc clients' event loop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(condition)
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# --- aiortc clients ----------------------------------------------------------------------------------------------

UA = "pytest-aiortc/1.0"


class SignallingClient:
    """A WebRTC client speaking OME's signalling the way OvenLiveKit/OvenPlayer do, with aiortc underneath."""

    def __init__(self, url: str, *, publish_tracks: list | None = None) -> None:
        self.url = url
        self.publish_tracks = publish_tracks
        self.http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.pc: RTCPeerConnection | None = None
        self.offer: dict | None = None
        self.tracks: list = []

    async def connect(self) -> dict:
        """Request an offer; answer it when there is one. Returns the server's first message."""
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(self.url, headers={"User-Agent": UA})
        await self.ws.send_json({"command": "request_offer"})
        first = await self.ws.receive_json(timeout=10)
        if first.get("command") != "offer":
            return first
        self.offer = first
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.on("track", self.tracks.append)
        await self.pc.setRemoteDescription(RTCSessionDescription(**first["sdp"]))
        for item in first["candidates"]:
            candidate = candidate_from_sdp(item["candidate"].split(":", 1)[1])
            candidate.sdpMLineIndex = item["sdpMLineIndex"]
            await self.pc.addIceCandidate(candidate)
        for track in self.publish_tracks or []:
            self.pc.addTrack(track)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self.ws.send_json(
            {
                "command": "answer",
                "id": first["id"],
                "peer_id": first["peer_id"],
                "sdp": {"type": "answer", "sdp": self.pc.localDescription.sdp},
            }
        )
        return first

    async def closed_by_server(self, timeout: float = 10) -> bool:
        assert self.ws is not None
        with contextlib.suppress(asyncio.TimeoutError):
            while True:
                message = await self.ws.receive(timeout=timeout)
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                    return True
        return False

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.pc is not None:
            await self.pc.close()
        if self.http is not None:
            await self.http.close()


async def first_message(url: str) -> tuple[dict, bool]:
    client = SignallingClient(url)
    try:
        message = await client.connect()
        return message, await client.closed_by_server(5)
    finally:
        await client.close()


def run(coroutine):
    """Runs a client scenario on its own loop in its own thread: Playwright's sync API keeps a loop running in
    the test thread once a browser test has run."""
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        return executor.submit(asyncio.run, asyncio.wait_for(coroutine, 45)).result()


# --- Signalling without media ------------------------------------------------------------------------------------


def test_player_of_a_missing_stream_gets_the_golden_404_and_the_socket_closes(emulator):
    url = f"{emulator.signalling_url}/app/nostream?policy=abc"
    message, closed = run(first_message(url))
    assert message == GOLDEN_404
    assert closed, "the server must close the socket after refusing"
    [hook] = emulator.hooks()
    assert {k: hook["request"][k] for k in ("direction", "protocol", "status", "url")} == {
        "direction": "outgoing",
        "protocol": "WebRTC",
        "status": "opening",
        "url": url,
    }
    assert hook["client"]["address"] == "127.0.0.1" and hook["client"]["port"] > 0
    assert hook["client"]["user_agent"] == UA
    time.sleep(0.3)
    assert emulator.hooks("closing") == [], "OME sends no closing for a request it refused"


def test_publish_refused_by_the_webhook_gets_the_404(emulator):
    emulator.answer = lambda body: {"allowed": False, "reason": "no such key"}
    url = f"{emulator.signalling_url}/app/denied?direction=send"
    message, closed = run(first_message(url))
    assert message == GOLDEN_404 and closed
    assert [h["request"]["direction"] for h in emulator.hooks()] == ["incoming"]
    assert emulator.streams() == []


def test_offer_has_omes_shape_with_loopback_host_candidates_and_no_ice_servers(emulator):
    async def scenario():
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"{emulator.signalling_url}/app/shape?direction=send")
            await ws.send_json({"command": "request_offer"})
            offer = await ws.receive_json(timeout=10)
            await ws.close()
            return offer

    offer = run(scenario())
    assert set(offer) == {"command", "id", "peer_id", "sdp", "candidates", "code"}
    assert offer["command"] == "offer" and offer["code"] == 200 and offer["peer_id"] == 0
    assert isinstance(offer["id"], int) and offer["id"] > 0
    assert offer["sdp"]["type"] == "offer"
    sdp = offer["sdp"]["sdp"]
    assert "a=candidate" not in sdp, "OME sends candidates beside the SDP"
    assert "a=recvonly" in sdp and "m=audio" in sdp and "m=video" in sdp
    video_line = next(line for line in sdp.split("\r\n") if line.startswith("m=video"))
    first_pt = video_line.split()[3]
    assert f"a=rtpmap:{first_pt} H264/90000" in sdp, "H264 is offered first, as OME does"
    assert "VP8/90000" in sdp
    assert offer["candidates"], "the offer carries host candidates"
    for candidate in offer["candidates"]:
        assert candidate["sdpMLineIndex"] == 0
        # OME 0.21's form (0.19: a short foundation and priority 50).
        shape = re.fullmatch(r"candidate:(\d+) 1 UDP 2130706431 127\.0\.0\.1 (\d+) typ host", candidate["candidate"])
        assert shape, candidate["candidate"]
        assert int(shape[1]) < 2**64 and 0 < int(shape[2]) < 65536


def test_plain_http_get_is_a_clear_400(emulator):
    async def scenario():
        async with aiohttp.ClientSession() as http:
            async with http.get(emulator.signalling_url.replace("ws://", "http://") + "/app/room") as response:
                return response.status, await response.text()

    status, text = run(scenario())
    assert status == 400 and "WebSocket" in text


def test_garbage_message_gets_an_error_and_the_socket_closes(emulator):
    async def scenario():
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"{emulator.signalling_url}/app/room")
            await ws.send_str("not json")
            message = await ws.receive_json(timeout=5)
            closing = await ws.receive(timeout=5)
            return message, closing.type

    message, kind = run(scenario())
    assert message["code"] == 400 and "JSON" in message["error"]
    assert kind in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


def test_a_broken_answer_gets_a_400_and_frees_the_stream_name(emulator):
    async def scenario():
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"{emulator.signalling_url}/app/broken?direction=send")
            await ws.send_json({"command": "request_offer"})
            offer = await ws.receive_json(timeout=10)
            await ws.send_json(
                {"command": "answer", "id": offer["id"], "peer_id": 0, "sdp": {"type": "answer", "sdp": "v=0"}}
            )
            message = await ws.receive_json(timeout=5)
            await ws.receive(timeout=5)
        again = SignallingClient(f"{emulator.signalling_url}/app/broken?direction=send", publish_tracks=[Pattern()])
        try:
            assert (await again.connect())["command"] == "offer"
        finally:
            await again.close()
        return message

    message = run(scenario())
    assert message["code"] == 400 and message["error"].startswith("Invalid answer")


# --- Media through the relay (aiortc publisher and players) ------------------------------------------------------


class Pattern(VideoStreamTrack):
    """A small test picture that changes every frame."""

    def __init__(self, width: int = 320, height: int = 240) -> None:
        super().__init__()
        self.width, self.height = width, height
        self.count = 0

    async def recv(self):
        import av

        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        self.count += 1
        for index, plane in enumerate(frame.planes):
            value = (self.count * 3) % 256 if index == 0 else 128
            plane.update(bytes([value]) * plane.buffer_size)
        frame.pts, frame.time_base = pts, time_base
        return frame


async def next_frame(track, timeout: float = 10):
    return await asyncio.wait_for(track.recv(), timeout)


def test_aiortc_publisher_is_relayed_to_two_players_until_it_leaves(emulator):
    publish_url = f"{emulator.signalling_url}/app/room1?direction=send&token=s3cret"

    async def scenario():
        publisher = SignallingClient(publish_url, publish_tracks=[Pattern(), AudioStreamTrack()])
        players: list[SignallingClient] = []
        try:
            assert (await publisher.connect())["command"] == "offer"
            await async_wait_for(lambda: emulator.playable("room1"), what="the stream to start")
            info = await asyncio.to_thread(emulator.stream_info, "room1")
            assert info["input"]["sourceType"] == "WebRTC" and video_codec_of(info) == "H264"

            for _ in range(2):
                player = SignallingClient(f"{emulator.signalling_url}/app/room1")
                players.append(player)
                assert (await player.connect())["command"] == "offer"
            for player in players:
                await async_wait_for(lambda p=player: len(p.tracks) == 2, what="the player's tracks")
                video = next(t for t in player.tracks if t.kind == "video")
                audio = next(t for t in player.tracks if t.kind == "audio")
                frame = await next_frame(video)
                assert (frame.width, frame.height) == (320, 240), "the publisher's picture, passed through"
                later = await next_frame(video)
                assert later.pts > frame.pts
                assert (await next_frame(audio)).sample_rate == 48000
            await async_wait_for(lambda: emulator.viewer_count("room1") == 2, what="two WebRTC viewers in the stats")

            await publisher.close()
            for player in players:
                assert await player.closed_by_server(10), "players are disconnected when the publisher leaves"
            await async_wait_for(lambda: emulator.streams() == [], what="the stream to be removed")
            await async_wait_for(lambda: len(emulator.hooks("closing")) == 3, what="closing webhooks")
        finally:
            for player in players:
                await player.close()
            await publisher.close()

    run(scenario())
    closings = [hook["request"] for hook in emulator.hooks("closing")]
    assert {k: closings[0][k] for k in ("direction", "protocol", "url", "new_url")} == {
        "direction": "incoming",
        "protocol": "WebRTC",
        "url": publish_url,
        "new_url": publish_url,
    }, "the publisher's closing comes first and carries new_url, as in the golden recording"
    assert [c["direction"] for c in closings[1:]] == ["outgoing", "outgoing"]
    assert all(c["new_url"] == c["url"] == f"{emulator.signalling_url}/app/room1" for c in closings[1:])


def test_a_publishers_stream_is_listed_from_its_answer_and_players_are_refused_until_it_starts(emulator):
    """Like OME 0.19: the stream exists (listed, stats at zero) once the publisher answered, and plays only once it
    started (after the first media plus `webrtc_stream_delay`); players refused meanwhile get no closing."""
    emulator.process.config(webrtc_stream_delay=2)
    play_url = f"{emulator.signalling_url}/app/slow"

    async def scenario():
        publisher = SignallingClient(f"{play_url}?direction=send", publish_tracks=[Pattern(), AudioStreamTrack()])
        player = SignallingClient(play_url)
        try:
            assert (await publisher.connect())["command"] == "offer"
            await async_wait_for(lambda: emulator.streams() == ["slow"], what="the stream to be listed")
            assert not await asyncio.to_thread(emulator.playable, "slow")
            message, closed = await first_message(play_url)
            assert message == GOLDEN_404 and closed, "a listed stream that has not started cannot be played"
            assert await asyncio.to_thread(emulator.viewer_count, "slow") == 0
            await async_wait_for(lambda: emulator.playable("slow"), what="the stream to start")
            assert (await player.connect())["command"] == "offer"
            await async_wait_for(lambda: emulator.viewer_count("slow") == 1, what="the viewer")
        finally:
            await player.close()
            await publisher.close()
        await async_wait_for(lambda: len(emulator.hooks("closing")) == 2, what="closing webhooks")

    run(scenario())
    plays = [hook["request"]["status"] for hook in emulator.hooks() if hook["request"]["direction"] == "outgoing"]
    assert plays == ["opening", "opening", "closing"], "the refused player's session is never closed"


def test_new_url_names_the_stream_and_a_second_publisher_is_refused(emulator):
    room_url = f"{emulator.signalling_url}/app/room7"
    secret_url = f"{emulator.signalling_url}/app/secretkey?direction=send&credential=hunter2"
    emulator.answer = lambda body: (
        {"allowed": True, "new_url": room_url + "?direction=send"}
        if "secretkey" in body["request"]["url"]
        else {"allowed": True}
    )

    async def scenario():
        first = SignallingClient(secret_url, publish_tracks=[Pattern()])
        second = SignallingClient(secret_url, publish_tracks=[Pattern()])
        third = SignallingClient(room_url + "?direction=send")
        try:
            assert (await first.connect())["command"] == "offer"
            await async_wait_for(lambda: emulator.streams() == ["room7"], what="room7 to appear")
            assert await second.connect() == GOLDEN_404, "a second publisher for a live stream is refused"
            assert await third.connect() == GOLDEN_404
        finally:
            await third.close()
            await second.close()
            await first.close()
        await async_wait_for(lambda: emulator.streams() == [], what="room7 to go away")
        await async_wait_for(lambda: emulator.hooks("closing"), what="the closing webhook")

    run(scenario())
    [closing] = emulator.hooks("closing")
    assert closing["request"]["url"] == secret_url
    assert closing["request"]["new_url"] == room_url + "?direction=send"
    log = emulator.log()
    assert "room7" in log
    assert "hunter2" not in log and "credential" not in log and "secretkey" not in log, (
        "the emulator logged a credential from the publish URL"
    )


def test_admission_lifetime_and_removal_by_the_rest_api_disconnect_the_publisher(emulator):
    emulator.answer = lambda body: (
        {"allowed": True, "lifetime": 1500} if "short" in body["request"]["url"] else {"allowed": True}
    )

    async def scenario():
        short = SignallingClient(f"{emulator.signalling_url}/app/short?direction=send", publish_tracks=[Pattern()])
        removed = SignallingClient(f"{emulator.signalling_url}/app/removed?direction=send", publish_tracks=[Pattern()])
        try:
            started = time.monotonic()
            await short.connect()
            await removed.connect()
            await async_wait_for(lambda: emulator.streams() == ["removed", "short"], what="both streams")
            await asyncio.to_thread(emulator.remove_stream, "removed")
            assert await removed.closed_by_server(5), "DELETE …/streams/removed disconnects its publisher"
            assert await short.closed_by_server(5), "the admission lifetime disconnects the publisher"
            assert 1.4 < time.monotonic() - started < 5
            await async_wait_for(lambda: emulator.streams() == [], what="streams to be removed")
            await async_wait_for(lambda: len(emulator.hooks("closing")) == 2, what="closing webhooks")
        finally:
            await short.close()
            await removed.close()

    run(scenario())


def test_sigterm_disconnects_everyone_and_sends_the_closing_webhooks(emulator):
    async def scenario():
        publisher = SignallingClient(f"{emulator.signalling_url}/app/down?direction=send", publish_tracks=[Pattern()])
        player = SignallingClient(f"{emulator.signalling_url}/app/down")
        try:
            await publisher.connect()
            await async_wait_for(lambda: emulator.playable("down"), what="the stream")
            await player.connect()
            await async_wait_for(lambda: emulator.viewer_count("down") == 1, what="the viewer")
            await asyncio.to_thread(emulator.process.stop)
            assert await publisher.closed_by_server(5) and await player.closed_by_server(5)
        finally:
            await player.close()
            await publisher.close()

    run(scenario())
    assert sorted(h["request"]["direction"] for h in emulator.hooks("closing")) == ["incoming", "outgoing"]
    assert "Traceback" not in emulator.log().split("stopping")[-1], "the emulator did not shut down cleanly"


# --- Chromium with OvenLiveKit and OvenPlayer --------------------------------------------------------------------


class _TestPages(http.server.BaseHTTPRequestHandler):
    routes = {
        "/publish.html": PAGES / "publish.html",
        "/play.html": PAGES / "play.html",
        "/vendor/ovenlivekit/OvenLiveKit.min.js": NODE_MODULES / "ovenlivekit" / "dist" / "OvenLiveKit.min.js",
        "/vendor/ovenplayer/ovenplayer.js": NODE_MODULES / "ovenplayer" / "dist" / "ovenplayer.js",
    }

    def do_GET(self):
        path = self.routes.get(self.path.split("?")[0])
        if path is None or not path.exists():
            self.send_error(404)
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8" if path.suffix == ".html" else "text/javascript")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def pages():
    """The two test pages and the SDK builds from node_modules, on their own origin."""
    for path in _TestPages.routes.values():
        assert path.exists(), f"{path} is missing: run `npm ci`"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TestPages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@contextlib.contextmanager
def browser_page(chromium, url: str, *, camera: bool = False):
    context = chromium.new_context(permissions=["camera", "microphone"] if camera else [])
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.goto(url)
        yield page
    finally:
        context.close()


def video_state(page) -> dict | None:
    return page.evaluate("window.videoState()")


def assert_video_advances(page, seconds: float = 1.0) -> None:
    before = video_state(page)
    time.sleep(seconds)
    after = video_state(page)
    assert after["width"] > 0, "the player shows no picture"
    assert after["time"] - before["time"] > seconds / 2, f"the player's video does not advance: {before} -> {after}"


@pytest.mark.browser
@pytest.mark.timeout(60)
def test_chromium_ovenlivekit_publish_is_played_by_ovenplayer_until_the_publisher_leaves(emulator, chromium, pages):
    publish_url = f"{emulator.signalling_url}/app/browserpub?direction=send"
    play_url = f"{emulator.signalling_url}/app/browserpub"
    with browser_page(chromium, pages + "/publish.html", camera=True) as publisher:
        publisher.evaluate("url => window.publish(url)", publish_url)
        wait_for(lambda: emulator.playable("browserpub"), 15, "the browser's stream to start")
        assert video_codec_of(emulator.stream_info("browserpub")) == "H264"
        [opening] = emulator.hooks("opening")
        assert opening["request"]["url"] == publish_url
        assert "HeadlessChrome" in opening["client"]["user_agent"]

        with browser_page(chromium, pages + "/play.html") as player:
            player.evaluate("url => window.play(url)", play_url)
            player.wait_for_function("window.videoState() && window.videoState().width > 0", timeout=15_000)
            assert_video_advances(player)
            assert emulator.viewer_count("browserpub") == 1

            publisher.evaluate("window.leave()")
            wait_for(lambda: emulator.streams() == [], 10, "the stream to be removed when the publisher leaves")
            player.wait_for_function("window.errors().length > 0", timeout=10_000)
            assert player.evaluate("window.errors()[0].detail.code") == 511, "OvenPlayer reports the ended connection"
            stopped = video_state(player)["time"]
            time.sleep(0.8)
            assert video_state(player)["time"] == pytest.approx(stopped, abs=0.1), "the player still plays"
    wait_for(lambda: len(emulator.hooks("closing")) == 2, 5, "closing webhooks for the publisher and the player")


@pytest.mark.browser
@pytest.mark.timeout(60)
def test_ovenlivekit_reports_a_refused_publish(emulator, chromium, pages):
    emulator.answer = lambda body: {"allowed": False, "reason": "no such key"}
    with browser_page(chromium, pages + "/publish.html", camera=True) as publisher:
        publisher.evaluate("url => window.publish(url)", f"{emulator.signalling_url}/app/denied?direction=send")
        publisher.wait_for_function("window.events.some(e => e.type === 'error')", timeout=10_000)
        errors = [e["detail"] for e in publisher.evaluate("window.events") if e["type"] == "error"]
        assert errors[0] == "Cannot create offer"
        assert emulator.streams() == []


@pytest.mark.browser
@pytest.mark.timeout(60)
def test_ovenplayer_gets_the_404_before_the_stream_exists(emulator, chromium, pages):
    with browser_page(chromium, pages + "/play.html") as player:
        player.evaluate("url => window.play(url)", f"{emulator.signalling_url}/app/notyet")
        player.wait_for_function("window.errors().length > 0", timeout=10_000)
        error = player.evaluate("window.errors()[0].detail")
        assert error["code"] == 501 and error["error"] == "Cannot create offer"


@pytest.mark.browser
@pytest.mark.timeout(60)
def test_ovenplayer_plays_an_rtmp_room_as_a_test_pattern(emulator, chromium, pages):
    emulator.process.publish("rtmp://127.0.0.1:1935/app/obs")
    with browser_page(chromium, pages + "/play.html") as player:
        player.evaluate("url => window.play(url)", f"{emulator.signalling_url}/app/obs")
        player.wait_for_function("window.videoState() && window.videoState().width > 0", timeout=15_000)
        assert video_state(player)["width"] == 640
        assert_video_advances(player)


def time_to_first_frame(emulator: Ome, chromium, pages, name: str) -> float:
    """Seconds from OvenLiveKit's startStreaming() to OvenPlayer's first decoded frame; the player starts at
    the same time and retries every 250 ms while the stream does not exist, as the portal's player does."""
    with (
        browser_page(chromium, pages + "/publish.html", camera=True) as publisher,
        browser_page(chromium, pages + "/play.html") as player,
    ):
        publisher.evaluate("window.kit.getUserMedia({video: true, audio: true})")
        publisher.evaluate(
            "url => { window.startedAt = Date.now(); window.kit.startStreaming(url); }",
            f"{emulator.signalling_url}/app/{name}?direction=send",
        )
        player.evaluate("url => window.play(url, 250)", f"{emulator.signalling_url}/app/{name}")
        player.wait_for_function("window.firstFrameAt !== null", timeout=20_000)
        seconds = (player.evaluate("window.firstFrameAt") - publisher.evaluate("window.startedAt")) / 1000
        assert_video_advances(player, 0.5)
        publisher.evaluate("window.leave()")
        wait_for(lambda: emulator.streams() == [], 10, "the stream to go away")
    return seconds


@pytest.mark.browser
@pytest.mark.timeout(60)
@pytest.mark.parametrize("delay", [0.0, 5.0])
def test_time_to_first_frame(emulator, chromium, pages, delay):
    emulator.process.config(webrtc_stream_delay=delay)
    samples = [time_to_first_frame(emulator, chromium, pages, f"ttff{i}") for i in range(3)]
    median = statistics.median(samples)
    print(f"\ntime to first frame with webrtc_stream_delay={delay}: median {median:.2f} s, samples {samples}")
    assert delay <= median < delay + 4, f"first frame after {median:.2f} s with a {delay} s stream delay"


def test_players_of_an_rtmp_stream_get_a_test_pattern_until_it_ends(emulator):
    emulator.process.publish("rtmp://127.0.0.1:1935/app/obsroom")

    async def scenario():
        players = [SignallingClient(f"{emulator.signalling_url}/app/obsroom") for _ in range(2)]
        try:
            for player in players:
                assert (await player.connect())["command"] == "offer"
            for player in players:
                await async_wait_for(lambda p=player: p.tracks, what="the player's track")
                [video] = player.tracks
                frame = await next_frame(video)
                assert (frame.width, frame.height) == (640, 360)
                assert (await next_frame(video)).pts > frame.pts
            await async_wait_for(lambda: emulator.viewer_count("obsroom") == 2, what="two WebRTC viewers")
            await asyncio.to_thread(emulator.process.unpublish, "obsroom")
            for player in players:
                assert await player.closed_by_server(5), "players are disconnected when the RTMP stream ends"
        finally:
            for player in players:
                await player.close()

    run(scenario())


def test_clients_hanging_up_in_the_middle_of_connecting_leave_no_traceback(emulator):
    """Clients hang up at every moment of connecting (ICE checks, the DTLS handshake, the first packets): the
    emulator closes its peer connection wherever it stands, which real clients on bad networks do all the time,
    and does it as quietly as OME does."""

    async def hang_up_after(url: str, seconds: float, tracks: list | None = None) -> None:
        client = SignallingClient(url, publish_tracks=tracks)
        await client.connect()
        await asyncio.sleep(seconds)
        await client.close()

    async def scenario():
        for milliseconds in range(0, 120, 4):
            await hang_up_after(
                f"{emulator.signalling_url}/app/midway?direction=send", milliseconds / 1000, [Pattern()]
            )
            await async_wait_for(lambda: emulator.streams() == [], what="the stream to go")

    run(scenario())
    assert "midway" in emulator.log()
    assert "Traceback" not in emulator.log()


def test_clients_vanishing_at_any_step_leave_nothing_behind(emulator):
    """Sockets dropped before the offer, right after it, right after the answer, and a peer connection closed
    without a word: no stream, viewer or reservation is left, and the next publisher of the name is admitted."""

    async def drop_after(url: str, step: str, tracks: list | None = None) -> None:
        client = SignallingClient(url, publish_tracks=tracks)
        if step == "request":
            client.http = aiohttp.ClientSession()
            client.ws = await client.http.ws_connect(url)
            await client.ws.send_json({"command": "request_offer"})
        elif step == "answer":
            await client.connect()
        elif step == "media":
            await client.connect()
            await asyncio.sleep(0.5)
        await client.close()

    async def scenario():
        publish = f"{emulator.signalling_url}/app/flaky?direction=send"
        play = f"{emulator.signalling_url}/app/flaky"
        for step in ("request", "answer", "media"):
            await drop_after(publish, step, [Pattern()])
        survivor = SignallingClient(publish, publish_tracks=[Pattern()])
        try:
            assert (await survivor.connect())["command"] == "offer", "the name is free again"
            await async_wait_for(lambda: emulator.playable("flaky"), what="the stream")
            for step in ("request", "answer", "media"):
                await drop_after(play, step)
            await async_wait_for(lambda: emulator.viewer_count("flaky") == 0, what="no viewers left")
            silent = SignallingClient(play)
            await silent.connect()
            await async_wait_for(lambda: emulator.viewer_count("flaky") == 1, what="the silent viewer")
            await silent.pc.close()  # the socket stays open: ICE consent expires, or the socket closes
            await silent.ws.close()
            await silent.http.close()
            await async_wait_for(lambda: emulator.viewer_count("flaky") == 0, what="the silent viewer to go")
        finally:
            await survivor.close()
        await async_wait_for(lambda: emulator.streams() == [], what="the stream to end")

    run(scenario())
    assert "Traceback" not in emulator.log()
