"""The OME emulator's WebRTC signalling and media relay, driven by real clients.

Two kinds of clients talk to the real signalling server over real WebSockets and UDP on loopback:
- aiortc (fast, no browser): publish a test pattern, play it back, check the frames decode and the protocol
  details (golden messages, admission webhooks, closing webhooks, lifetime, refusals, shutdown);
- Chromium with the real OvenLiveKit and OvenPlayer builds from node_modules, as the portal uses them.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import logging
import statistics
import sys
import threading
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiortc import (
    AudioStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.sdp import candidate_from_sdp

REPO = Path(__file__).resolve().parents[2]
PAGES = Path(__file__).resolve().parent / "webrtc_pages"
NODE_MODULES = REPO / "node_modules"
GOLDEN_404 = {"code": 404, "error": "Cannot create offer"}


# --- Stand-in for the emulator core (until ome_emulator/core.py lands) ------------------------------------------
# Implements exactly the interface of /work/notes/emulator-interface.md that webrtc.py uses, nothing more.


def _install_core_stand_in() -> None:
    try:
        import ome_emulator.core  # noqa: F401
    except ImportError:
        pass
    else:
        return

    @dataclass(frozen=True)
    class Client:
        address: str
        port: int
        user_agent: str | None = None

    @dataclass(frozen=True)
    class Admission:
        allowed: bool
        new_url: str | None = None
        lifetime_ms: int = 0
        reason: str | None = None

    class StreamExists(Exception):
        pass

    module = types.ModuleType("ome_emulator.core")
    module.Client = Client
    module.Admission = Admission
    module.StreamExists = StreamExists
    sys.modules["ome_emulator.core"] = module


_install_core_stand_in()

from ome_emulator.core import Admission, StreamExists  # noqa: E402
from ome_emulator.webrtc import HUB_KEY, setup_signalling  # noqa: E402


class StandInEmulator:
    """The part of the core's Emulator the signalling uses; admission answers come from a test-chosen function."""

    def __init__(self, *, stream_delay: float, answer: Callable[[dict], dict], webhooks: list[dict]) -> None:
        self.vhost = "default"
        self.app = "app"
        self.settings = types.SimpleNamespace(webrtc_stream_delay=stream_delay, rtmp_variant_suffix="_rtmp")
        self.streams: dict[str, dict] = {}
        self.viewers: dict[str, str] = {}
        self._answer = answer
        self._webhooks = webhooks
        self._next_viewer = 0

    def _record(self, direction, protocol, status, url, client, new_url=None) -> dict:
        body = {
            "client": {"address": client.address, "port": client.port, "real_ip": client.address},
            "request": {"direction": direction, "protocol": protocol, "status": status, "url": url},
        }
        if client.user_agent:
            body["client"]["user_agent"] = client.user_agent
        if new_url is not None:
            body["request"]["new_url"] = new_url
        self._webhooks.append(body)
        return body

    async def admit(self, *, direction, protocol, url, client) -> Admission:
        answer = self._answer(self._record(direction, protocol, "opening", url, client))
        return Admission(
            allowed=bool(answer.get("allowed")),
            new_url=answer.get("new_url"),
            lifetime_ms=int(answer.get("lifetime", 0)),
            reason=answer.get("reason"),
        )

    async def closing(self, *, direction, protocol, url, new_url, client) -> None:
        self._record(direction, protocol, "closing", url, client, new_url)

    def stream_name_of(self, url: str) -> tuple[str, str]:
        parts = urlsplit(url).path.strip("/").split("/")
        if len(parts) < 2:
            raise ValueError(url)
        return parts[0], parts[1]

    def has_stream(self, name: str) -> bool:
        return name in self.streams

    def add_stream(self, name, *, source_type, source_url, video_codec="H264", audio_codec="Opus", on_remove=None):
        if name in self.streams:
            raise StreamExists(name)
        self.streams[name] = {
            "source_type": source_type,
            "source_url": source_url,
            "video_codec": video_codec,
            "audio_codec": audio_codec,
            "on_remove": on_remove,
        }

    async def remove_stream(self, name: str) -> None:
        stream = self.streams.pop(name, None)
        if stream and stream["on_remove"]:
            result = stream["on_remove"]()
            if asyncio.iscoroutine(result):
                await result

    def add_viewer(self, name: str, protocol: str) -> str:
        self._next_viewer += 1
        viewer_id = f"v{self._next_viewer}"
        self.viewers[viewer_id] = name
        return viewer_id

    def remove_viewer(self, viewer_id: str) -> None:
        self.viewers.pop(viewer_id)


