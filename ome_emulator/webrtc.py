"""WebRTC signalling and media relay of the OME emulator.

Speaks OvenMediaEngine 0.21's signalling on the WebSocket `/{app}/{stream}` exactly as OvenLiveKit (publishing,
`?direction=send`) and OvenPlayer (playing) expect it: the client sends `request_offer`, the server answers with an
`offer` (id, peer_id 0, sdp, UDP host candidates on the address the client reached us at, in OME 0.21's form, code
200, no `ice_servers`), the client sends its `answer`, trickles `candidate`s and may send `stop`. Every request passes
the emulator's admission webhook first; refusals, missing streams and duplicate publishers get OME's
`{"code": 404, "error": "Cannot create offer"}` and the socket is closed. The emulator has no direct TCP ICE
candidate and no TURN relay: whatever `?transport=` asks for (udp, tcp, relay, udptcp, all), it offers its UDP host
candidate and no `ice_servers`.

Media is relayed without transcoding, as OME does: the publisher's encoded frames (H264 or VP8, and Opus) are
re-packetized for every player. aiortc decodes everything it receives, so the publisher's receivers are given a
pass-through in place of their decoder queue, and players' tracks hand aiortc `av.Packet`s, which its senders
packetize as they are. Decoding and re-encoding 640x480 video per player would cost a 2-core machine 10-20 % of a
core per viewer; the pass-through costs next to nothing. A new player gets a keyframe by a PLI sent to the
publisher; players' own PLIs are forwarded too.

Streams that have no WebRTC publisher here (RTMP/SRT inputs, which the control API simulates without media) are played
as an H264 test pattern, encoded once per stream while someone watches, so players of such rooms show a picture.

The stream is listed (`emulator.add_stream`, not playable) as soon as the publisher's answer arrives, like OME, which
creates it then; it starts (`emulator.start_stream`) `emulator.settings.webrtc_stream_delay` seconds after the first
frame, like OME, which prepares the stream meanwhile (about 1.2 s on 0.21; 0.19 waited ~5 s for the first RTCP sender
report). Until then players get the 404 after their `opening` webhook, and no `closing`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ipaddress
import json
import logging
import queue
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit

import aioice.ice
import av
import av.filter
import av.video.frame
from aiohttp import WSMsgType, web
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.exceptions import InvalidAccessError, InvalidStateError
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters
from aiortc.sdp import SessionDescription, candidate_from_sdp

from .streams import StreamExists
from .webhooks import Client

logger = logging.getLogger("ome_emulator.webrtc")

CANNOT_CREATE_OFFER = {"code": 404, "error": "Cannot create offer"}

# Video codecs offered to publishers, most preferred first. H264 constrained baseline is what OME prefers and what
# the golden run negotiated with Chromium; VP8 is the fallback for browsers without an H264 encoder.
PUBLISH_VIDEO_CODECS = (
    ("video/H264", "42e01f"),
    ("video/H264", "42001f"),
    ("video/VP8", None),
)
# Seconds a client has from the offer until its peer connection is up; OME also drops sessions that never connect.
CONNECT_TIMEOUT = 30.0
# WebSocket ping interval: finds clients that vanished without closing the socket.
HEARTBEAT = 15.0
MAX_MESSAGE_BYTES = 256 * 1024
MAX_REMOTE_CANDIDATES = 64
# Encoded frames queued per player before it is considered stuck (then it restarts at the next keyframe).
VIDEO_QUEUE_FRAMES = 90
AUDIO_QUEUE_FRAMES = 150
# At most one keyframe request to a publisher per this many seconds.
KEYFRAME_REQUEST_INTERVAL = 0.5


# --- ICE: host candidates on one address only ------------------------------------------------------------------
# aioice gathers on every interface except loopback and has no option to choose; the emulator wants exactly the
# address the client reached the signalling server at (127.0.0.1 in tests, like OME's golden run). Gathering runs
# inside the task that calls setLocalDescription, so a context variable scopes the choice to our own calls.
_ice_addresses: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "ome_emulator_ice_addresses", default=None
)
_aioice_get_host_addresses = aioice.ice.get_host_addresses


def _get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    addresses = _ice_addresses.get()
    if addresses is None:
        return _aioice_get_host_addresses(use_ipv4, use_ipv6)
    return list(addresses)


def _install_ice_address_hook() -> None:
    aioice.ice.get_host_addresses = _get_host_addresses


def _local_address(request: web.Request) -> str:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    try:
        address = ipaddress.ip_address(sockname[0])
    except (TypeError, ValueError, IndexError):
        return "127.0.0.1"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_unspecified:
        return "127.0.0.1"
    return str(address)


# --- Encoded media fan-out --------------------------------------------------------------------------------------


def _is_keyframe(mime_type: str, data: bytes) -> bool:
    mime_type = mime_type.lower()
    if mime_type == "video/vp8":
        # VP8 frame tag: bit 0 of the first byte is 0 for a key frame (RFC 6386 section 9.1).
        return bool(data) and not data[0] & 0x01
    if mime_type == "video/h264":
        # Annex B as aiortc's depayloader produces it: look for an IDR slice (NAL type 5).
        start = data.find(b"\x00\x00\x01")
        while start != -1 and start + 3 < len(data):
            if data[start + 3] & 0x1F == 5:
                return True
            start = data.find(b"\x00\x00\x01", start + 3)
        return False
    return True


class _Feed:
    """One kind (audio or video) of a publisher's media: encoded frames in, fanned out to players' tracks."""

    def __init__(self, kind: str, on_frame: Callable[[_Feed], None], request_keyframe: Callable[[], None]) -> None:
        self.kind = kind
        self.codec: RTCRtpCodecParameters | None = None
        self.frames = 0
        self.ended = False
        self._subscribers: set[_FeedTrack] = set()
        self._on_frame = on_frame
        self.request_keyframe = request_keyframe
        # The latest video keyframe as received: what thumbnails are decoded from.
        self.last_keyframe: tuple[RTCRtpCodecParameters, bytes] | None = None

    def deliver(self, codec: RTCRtpCodecParameters, data: bytes, timestamp: int) -> None:
        if self.ended:
            return
        if self.codec is None or self.codec.mimeType.lower() != codec.mimeType.lower():
            self.codec = codec
        packet = av.Packet(data)
        packet.pts = timestamp
        packet.time_base = Fraction(1, codec.clockRate)
        keyframe = self.kind != "video" or _is_keyframe(codec.mimeType, data)
        if keyframe and self.kind == "video":
            self.last_keyframe = (codec, data)
        self.frames += 1
        for track in list(self._subscribers):
            track.push(packet, keyframe)
        self._on_frame(self)

    def subscribe(self, track: _FeedTrack) -> None:
        if self.ended:
            track.push_end()
            return
        self._subscribers.add(track)
        if self.kind == "video":
            self.request_keyframe()

    def unsubscribe(self, track: _FeedTrack) -> None:
        self._subscribers.discard(track)

    def finish(self) -> None:
        if self.ended:
            return
        self.ended = True
        for track in list(self._subscribers):
            track.push_end()
        self._subscribers.clear()


class _FeedTrack(MediaStreamTrack):
    """A player's track: hands aiortc's sender encoded `av.Packet`s (it packetizes them without encoding).

    It joins the feed when the sender first asks for media (the player's connection is up) and then waits for a
    keyframe, so a player never starts with frames it cannot decode. The queue is bounded: a player that falls
    behind is restarted at the next keyframe instead of buffering without limit.
    """

    def __init__(self, feed: _Feed) -> None:
        super().__init__()
        self.kind = feed.kind
        self._feed = feed
        self._queue: deque[av.Packet | None] = deque()
        self._limit = VIDEO_QUEUE_FRAMES if feed.kind == "video" else AUDIO_QUEUE_FRAMES
        self._wakeup = asyncio.Event()
        self._joined = False
        self._need_keyframe = feed.kind == "video"
        self.first_frame_sent_at: float | None = None

    def push(self, packet: av.Packet, keyframe: bool) -> None:
        if self._need_keyframe:
            if not keyframe:
                self._feed.request_keyframe()
                return
            self._need_keyframe = False
        if len(self._queue) >= self._limit:
            self._queue.clear()
            if self.kind == "video" and not keyframe:
                self._need_keyframe = True
                self._feed.request_keyframe()
                return
        self._queue.append(packet)
        self._wakeup.set()

    def push_end(self) -> None:
        self._queue.append(None)
        self._wakeup.set()

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if not self._joined:
            self._joined = True
            self._feed.subscribe(self)
        while not self._queue:
            self._wakeup.clear()
            await self._wakeup.wait()
            if self.readyState != "live":
                raise MediaStreamError
        packet = self._queue.popleft()
        if packet is None:
            self.stop()
            raise MediaStreamError
        if self.first_frame_sent_at is None:
            self.first_frame_sent_at = time.monotonic()
        return packet

    def stop(self) -> None:
        super().stop()
        self._feed.unsubscribe(self)
        self._queue.clear()
        self._wakeup.set()


class _PassThroughQueue:
    """Takes the place of an aiortc receiver's decoder queue: complete encoded frames go to the feed.

    The receiver still starts its decoder thread, which only waits here for the stop signal and then ends the
    (unused) remote track as usual.
    """

    def __init__(self, feed: _Feed) -> None:
        self._feed = feed
        self._stop: queue.SimpleQueue[None] = queue.SimpleQueue()

    def put(self, item: tuple[RTCRtpCodecParameters, Any] | None) -> None:
        if item is None:
            self._stop.put(None)
            self._feed.finish()
            return
        codec, frame = item
        self._feed.deliver(codec, frame.data, frame.timestamp)

    def get(self, *args: Any, **kwargs: Any) -> None:
        return self._stop.get()


def _pass_through(receiver: RTCRtpReceiver, feed: _Feed) -> None:
    attribute = "_RTCRtpReceiver__decoder_queue"
    if not hasattr(receiver, attribute):
        raise RuntimeError("this aiortc version has no receiver decoder queue: the WebRTC relay needs aiortc 1.x")
    setattr(receiver, attribute, _PassThroughQueue(feed))


def _capability(kind: str, mime_type: str, profile: str | None = None) -> RTCRtpCodecCapability | None:
    for codec in RTCRtpSender.getCapabilities(kind).codecs:
        if codec.mimeType.lower() != mime_type.lower():
            continue
        if profile is not None and str(codec.parameters.get("profile-level-id", "")).lower() != profile:
            continue
        return codec
    return None


def _publish_video_preferences() -> list[RTCRtpCodecCapability]:
    preferences = [_capability("video", mime, profile) for mime, profile in PUBLISH_VIDEO_CODECS]
    preferences.append(_capability("video", "video/rtx"))
    return [codec for codec in preferences if codec is not None]


def _audio_preferences() -> list[RTCRtpCodecCapability]:
    opus = _capability("audio", "audio/opus")
    return [opus] if opus else []


def _play_video_preferences(codec: RTCRtpCodecParameters | None) -> list[RTCRtpCodecCapability]:
    """The player gets exactly the publisher's codec: the frames are passed through, not transcoded."""
    if codec is None:
        return _publish_video_preferences()
    profile = None
    if codec.mimeType.lower() == "video/h264":
        profile = str(codec.parameters.get("profile-level-id", "")).lower() or None
    match = _capability("video", codec.mimeType, profile) or _capability("video", codec.mimeType)
    if match is None:
        return _publish_video_preferences()
    rtx = _capability("video", "video/rtx")
    return [match, rtx] if rtx else [match]


def _ome_candidate(line: str) -> str:
    """aiortc's host candidate written as OME 0.21 writes its own: a 64-bit foundation, `UDP`, priority 2130706431
    (`candidate:<foundation> 1 UDP 2130706431 IP PORT typ host`). The peer uses the address and port; foundation and
    priority only order its checks."""
    parts = line.split()
    if len(parts) < 8 or parts[2].lower() != "udp" or parts[7] != "host":
        return line
    return " ".join([f"candidate:{random.getrandbits(64)}", parts[1], "UDP", "2130706431", *parts[4:]])


def _split_candidates(sdp: str) -> tuple[str, list[dict[str, Any]]]:
    """OME sends its candidates beside the SDP, not in it: move the first m-section's candidates out."""
    lines = sdp.split("\r\n")
    candidates: list[dict[str, Any]] = []
    kept = []
    section = -1
    for line in lines:
        if line.startswith("m="):
            section += 1
        if line.startswith("a=candidate:"):
            if section == 0:
                candidates.append({"candidate": _ome_candidate(line[2:]), "sdpMLineIndex": 0})
            continue
        if line == "a=end-of-candidates":
            continue
        kept.append(line)
    return "\r\n".join(kept), candidates


# --- Sessions ---------------------------------------------------------------------------------------------------


@dataclass
class _NegotiatedMedia:
    video: RTCRtpCodecParameters | None
    audio: RTCRtpCodecParameters | None
    video_ssrc: int | None


def _negotiated(answer_sdp: str) -> _NegotiatedMedia:
    found: dict[str, RTCRtpCodecParameters | None] = {"audio": None, "video": None}
    video_ssrc = None
    for media in SessionDescription.parse(answer_sdp).media:
        if media.kind not in found or media.direction in ("inactive", "recvonly") or media.port == 0:
            continue
        codecs = [c for c in media.rtp.codecs if c.mimeType.lower() not in ("video/rtx", "video/red", "video/ulpfec")]
        if codecs and found[media.kind] is None:
            found[media.kind] = codecs[0]
            if media.kind == "video":
                # `a=ssrc-group:FID media rtx` names the media SSRC first.
                groups = [g.items for g in media.ssrc_group if g.semantic == "FID" and g.items]
                video_ssrc = int(groups[0][0]) if groups else (media.ssrc[0].ssrc if media.ssrc else None)
    return _NegotiatedMedia(video=found["video"], audio=found["audio"], video_ssrc=video_ssrc)


class _Session:
    """One signalling WebSocket and the peer connection negotiated over it."""

    direction = ""  # "incoming" (publisher) or "outgoing" (player), as in the admission webhook

    def __init__(self, hub: _Hub, request: web.Request, ws: web.WebSocketResponse) -> None:
        self.hub = hub
        self.emulator = hub.emulator
        self.ws = ws
        scheme = "wss" if request.secure else "ws"
        # The URL exactly as the client used it (query included) for the webhook; it is never logged.
        self.url = f"{scheme}://{request.host}{request.raw_path}"
        self.final_url = self.url
        peer = request.transport.get_extra_info("peername") if request.transport else None
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
        self.client = Client(
            address=str(peer[0]) if peer else (request.remote or ""),
            port=int(peer[1]) if peer else 0,
            user_agent=request.headers.get("User-Agent"),
            real_ip=request.headers.get("X-Real-IP") or forwarded or None,
        )
        self.local_address = _local_address(request)
        self.offer_id = random.randint(1, 2**31 - 1)
        self.pc: RTCPeerConnection | None = None
        self.name = ""
        self.established = False  # the answer was accepted: OME sends `closing` for these sessions only
        self.closed = False
        self._remote_candidates = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    def __str__(self) -> str:
        role = "publisher" if self.direction == "incoming" else "player"
        stream = f"{self.emulator.app}/{self.name}" if self.name else "(no stream)"
        return f"{role} {stream} from {self.client.address}:{self.client.port}"

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def run(self) -> None:
        async for message in self.ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                data = json.loads(message.data)
            except ValueError:
                data = None
            if not isinstance(data, dict):
                await self.fail(400, "Invalid message: expected a JSON object")
                break
            command = data.get("command")
            try:
                if command == "request_offer":
                    await self.on_request_offer()
                elif command == "answer":
                    await self.on_answer(data)
                elif command == "candidate":
                    await self.on_candidate(data)
                elif command == "change_rendition":
                    await self.on_change_rendition(data)
                elif command == "stop":
                    logger.info("%s sent stop", self)
                    break
                # Anything else (OvenPlayer's "pong") needs no answer from the emulator.
            except _ProtocolError as error:
                await self.fail(400, str(error))
                break
            if self.closed or self.ws.closed:
                break

    async def fail(self, code: int, error: str) -> None:
        logger.info("%s: %s (%d)", self, error, code)
        await self.send({"code": code, "error": error})
        await self.close(error)

    async def refuse(self, why: str) -> None:
        logger.info("%s: cannot create offer (%s)", self, why)
        await self.send(CANNOT_CREATE_OFFER)
        await self.close(why)

    async def send(self, message: dict[str, Any]) -> None:
        if self.ws.closed:
            return
        try:
            await self.ws.send_str(json.dumps(message))
        except (ConnectionError, RuntimeError):
            pass

    async def admit(self) -> bool:
        admission = await self.emulator.admit(
            direction=self.direction, protocol="WebRTC", url=self.url, client=self.client
        )
        if self.closed:
            return False
        if not admission.allowed:
            await self.refuse("refused by the admission webhook")
            return False
        if admission.new_url:
            self.final_url = admission.new_url
        if admission.lifetime_ms and admission.lifetime_ms > 0:
            self.spawn(self._expire(admission.lifetime_ms / 1000))
        return True

    def stream_of_final_url(self) -> str | None:
        try:
            app, name = self.emulator.stream_name_of(self.final_url)
        except ValueError:
            return None
        if app != self.emulator.app or not name:
            return None
        return name

    async def _expire(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        logger.info("%s: admission lifetime is over, disconnecting", self)
        await self.close("lifetime expired")

    def new_peer_connection(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))

        @pc.on("connectionstatechange")
        async def _state() -> None:
            logger.debug("%s: peer connection %s", self, pc.connectionState)
            if pc.connectionState in ("failed", "closed") and not self.closed:
                await self.close(f"peer connection {pc.connectionState}")

        self.pc = pc
        return pc

    async def send_offer(self) -> None:
        assert self.pc is not None
        token = _ice_addresses.set((self.local_address,))
        try:
            await self.pc.setLocalDescription(await self.pc.createOffer())
        finally:
            _ice_addresses.reset(token)
        if self.closed:
            return
        sdp, candidates = _split_candidates(self.pc.localDescription.sdp)
        await self.send(
            {
                "command": "offer",
                "id": self.offer_id,
                "peer_id": 0,
                "sdp": {"type": "offer", "sdp": sdp},
                "candidates": candidates,
                "code": 200,
            }
        )
        logger.info("%s: offer sent", self)
        self.spawn(self._connect_watchdog())

    async def _connect_watchdog(self) -> None:
        await asyncio.sleep(CONNECT_TIMEOUT)
        if self.pc is not None and self.pc.connectionState != "connected":
            logger.info("%s: no connection %.0f s after the offer, disconnecting", self, CONNECT_TIMEOUT)
            await self.close("connection timeout")

    async def on_request_offer(self) -> None:
        raise NotImplementedError

    async def on_answer(self, data: dict[str, Any]) -> None:
        if self.pc is None or self.established:
            raise _ProtocolError("Unexpected answer")
        if data.get("id") not in (None, self.offer_id):
            raise _ProtocolError("Answer for an unknown offer id")
        sdp = data.get("sdp")
        if not isinstance(sdp, dict) or not isinstance(sdp.get("sdp"), str) or sdp.get("type", "answer") != "answer":
            raise _ProtocolError("Invalid answer: sdp must be {type: answer, sdp: ...}")
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp["sdp"], type="answer"))
        except (ValueError, AssertionError, KeyError, InvalidAccessError, InvalidStateError) as error:
            raise _ProtocolError(f"Invalid answer: {error}") from None
        self.established = True
        await self.on_established(sdp["sdp"])

    async def on_established(self, answer_sdp: str) -> None:
        pass

    async def on_change_rendition(self, data: dict[str, Any]) -> None:
        pass

    async def on_candidate(self, data: dict[str, Any]) -> None:
        if self.pc is None:
            return
        candidates = data.get("candidates")
        if not isinstance(candidates, list):
            raise _ProtocolError("Invalid candidate message: candidates must be a list")
        for item in candidates:
            if not isinstance(item, dict):
                continue
            line = item.get("candidate")
            if not isinstance(line, str) or not line.strip():
                continue  # end of candidates: OME does not wait for it either
            self._remote_candidates += 1
            if self._remote_candidates > MAX_REMOTE_CANDIDATES:
                return
            try:
                candidate = candidate_from_sdp(line.split(":", 1)[1] if line.startswith("candidate:") else line)
            except (AssertionError, ValueError, IndexError):
                logger.debug("%s: ignoring a malformed candidate", self)
                continue
            if candidate.ip.endswith(".local") or candidate.protocol.lower() != "udp":
                # mDNS names would need a multicast lookup, and aiortc has no ICE-TCP; the browser's checks
                # reach our host candidate anyway (peer-reflexive), as with OME on loopback.
                continue
            mid = item.get("sdpMid")
            index = item.get("sdpMLineIndex")
            candidate.sdpMid = str(mid) if mid is not None else None
            candidate.sdpMLineIndex = index if isinstance(index, int) else (0 if mid is None else None)
            try:
                await self.pc.addIceCandidate(candidate)
            except (ValueError, ConnectionError) as error:
                logger.debug("%s: candidate not added: %s", self, error)

    async def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        logger.info("%s: closing (%s)", self, reason)
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        await self.teardown()
        if self.pc is not None:
            try:
                await self.pc.close()
            except Exception:  # a half-negotiated connection may fail to close; it is gone either way
                logger.debug("%s: error while closing the peer connection", self, exc_info=True)
        if self.established:
            # Awaited, not fired and forgotten: on shutdown the webhook must be out before the process ends.
            await self.emulator.closing(
                direction=self.direction, protocol="WebRTC", url=self.url, new_url=self.final_url, client=self.client
            )
        await self.after_close()
        if not self.ws.closed:
            if current is self.hub.reader_of(self):
                await self.ws.close()
            else:
                # Another task (stream removed, lifetime, shutdown): the socket's reader finishes the handshake.
                self.hub.background(self.ws.close())

    async def teardown(self) -> None:
        pass

    async def after_close(self) -> None:
        pass


class _ProtocolError(Exception):
    pass


class _Publisher(_Session):
    direction = "incoming"

    def __init__(self, hub: _Hub, request: web.Request, ws: web.WebSocketResponse) -> None:
        super().__init__(hub, request, ws)
        self.video = _Feed("video", self._on_frame, self.request_keyframe)
        self.audio = _Feed("audio", self._on_frame, lambda: None)
        self.players: set[_Player] = set()
        self.listed = False  # the stream is in the emulator's list (from the answer on)
        self.live = False  # and it started: players are served
        self.registered = False
        self.first_frame_at: float | None = None
        self.live_at: float | None = None
        self._expects_video = True
        self._video_receiver: RTCRtpReceiver | None = None
        self._video_ssrc: int | None = None
        self._last_keyframe_request = 0.0
        self._go_live_task: asyncio.Task[Any] | None = None

    async def on_request_offer(self) -> None:
        if self.pc is not None or self.name:
            return
        if not await self.admit():
            return
        name = self.stream_of_final_url()
        if name is None:
            await self.refuse("no such application")
            return
        self.name = name
        if self.hub.publishers.get(name) is not None or self.emulator.has_stream(name):
            await self.refuse("the stream is already being published")
            return
        self.hub.publishers[name] = self
        self.registered = True
        pc = self.new_peer_connection()
        audio = pc.addTransceiver("audio", direction="recvonly")
        audio.setCodecPreferences(_audio_preferences())
        video = pc.addTransceiver("video", direction="recvonly")
        video.setCodecPreferences(_publish_video_preferences())
        _pass_through(audio.receiver, self.audio)
        _pass_through(video.receiver, self.video)
        self._video_receiver = video.receiver
        await self.send_offer()

    async def on_established(self, answer_sdp: str) -> None:
        media = _negotiated(answer_sdp)
        self._expects_video = media.video is not None
        self._video_ssrc = media.video_ssrc
        if media.video is not None:
            self.video.codec = media.video
        if media.audio is not None:
            self.audio.codec = media.audio
        logger.info(
            "%s: answered with %s",
            self,
            " + ".join(c.mimeType.split("/")[1] for c in (media.video, media.audio) if c is not None) or "no media",
        )
        # OME creates the stream when the answer arrives (WebRTCProvider::OnAddRemoteDescription): listed from now on,
        # served only once it started.
        video_codec = self.video.codec.mimeType.split("/")[1].upper() if self.video.codec else "H264"
        try:
            self.emulator.add_stream(
                self.name,
                source_type="WebRTC",
                source_url=f"TCP://{self.client.address}:{self.client.port}/tcp",
                video_codec=video_codec,
                audio_codec="Opus",
                on_remove=self._removed_from_outside,
                playable=False,
            )
        except StreamExists:
            await self.close("another input took the stream name")
            return
        self.listed = True
        # OME asks its TranscodeWebhook which outputs to make as soon as it creates the stream.
        stream = self.emulator.streams.by_name[self.name]
        stream.transcoding = asyncio.ensure_future(self.emulator.transcode(self.name))

    def _on_frame(self, feed: _Feed) -> None:
        if self.first_frame_at is not None or self.closed or not self.listed:
            return
        if feed.kind != "video" and self._expects_video:
            return
        self.first_frame_at = time.monotonic()
        delay = float(getattr(self.emulator.settings, "webrtc_stream_delay", 0) or 0)
        logger.info("%s: media arrived, the stream starts in %.1f s", self, delay)
        self._go_live_task = self.spawn(self._go_live(delay))

    async def _go_live(self, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        if self.closed or not self.listed:
            return
        if not await self.emulator.transcoded(self.name):
            logger.info("%s: no outputs (the transcode webhook refused): the stream never starts", self)
            return
        if self.closed or not self.listed:
            return
        self.emulator.start_stream(self.name)
        self.live = True
        self.live_at = time.monotonic()
        logger.info("%s: the stream is live", self)

    async def _removed_from_outside(self) -> None:
        # Called by remove_stream (REST DELETE, control API, shutdown, or our own teardown: then a no-op).
        if not self.closed:
            self.listed = self.live = False  # already removed: close() must not remove it again
            await self.close("the stream was removed")

    def request_keyframe(self) -> None:
        now = time.monotonic()
        receiver = self._video_receiver
        if receiver is None or self.closed or now - self._last_keyframe_request < KEYFRAME_REQUEST_INTERVAL:
            return
        # The media SSRC from the answer; failing that every active SSRC (one of them may be RTX padding, which
        # browsers send first to probe bandwidth: a PLI naming it would be ignored).
        ssrcs = [self._video_ssrc] if self._video_ssrc else [s.source for s in receiver.getSynchronizationSources()]
        if not ssrcs:
            return
        self._last_keyframe_request = now
        logger.debug("%s: asking for a keyframe", self)
        for ssrc in ssrcs:
            # A PLI makes the browser send a keyframe right away (RFC 4585 section 6.3.1).
            self.spawn(receiver._send_rtcp_pli(ssrc))

    async def teardown(self) -> None:
        if self.registered and self.hub.publishers.get(self.name) is self:
            del self.hub.publishers[self.name]
        self.video.finish()
        self.audio.finish()
        self.live = False
        if self.listed:
            self.listed = False
            try:
                await self.emulator.remove_stream(self.name)
            except Exception:
                logger.exception("%s: removing the stream failed", self)

    async def after_close(self) -> None:
        # After the publisher's own `closing` webhook, as OME orders them.
        await asyncio.gather(*(player.close("the publisher left") for player in list(self.players)))


class _TestPattern:
    """Video for players of a stream that has no WebRTC publisher here: RTMP and SRT inputs (and the control
    API's simulated publishers) carry no media in the emulator, but real OME would play them over WebRTC.

    One H264 encoder per stream, whatever the number of players (x264 ultrafast, 640x360 at 15 fps: about 1 ms
    of CPU per frame), running only while someone watches; players are disconnected when the stream ends.
    """

    WIDTH, HEIGHT, FPS = 640, 360, 15
    IDLE_SECONDS = 5.0

    def __init__(self, hub: _Hub, name: str) -> None:
        self.hub = hub
        self.name = name
        self.video = _Feed("video", lambda feed: None, self.request_keyframe)
        self.video.codec = RTCRtpCodecParameters(
            mimeType="video/H264",
            clockRate=90000,
            parameters={"level-asymmetry-allowed": "1", "packetization-mode": "1", "profile-level-id": "42e01f"},
        )
        self.audio = _Feed("audio", lambda feed: None, lambda: None)  # no codec: players get video only
        self.players: set[_Player] = set()
        self.live = True
        self.closed = False
        self._keyframe = True
        self._task = asyncio.ensure_future(self._run())

    def request_keyframe(self) -> None:
        self._keyframe = True

    def _encoder(self) -> tuple[Any, Any, Any]:
        graph = av.filter.Graph()
        source = graph.add("testsrc2", f"size={self.WIDTH}x{self.HEIGHT}:rate={self.FPS}")
        yuv = graph.add("format", "yuv420p")
        sink = graph.add("buffersink")
        source.link_to(yuv)
        yuv.link_to(sink)
        graph.configure()
        encoder = av.CodecContext.create("libx264", "w")
        encoder.width, encoder.height, encoder.pix_fmt = self.WIDTH, self.HEIGHT, "yuv420p"
        encoder.time_base = Fraction(1, 90000)
        encoder.framerate = Fraction(self.FPS, 1)
        encoder.bit_rate = 500_000
        encoder.gop_size = self.FPS * 4
        encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline"}
        return graph, sink, encoder

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        idle_since: float | None = None
        try:
            graph, sink, encoder = self._encoder()  # the sink only refers weakly to its graph: keep it
            started = next_at = loop.time()
            frame_index = 0
            while self.hub.emulator.has_stream(self.name) and self.hub.publishers.get(self.name) is None:
                if self.players:
                    idle_since = None
                elif idle_since is None:
                    idle_since = loop.time()
                elif loop.time() - idle_since > self.IDLE_SECONDS:
                    break
                frame = sink.pull()
                frame.pts = round((next_at - started) * 90000)
                frame.time_base = Fraction(1, 90000)
                # Filter frames come marked as I-frames: only a requested keyframe should be one.
                frame.pict_type = av.video.frame.PictureType.I if self._keyframe else av.video.frame.PictureType.NONE
                self._keyframe = False
                for packet in encoder.encode(frame):
                    self.video.deliver(self.video.codec, bytes(packet), frame.pts)
                frame_index += 1
                next_at = started + frame_index / self.FPS
                await asyncio.sleep(max(0.0, next_at - loop.time()))
            del graph
        except Exception:
            logger.exception("test pattern for %s/%s failed", self.hub.emulator.app, self.name)
        finally:
            self.closed = True
            self.live = False
            if self.hub.test_patterns.get(self.name) is self:
                del self.hub.test_patterns[self.name]
            self.video.finish()
            await asyncio.gather(*(player.close("the stream ended") for player in list(self.players)))

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class _Player(_Session):
    direction = "outgoing"

    def __init__(self, hub: _Hub, request: web.Request, ws: web.WebSocketResponse) -> None:
        super().__init__(hub, request, ws)
        self.publisher: _Publisher | _TestPattern | None = None
        self.viewer_id: str | None = None
        self.tracks: list[_FeedTrack] = []
        # The playlist played (`/app/stream/FILE`, default webrtc_default) and the rendition sent. The
        # emulator does not scale video: every rendition carries the source's frames.
        self.playlist: dict[str, Any] | None = None
        self.rendition = ""
        self.auto_abr = False

    async def on_request_offer(self) -> None:
        if self.pc is not None or self.name:
            return
        if not await self.admit():
            return
        name = self.stream_of_final_url()
        self.name = name or ""
        publisher: _Publisher | _TestPattern | None = self.hub.publishers.get(name) if name else None
        if publisher is None and name and self.emulator.input_of(name) is not None:
            publisher = self.hub.test_pattern(name)  # a started stream without media here (RTMP, SRT, control API)
        if publisher is None or not publisher.live or publisher.closed:
            await self.refuse(
                "no such stream" if name and not self.emulator.has_stream(name) else "stream not playable"
            )
            return
        segments = urlsplit(self.final_url).path.split("/")
        file_name = segments[3] if len(segments) > 3 else ""
        stream = self.emulator.input_of(name)
        outputs = stream.outputs if stream is not None else None
        self.playlist = outputs.webrtc_playlist(name, file_name or "webrtc_default") if outputs else None
        if file_name and self.playlist is None:
            await self.refuse(f"no WebRTC playlist {file_name!r}")
            return
        if self.playlist is not None:
            self.rendition = self.playlist.pop("first")
            self.auto_abr = bool(self.playlist["auto"])
        self.publisher = publisher
        publisher.players.add(self)
        pc = self.new_peer_connection()
        # Same m-line order as the publisher's offer; each track carries the publisher's encoded frames.
        for feed, preferences in (
            (publisher.audio, _audio_preferences()),
            (publisher.video, _play_video_preferences(publisher.video.codec)),
        ):
            if feed.codec is None:
                continue
            track = _FeedTrack(feed)
            self.tracks.append(track)
            transceiver: RTCRtpTransceiver = pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences(preferences)
            if feed.kind == "video":
                # The player lost a picture (or just started): ask the publisher, our sender cannot encode one.
                transceiver.sender._send_keyframe = feed.request_keyframe  # type: ignore[method-assign]
        await self.send_offer()

    async def on_established(self, answer_sdp: str) -> None:
        try:
            self.viewer_id = self.emulator.add_viewer(self.name, "webrtc")
        except LookupError:
            await self.close("the stream ended")
            return
        if self.playlist is not None:
            # OME's RtcSession: the playlist, then the rendition it starts with.
            await self.send({"command": "notification", "type": "playlist", "message": self.playlist})
            await self._rendition_changed()

    async def _rendition_changed(self) -> None:
        message = {"auto": self.auto_abr, "rendition_name": self.rendition}
        await self.send({"command": "notification", "type": "rendition_changed", "message": message})

    async def on_change_rendition(self, data: dict[str, Any]) -> None:
        """OvenPlayer's quality menu: a rendition by name (auto off), or automatic switching on or off."""
        if self.playlist is None or not self.established:
            return
        if isinstance(data.get("auto"), bool):
            self.auto_abr = data["auto"]
        name = data.get("rendition_name")
        if isinstance(name, str):
            if name not in {rendition["name"] for rendition in self.playlist["renditions"]}:
                logger.info("%s: no rendition %r to change to", self, name)
                return
            self.rendition = name
            if self.publisher is not None:
                self.publisher.video.request_keyframe()  # OME switches at the next keyframe
        await self._rendition_changed()

    async def teardown(self) -> None:
        if self.publisher is not None:
            self.publisher.players.discard(self)
        for track in self.tracks:
            track.stop()
        if self.viewer_id is not None:
            viewer_id, self.viewer_id = self.viewer_id, None
            try:
                self.emulator.remove_viewer(viewer_id)
            except Exception:
                logger.exception("%s: removing the viewer failed", self)


# --- The signalling server --------------------------------------------------------------------------------------


class _Hub:
    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.publishers: dict[str, _Publisher] = {}
        self.test_patterns: dict[str, _TestPattern] = {}
        self.sessions: dict[_Session, asyncio.Task[Any] | None] = {}
        self._background: set[asyncio.Task[Any]] = set()

    def test_pattern(self, name: str) -> _TestPattern:
        source = self.test_patterns.get(name)
        if source is None or source.closed:
            source = self.test_patterns[name] = _TestPattern(self, name)
        return source

    def reader_of(self, session: _Session) -> asyncio.Task[Any] | None:
        return self.sessions.get(session)

    def background(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task failed", exc_info=task.exception())

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=MAX_MESSAGE_BYTES)
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="This is the WebRTC signalling endpoint: connect with a WebSocket.\n")
        await ws.prepare(request)
        session: _Session = (_Publisher if request.query.get("direction") == "send" else _Player)(self, request, ws)
        self.sessions[session] = asyncio.current_task()
        try:
            await session.run()
        except Exception:
            logger.exception("%s: signalling failed", session)
        finally:
            try:
                await session.close("signalling closed")
            finally:
                self.sessions.pop(session, None)
        return ws

    async def shutdown(self, app: web.Application | None = None) -> None:
        sessions = list(self.sessions)
        await asyncio.gather(*(session.close("the server is shutting down") for session in sessions))
        await asyncio.gather(*(source.stop() for source in list(self.test_patterns.values())))
        if self._background:
            _done, pending = await asyncio.wait(list(self._background), timeout=5)
            for task in pending:
                task.cancel()