class Emulator:
    """The signalling server with the stand-in core, on its own event loop thread (Playwright's sync API owns
    the test thread). Tests look at it the way the portal would: streams listed, viewers, webhooks received."""

    def __init__(self, *, stream_delay: float = 0.0) -> None:
        self.webhooks: list[dict] = []
        self.answer: Callable[[dict], dict] = lambda body: {"allowed": True}
        self.core = StandInEmulator(
            stream_delay=stream_delay, answer=lambda body: self.answer(body), webhooks=self.webhooks
        )
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="emulator", daemon=True)
        self._thread.start()
        self.app = web.Application()
        setup_signalling(self.app, self.core)
        # As the core must run it: aiohttp's access log would print the query string, which may hold a credential.
        self._runner = web.AppRunner(self.app, access_log=None)
        self.call(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self.call(site.start())
        port = self._runner.addresses[0][1]
        self.signalling_url = f"ws://127.0.0.1:{port}"

    def call(self, coroutine, timeout: float = 20):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def streams(self) -> list[str]:
        return sorted(self.core.streams)

    def viewer_count(self, name: str) -> int:
        return sum(1 for stream in list(self.core.viewers.values()) if stream == name)

    def remove_stream(self, name: str) -> None:
        self.call(self.core.remove_stream(name))

    def hooks(self, status: str | None = None) -> list[dict]:
        return [hook for hook in list(self.webhooks) if status is None or hook["request"]["status"] == status]

    def open_sessions(self) -> int:
        return len(self.app[HUB_KEY].sessions)

    def stop(self) -> None:
        self.call(self._runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def emulator():
    server = Emulator(stream_delay=0.0)
    yield server
    server.stop()


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def async_wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        await asyncio.sleep(0.02)
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
    return asyncio.run(asyncio.wait_for(coroutine, 45))


# --- Signalling without media ------------------------------------------------------------------------------------


def test_player_of_a_missing_stream_gets_the_golden_404_and_the_socket_closes(emulator):
    url = f"{emulator.signalling_url}/app/nostream?policy=abc"
    message, closed = run(first_message(url))
    assert message == GOLDEN_404
    assert closed, "the server must close the socket after refusing"
    [hook] = emulator.hooks()
    assert hook["request"] == {"direction": "outgoing", "protocol": "WebRTC", "status": "opening", "url": url}
    assert hook["client"]["address"] == "127.0.0.1" and hook["client"]["port"] > 0
    assert hook["client"]["user_agent"] == UA
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
        client = SignallingClient(f"{emulator.signalling_url}/app/shape?direction=send")
        try:
            ws_http = aiohttp.ClientSession()
            ws = await ws_http.ws_connect(client.url)
            await ws.send_json({"command": "request_offer"})
            offer = await ws.receive_json(timeout=10)
            await ws.close()
            await ws_http.close()
            return offer
        finally:
            await client.close()

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
        assert " 127.0.0.1 " in candidate["candidate"] and "typ host" in candidate["candidate"]


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


# --- Media through the relay (aiortc publisher and players) ------------------------------------------------------


class Pattern(VideoStreamTrack):
    """A small test picture that changes every frame (so it keeps costing the encoder something real)."""

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
    async def scenario():
        publisher = SignallingClient(
            f"{emulator.signalling_url}/app/room1?direction=send&token=s3cret",
            publish_tracks=[Pattern(), AudioStreamTrack()],
        )
        players: list[SignallingClient] = []
        try:
            offer = await publisher.connect()
            assert offer["command"] == "offer"
            await async_wait_for(lambda: emulator.streams() == ["room1"], what="the stream to appear")
            stream = emulator.core.streams["room1"]
            assert stream["source_type"] == "WebRTC" and stream["video_codec"] == "H264"
            assert stream["audio_codec"] == "Opus"

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
            assert emulator.viewer_count("room1") == 2

            await publisher.close()
            for player in players:
                assert await player.closed_by_server(10), "players are disconnected when the publisher leaves"
            await async_wait_for(lambda: emulator.streams() == [], what="the stream to be removed")
            await async_wait_for(lambda: emulator.viewer_count("room1") == 0, what="viewers to be removed")
            await async_wait_for(lambda: len(emulator.hooks("closing")) == 3, what="closing webhooks")
        finally:
            for player in players:
                await player.close()
            await publisher.close()

    run(scenario())
    closings = emulator.hooks("closing")
    url = f"{emulator.signalling_url}/app/room1?direction=send&token=s3cret"
    assert closings[0]["request"] == {
        "direction": "incoming",
        "protocol": "WebRTC",
        "status": "closing",
        "url": url,
        "new_url": url,
    }, "the publisher's closing comes first and carries new_url, as in the golden recording"
    assert [c["request"]["direction"] for c in closings[1:]] == ["outgoing", "outgoing"]
    assert all(c["request"]["new_url"] == f"{emulator.signalling_url}/app/room1" for c in closings[1:])
    assert emulator.open_sessions() == 0


def test_new_url_names_the_stream_and_a_second_publisher_is_refused(emulator, caplog):
    room_url = f"{emulator.signalling_url}/app/room7"
    emulator.answer = lambda body: (
        {"allowed": True, "new_url": room_url + "?direction=send"}
        if "secretkey" in body["request"]["url"]
        else {"allowed": True}
    )
    caplog.set_level(logging.DEBUG, logger="ome_emulator.webrtc")

    async def scenario():
        secret_url = f"{emulator.signalling_url}/app/secretkey?direction=send&credential=hunter2"
        first = SignallingClient(secret_url, publish_tracks=[Pattern()])
        second = SignallingClient(secret_url, publish_tracks=[Pattern()])
        try:
            assert (await first.connect())["command"] == "offer"
            await async_wait_for(lambda: emulator.streams() == ["room7"], what="room7 to appear")
            assert await second.connect() == GOLDEN_404, "a second publisher for a live stream is refused"
            third = SignallingClient(room_url + "?direction=send")
            assert await third.connect() == GOLDEN_404
            await third.close()
        finally:
            await second.close()
            await first.close()
        await async_wait_for(lambda: emulator.streams() == [], what="room7 to go away")
        await async_wait_for(lambda: emulator.hooks("closing"), what="the closing webhook")

    run(scenario())
    [closing] = emulator.hooks("closing")
    assert closing["request"]["url"].endswith("/app/secretkey?direction=send&credential=hunter2")
    assert closing["request"]["new_url"] == room_url + "?direction=send"
    logs = caplog.text
    assert "room7" in logs
    assert "hunter2" not in logs and "credential" not in logs and "secretkey" not in logs, (
        "the signalling logged a credential from the publish URL"
    )


def test_admission_lifetime_and_removal_from_outside_disconnect_the_publisher(emulator):
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
            assert await removed.closed_by_server(5), "removing the stream disconnects its publisher"
            assert await short.closed_by_server(5), "the admission lifetime disconnects the publisher"
            assert 1.4 < time.monotonic() - started < 5
            await async_wait_for(lambda: emulator.streams() == [], what="streams to be removed")
        finally:
            await short.close()
            await removed.close()

    run(scenario())


def test_shutdown_closes_every_session(emulator):
    async def scenario():
        publisher = SignallingClient(f"{emulator.signalling_url}/app/down?direction=send", publish_tracks=[Pattern()])
        player = SignallingClient(f"{emulator.signalling_url}/app/down")
        try:
            await publisher.connect()
            await async_wait_for(lambda: emulator.streams() == ["down"], what="the stream")
            await player.connect()
            await async_wait_for(lambda: emulator.viewer_count("down") == 1, what="the viewer")
            await asyncio.to_thread(emulator.call, emulator.app[HUB_KEY].shutdown())
            assert await publisher.closed_by_server(5) and await player.closed_by_server(5)
            assert emulator.streams() == [] and emulator.viewer_count("down") == 0
            assert emulator.open_sessions() == 0
        finally:
            await player.close()
            await publisher.close()

    run(scenario())


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


def publisher_events(page) -> list[dict]:
    return page.evaluate("window.events")


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
        wait_for(lambda: emulator.streams() == ["browserpub"], 15, "the browser's stream to appear")
        assert emulator.core.streams["browserpub"]["video_codec"] == "H264"
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
            wait_for(lambda: emulator.viewer_count("browserpub") == 0, 5, "the viewer to be counted out")
    wait_for(lambda: len(emulator.hooks("closing")) == 2, 5, "closing webhooks for the publisher and the player")


@pytest.mark.browser
@pytest.mark.timeout(60)
def test_ovenlivekit_reports_a_refused_publish(emulator, chromium, pages):
    emulator.answer = lambda body: {"allowed": False, "reason": "no such key"}
    with browser_page(chromium, pages + "/publish.html", camera=True) as publisher:
        publisher.evaluate("url => window.publish(url)", f"{emulator.signalling_url}/app/denied?direction=send")
        publisher.wait_for_function("window.events.some(e => e.type === 'error')", timeout=10_000)
        errors = [e["detail"] for e in publisher_events(publisher) if e["type"] == "error"]
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
    assert emulator.viewer_count("notyet") == 0


def time_to_first_frame(emulator, chromium, pages, name: str) -> float:
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
def test_time_to_first_frame(chromium, pages, delay):
    server = Emulator(stream_delay=delay)
    try:
        samples = [time_to_first_frame(server, chromium, pages, f"ttff{i}") for i in range(3)]
    finally:
        server.stop()
    median = statistics.median(samples)
    print(f"\ntime to first frame with webrtc_stream_delay={delay}: median {median:.2f} s, samples {samples}")
    assert delay <= median < delay + 4, f"first frame after {median:.2f} s with a {delay} s stream delay"