def _is_aiortc_connect_after_close(context: dict[str, Any]) -> bool:
    """aiortc connects a peer connection in a task of its own that nobody awaits. When the connection is closed
    in the middle of it (a client hanging up during the DTLS handshake), the task ends with "RTCIceTransport is
    closed", which asyncio reports as a never-retrieved exception with a traceback."""
    task = context.get("future")
    coroutine = task.get_coro() if isinstance(task, asyncio.Task) else None
    return isinstance(context.get("exception"), (InvalidStateError, ConnectionError)) and getattr(
        coroutine, "__qualname__", ""
    ).endswith("RTCPeerConnection.__connect")


async def _quiet_aiortc_teardown_races(app: web.Application) -> None:
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if _is_aiortc_connect_after_close(context):
            logger.debug("a peer connection closed while connecting: %s", context["exception"])
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)


HUB_KEY: web.AppKey[_Hub] = web.AppKey("ome_emulator_webrtc_hub", _Hub)


def setup_signalling(app: web.Application, emulator: Any) -> None:
    """Add OME's WebRTC signalling (`GET /{app}/{stream}` with a WebSocket upgrade) to the signalling app."""
    _install_ice_address_hook()
    # aioice logs every candidate pair's state change at INFO: a dozen lines per connection on stderr.
    if logging.getLogger("aioice").level == logging.NOTSET:
        logging.getLogger("aioice").setLevel(logging.WARNING)
    hub = _Hub(emulator)
    app[HUB_KEY] = hub
    app.router.add_get("/{app}/{stream}", hub.handle)
    app.router.add_get("/{app}/{stream}/{playlist}", hub.handle)  # an ABR playlist: /app/stream/abr
    app.on_startup.append(_quiet_aiortc_teardown_races)
    app.on_shutdown.append(hub.shutdown)
