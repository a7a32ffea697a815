"""The emulator's state: live streams, pushes, records, viewers — and how they behave.

One `Emulator` lives in one asyncio loop and is shared by the REST API (rest.py), the WebRTC
signalling (webrtc.py, another helper's module), LL-HLS (llhls.py) and the control API.
Behaviour follows OME 0.21.0 as recorded in tests/ome_golden/ and, where the recordings are
silent, OME's source (publishers/push/push_application.cpp, publishers/file/file_application.cpp,
publishers/file/file_session.cpp):

- an input stream is listed as soon as it is created and served (players, pushes, records) only
  once it started (a browser's stream `webrtc_stream_delay` seconds after its first frame); a
  player refused meanwhile got its `opening` webhook, gets no `closing` and is not in the stats;
- a push or record waits in `ready` until its stream (input name or output variant) is live;
  pushes are (re)started by a periodic session-control tick (`connecting`, then `pushing` once the
  destination took the stream), records as soon as the stream starts;
- when the stream ends, a push's session stops (`stopped`, sequence + 1, bytes move to the
  totals) and the push goes back to `ready`, kept, and restarts when the stream comes back;
  a record finishes its file + info XML entry (lastSequence false) and goes back to `ready`;
- a push to a failing destination goes `error` and is retried on every tick, like OME;
- `stopPush` marks the push; it stays listed as it was for a moment, then a tick stops it and
  removes it from `:pushes`;
- `stopRecord` answers `stopping` (with the output paths as they were while recording) and the
  record is gone from `:records` at once;
- an LL-HLS player's session is reported `closing` right after its `opening` (OME 0.21 closes it
  with the playlist request's connection), while the player counts in the stats until it leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import re
import secrets
import string
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import media
from .webhooks import WebhookSender, build_body

log = logging.getLogger("ome_emulator")

EPOCH = datetime.fromtimestamp(0, UTC)
DEFAULT_FILE_PATH = "/${VirtualHost}/${Application}/${Stream}/${StartTime:YYYYMMDDhhmmss}_${EndTime:YYYYMMDDhhmmss}.ts"
DEFAULT_INFO_PATH = "/${VirtualHost}/${Application}/${Stream}.xml"
PROTOCOL_BY_SCHEME = {
    "rtmp": "RTMP",
    "rtmps": "RTMP",
    "srt": "SRT",
    "ws": "WebRTC",
    "wss": "WebRTC",
    "http": "LLHLS",
    "https": "LLHLS",
}
CONNECTION_KEYS = ("file", "hlsv3", "llhls", "ovt", "push", "srt", "thumbnail", "webrtc")
# Bytes per second of a typical 640x352 30 fps OBS stream (golden stats: ~46 kB/s in).
STREAM_BYTES_PER_SECOND = 45_900
PUSH_BYTES_PER_SECOND = 41_200
FIRST_KEYFRAME_DELAY = 0.04
DEFAULT_WEBRTC_STREAM_DELAY = 1.2
# OME 0.21 (golden session): a push is `connecting` from its session's start, `pushing` once the
# destination took the stream (0.5-0.7 s after startPush, the session started at ~0.2-0.4 s).
PUSH_CONNECT_SECONDS = 0.3
# After stopPush OME 0.21 keeps listing the push with its last state for a moment (golden:
# gone within 2 s); the next session-control tick after this long removes it.
PUSH_LINGER_SECONDS = 1.5


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """OME's timestamp format: local time, milliseconds, `+00:00` style offset."""
    local = moment.astimezone()
    offset = local.strftime("%z")
    return f"{local.strftime('%Y-%m-%dT%H:%M:%S')}.{local.microsecond // 1000:03d}{offset[:3]}:{offset[3:]}"


def _random_id(length: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


_MACRO = re.compile(r"\$\{([a-zA-Z0-9:]+)\}")


def expand_macros(
    template: str,
    *,
    vhost: str,
    app: str,
    stream: str,
    sequence: int,
    record_id: str,
    transaction_id: str,
    start: datetime,
    end: datetime,
) -> str:
    """OME's FilePath/InfoPath macros; times are local time like OME (EndTime is the epoch
    while recording). Unknown macros are left as they are."""

    def time_text(group: str, name: str, moment: datetime) -> str:
        local = moment.astimezone()
        text = group.replace(f"{name}:", "")
        for key, fmt in (("YYYY", "%Y"), ("MM", "%m"), ("DD", "%d"), ("hh", "%H"), ("mm", "%M"), ("ss", "%S")):
            text = text.replace(key, local.strftime(fmt))
        return text

    def substitute(match: re.Match[str]) -> str:
        group = match.group(1)
        if "VirtualHost" in group:
            return vhost
        if "Application" in group:
            return app
        if "Stream" in group:
            return stream
        if "Sequence" in group:
            return str(sequence)
        if group.startswith("Id"):
            return record_id
        if group.startswith("TransactionId"):
            return transaction_id
        if "StartTime" in group:
            return time_text(group, "StartTime", start)
        if "EndTime" in group:
            return time_text(group, "EndTime", end)
        return match.group(0)

    return _MACRO.sub(substitute, template)


# --- the interface shared with webrtc.py (see /work/notes/emulator-interface.md) ------------


@dataclass(frozen=True)
class Client:
    """The peer as OME reports it in webhooks."""

    address: str
    port: int
    user_agent: str | None = None
    real_ip: str | None = None  # X-Real-IP / X-Forwarded-For; defaults to address


@dataclass(frozen=True)
class Admission:
    allowed: bool
    new_url: str | None = None
    lifetime_ms: int = 0
    reason: str | None = None


class StreamExists(Exception):
    """An input stream with that name is already live."""


class ApiError(Exception):
    """An OME REST error: rest.py renders it as `[HTTP] message (status)`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class ControlError(Exception):
    """Bad input to the control API (/emulator/...)."""

    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


@dataclass
class Settings:
    token: str = "ome-access-token"
    vhost: str = "default"
    app: str = "app"
    host: str = "127.0.0.1"
    webhook_url: str | None = None
    webhook_secret: str = ""
    webhook_timeout_ms: int = 3000
    recordings_dir: Path = field(default_factory=lambda: Path("recordings"))
    rtmp_variant_suffix: str = "_rtmp"
    # OME 0.21 serves a WebRTC ingest about 1.2 s after it started (measured, see the golden
    # recordings' CHANGES-SINCE-0.19.md); 0.19 waited ~5 s for the first RTCP sender report.
    webrtc_stream_delay: float = DEFAULT_WEBRTC_STREAM_DELAY
    file_path: str = DEFAULT_FILE_PATH
    info_path: str = DEFAULT_INFO_PATH
    session_tick: float = 0.5  # OME's push session control runs every second; half keeps tests quick


# --- state ------------------------------------------------------------------------------------


@dataclass
class LiveStream:
    name: str
    source_type: str
    source_url: str
    video_codec: str
    audio_codec: str
    created: datetime
    started: float  # monotonic
    on_remove: Callable[[], Awaitable[None] | None] | None
    bytes_per_second: int
    max_connections: int = 0
    max_connections_time: datetime = EPOCH
    departed_bytes_out: float = 0.0  # bytes sent to viewers that left and push sessions that ended
    # OME lists an input stream as soon as its provider creates it, but publishes it (players,
    # pushes, records) only once it started: a WebRTC stream ~5 s later, after the first RTCP SR;
    # one whose output profile cannot be encoded, never. Players meanwhile are refused.
    playable: bool = True
    start_task: asyncio.Task[None] | None = None  # the control API's delayed start


@dataclass
class Viewer:
    id: str
    stream: str  # input stream name
    output: str
    protocol: str  # stats key: webrtc, llhls
    started: float
    # Set for viewers made through the control API (their closing webhook is ours to send).
    url: str | None = None
    new_url: str | None = None
    webhook_protocol: str | None = None
    client: Client | None = None
    lifetime_task: asyncio.Task[None] | None = None


@dataclass
class Publisher:
    """A publisher simulated through the control API (RTMP, SRT or a WebRTC stand-in)."""

    id: str
    stream: str
    protocol: str
    url: str
    new_url: str
    client: Client
    lifetime_task: asyncio.Task[None] | None = None


@dataclass
class Push:
    id: str
    stream_name: str
    protocol: str
    url: str
    stream_key: str
    track_ids: list[int]
    variant_names: list[str]
    created: datetime
    state: str = "ready"
    session: str | None = None  # None | "started" | "error"
    start_time: datetime = EPOCH
    sequence: int = 0
    bytes_done: float = 0.0  # of the current sequence, up to `pushing_since`
    pushing_since: float | None = None  # monotonic, while bytes flow
    sent_time_ms: int = 0  # frozen value when not pushing
    total_bytes: float = 0.0
    total_time_ms: int = 0
    removed: bool = False
    removed_at: float = 0.0  # monotonic, when stopPush was asked
    attempt: int = 0  # sessions started so far: a late connect timer must not touch a newer one
    last_error: str | None = None

    def sent_bytes(self, mono: float) -> int:
        flowing = (mono - self.pushing_since) * PUSH_BYTES_PER_SECOND if self.pushing_since is not None else 0
        return int(self.bytes_done + flowing)

    def sent_time(self, moment: datetime) -> int:
        if self.pushing_since is not None:
            return int((moment - self.start_time).total_seconds() * 1000)
        return self.sent_time_ms

    def destination(self) -> str:
        return f"{self.url}/{self.stream_key}" if self.stream_key else self.url

    def to_json(self, vhost: str, app: str) -> dict[str, Any]:
        moment, mono = now(), time.monotonic()
        sent_bytes, sent_time = self.sent_bytes(mono), self.sent_time(moment)
        body: dict[str, Any] = {
            "id": self.id,
            "vhost": vhost,
            "app": app,
            "stream": {
                "name": self.stream_name,
                "trackIds": list(self.track_ids),
                "variantNames": list(self.variant_names),
            },
            "state": self.state,
            "protocol": self.protocol,
            "url": self.url,
            "streamKey": self.stream_key,
            "sentBytes": sent_bytes,
            "sentTime": sent_time,
            "totalsentBytes": int(self.total_bytes) + sent_bytes,
            "totalsentTime": self.total_time_ms + sent_time,
            "sequence": self.sequence,
            "startTime": iso(self.start_time),
            # OME 0.19 never sets a push's stop time: finishTime stays the epoch.
            "finishTime": iso(EPOCH),
            "createdTime": iso(self.created),
            "isConfig": False,
        }
        # OME omits empty strings (serdes SetString).
        return {key: value for key, value in body.items() if value != ""}


@dataclass
class Record:
    id: str
    stream_name: str
    track_ids: list[int]
    variant_names: list[str]
    file_path: str  # as given by the user ("" = the configured template)
    info_path: str
    interval: int
    schedule: str
    segmentation_rule: str
    metadata: str
    created: datetime
    transaction_id: str
    state: str = "ready"
    sequence: int = 0
    start_time: datetime = EPOCH
    stop_time: datetime = EPOCH
    output_file_path: str = ""
    output_info_path: str = ""
    recording_since: float | None = None  # monotonic
    record_bytes: int = 0
    record_time_ms: int = 0
    total_bytes: int = 0
    total_time_ms: int = 0
    enabled: bool = True
    writer: media.SegmentWriter | None = None  # the segment being written, while recording

    def live_counters(self, mono: float) -> tuple[int, int]:
        if self.recording_since is None:
            return self.record_bytes, self.record_time_ms
        # OME drops packets until the first key frame: nothing is counted for the first moments.
        elapsed = max(0.0, mono - self.recording_since - FIRST_KEYFRAME_DELAY)
        return int(elapsed * media.BYTES_PER_SECOND), int(elapsed * 1000)

    def to_json(self, vhost: str, app: str) -> dict[str, Any]:
        """Fields as OME's serdes JsonFromRecord writes them (empty strings and zero counters omitted)."""
        body: dict[str, Any] = {"state": self.state, "isConfig": False, "id": self.id}
        if self.metadata:
            body["metadata"] = self.metadata
        body.update(vhost=vhost, app=app)
        body["stream"] = {
            "name": self.stream_name,
            "trackIds": list(self.track_ids),
            "variantNames": list(self.variant_names),
        }
        for key, value in (
            ("filePath", self.file_path),
            ("outputFilePath", self.output_file_path),
            ("infoPath", self.info_path),
            ("outputInfoPath", self.output_info_path),
        ):
            if value:
                body[key] = value
        if self.interval > 0:
            body["interval"] = self.interval
        if self.schedule:
            body["schedule"] = self.schedule
        if self.segmentation_rule:
            body["segmentationRule"] = self.segmentation_rule
        body["createdTime"] = iso(self.created)
        if self.state in ("recording", "stopping", "stopped", "error"):
            record_bytes, record_time = self.live_counters(time.monotonic())
            for key, value in (
                ("recordBytes", record_bytes),
                ("recordTime", record_time),
                ("totalRecordBytes", self.total_bytes + record_bytes),
                ("totalRecordTime", self.total_time_ms + record_time),
                ("sequence", self.sequence),
            ):
                if value > 0:
                    body[key] = value
            if self.start_time != EPOCH:
                body["startTime"] = iso(self.start_time)
        if self.state in ("stopped", "error") and self.stop_time != EPOCH:
            body["finishTime"] = iso(self.stop_time)
        return body


_URL_SHAPE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/\s?#]+")
_SCHEDULE = re.compile(
    r"^(\*|[0-5]?[0-9]|\*/[0-5]?[0-9]) (\*|[0-5]?[0-9]|\*/[0-5]?[0-9]) (\*|1?[0-9]|2[0-3]|\*/(1?[0-9]|2[0-3]))$"
)


class Emulator:
    """One OME server: one virtual host with one application."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._initial = replace(settings)
        self.streams: dict[str, LiveStream] = {}
        self.pushes: dict[str, Push] = {}
        self.records: dict[str, Record] = {}
        self.viewers: dict[str, Viewer] = {}
        self.publishers: dict[str, Publisher] = {}
        self.failed_destinations: dict[str, str] = {}
        self.webhooks = WebhookSender()
        self.events: list[dict[str, Any]] = []
        self.created = now()
        self._ids = itertools.count(1)
        self._tick_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._segments: list[asyncio.Future[dict[str, str]]] = []

    # --- names used by webrtc.py --------------------------------------------------------------

    @property
    def vhost(self) -> str:
        return self.settings.vhost

    @property
    def app(self) -> str:
        return self.settings.app

    @property
    def webrtc_stream_delay(self) -> float:
        return self.settings.webrtc_stream_delay

    @property
    def rtmp_variant_suffix(self) -> str:
        return self.settings.rtmp_variant_suffix

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._tick_task = asyncio.create_task(self._tick_loop())

    async def stop(self) -> None:
        if self._tick_task:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
        for name in list(self.streams):
            await self.remove_stream(name)
        await self.drain()
        await self.webhooks.close()

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for recording files still being written and for pending webhooks."""
        pending = [future for future in self._segments if not future.done()]
        pending += [task for task in self._background if not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    def _spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run `coroutine` in the background; `drain` and `stop` wait for it (the servers' use)."""
        return self._spawn(coroutine)

    def _event(self, kind: str, **details: Any) -> None:
        self.events.append({"time": iso(now()), "event": kind, **details})
        del self.events[:-500]

    # --- admission webhooks -------------------------------------------------------------------

    async def admit(self, *, direction: str, protocol: str, url: str, client: Client) -> Admission:
        """Send the signed `opening` webhook and return the answer (no webhook URL: allowed)."""
        if not self.settings.webhook_url:
            return Admission(True)
        body = build_body(
            direction=direction,
            protocol=protocol,
            status="opening",
            url=url,
            time_text=iso(now()),
            address=client.address,
            port=client.port,
            real_ip=client.real_ip,
            user_agent=client.user_agent,
        )
        answer = await self.webhooks.post(
            url=self.settings.webhook_url,
            secret=self.settings.webhook_secret,
            body=body,
            timeout_ms=self.settings.webhook_timeout_ms,
        )
        data = answer.body
        if answer.error or not isinstance(data, dict) or not isinstance(data.get("allowed"), bool):
            return Admission(False, reason=answer.error or "invalid answer from the control server")
        new_url = data.get("new_url") if isinstance(data.get("new_url"), str) and data.get("new_url") else None
        lifetime = data.get("lifetime")
        lifetime_ms = (
            int(lifetime)
            if isinstance(lifetime, (int, float)) and not isinstance(lifetime, bool) and lifetime > 0
            else 0
        )
        reason = data.get("reason") if isinstance(data.get("reason"), str) else None
        return Admission(bool(data["allowed"]), new_url, lifetime_ms, reason)

    async def closing(self, *, direction: str, protocol: str, url: str, new_url: str, client: Client) -> None:
        """Send the `closing` webhook; errors are logged, never raised."""
        if not self.settings.webhook_url:
            return
        body = build_body(
            direction=direction,
            protocol=protocol,
            status="closing",
            url=url,
            new_url=new_url,
            time_text=iso(now()),
            address=client.address,
            port=client.port,
            real_ip=client.real_ip,
            user_agent=client.user_agent,
        )
        try:
            await self.webhooks.post(
                url=self.settings.webhook_url,
                secret=self.settings.webhook_secret,
                body=body,
                timeout_ms=self.settings.webhook_timeout_ms,
            )
        except Exception:  # a closing webhook must never break the caller
            log.exception("closing webhook failed")

    def stream_name_of(self, url: str) -> tuple[str, str]:
        """(app, stream) of a client URL: rtmp://h:p/app/stream?q, ws://h:p/app/stream?q,
        http://h:p/app/stream/llhls.m3u8, srt://h:p?streamid=<see webhook_url_of>."""
        parts = urlsplit(url)
        if parts.scheme.lower() == "srt" and "streamid" in parse_qs(parts.query, keep_blank_values=True):
            return self.stream_name_of(self.webhook_url_of(url))
        segments = [unquote(segment) for segment in parts.path.split("/") if segment]
        if segments and segments[-1].endswith(".m3u8"):
            segments = segments[:-1]
        if len(segments) >= 2:
            return segments[0], segments[1]
        if len(segments) == 1:
            return segments[0], ""
        return "", ""

    def webhook_url_of(self, url: str) -> str:
        """The URL OME puts in the webhook: for SRT the stream id as a URL, else the URL as used.

        OME 0.21 reads the (percent-decoded) streamid as `{host}/{app}/{stream}[/{playlist}]` and
        reports `srt://{host}/{app}/{stream}`, the host being the virtual host's name or a domain
        of it; the older form, a whole `srt://host:port/app/stream` URL, still works (OME logs that
        it is deprecated). Any other stream id is refused before the webhook is asked."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "srt":
            return url
        values = parse_qs(parts.query, keep_blank_values=True).get("streamid", [""])
        stream_id = unquote(values[0])
        if stream_id.startswith("srt://"):
            log.warning("The srt://... format is deprecated. Use {host}/{app}/{stream} format instead")
            return stream_id
        if len(stream_id.split("/")) not in (3, 4) or not all(stream_id.split("/")):
            raise ControlError(
                400,
                "The streamid for SRT must be in the following format: {host}/{app}/{stream}[/{playlist}], "
                f"not {stream_id!r}",
            )
        return f"srt://{stream_id}"

    # --- streams ------------------------------------------------------------------------------

    def has_stream(self, name: str) -> bool:
        """Input streams only, listed whether or not they started."""
        return name in self.streams

    def input_of(self, output_name: str) -> LiveStream | None:
        """The started input stream behind an output stream name (`room1` or `room1_rtmp`): what
        players, pushes and records can use. A stream still starting has no outputs yet."""
        stream = self.streams.get(output_name)
        suffix = self.settings.rtmp_variant_suffix
        if stream is None and suffix and output_name.endswith(suffix):
            stream = self.streams.get(output_name[: -len(suffix)])
        return stream if stream is not None and stream.playable else None

    def add_stream(
        self,
        name: str,
        *,
        source_type: str,
        source_url: str,
        video_codec: str = "H264",
        audio_codec: str = "Opus",
        on_remove: Callable[[], Awaitable[None] | None] | None = None,
        playable: bool = True,
    ) -> None:
        """List a new input stream; `playable=False` for one that is created but not started yet
        (see `start_stream`)."""
        if name in self.streams:
            raise StreamExists(name)
        moment = now()
        self.streams[name] = LiveStream(
            name=name,
            source_type=source_type,
            source_url=source_url,
            video_codec=video_codec,
            audio_codec=audio_codec,
            created=moment,
            started=time.monotonic(),
            on_remove=on_remove,
            bytes_per_second=STREAM_BYTES_PER_SECOND + random.randint(-2000, 2000),
            max_connections_time=moment,
            playable=False,
        )
        self._event("stream-created", stream=name, source_type=source_type)
        if playable:
            self.start_stream(name)
        else:
            log.info("stream %s is created (%s), not started yet", name, source_type)

    def start_stream(self, name: str) -> None:
        """The stream starts: players, pushes and records can use it from now on."""
        stream = self.streams.get(name)
        if stream is None or stream.playable:
            return
        stream.playable = True
        self._event("stream-started", stream=name, source_type=stream.source_type)
        log.info("stream %s is live (%s)", name, stream.source_type)
        # The file publisher starts waiting records when the stream starts (SessionUpdateByStream).
        for record in self.records.values():
            if record.enabled and self.input_of(record.stream_name) is stream and record.recording_since is None:
                self._start_record_session(record)
        self._update_max_connections(stream)

    async def remove_stream(self, name: str) -> None:
        stream = self.streams.pop(name, None)
        if stream is None:
            return
        self._event("stream-ended", stream=name)
        log.info("stream %s ended", name)
        if stream.start_task is not None and stream.start_task is not asyncio.current_task():
            stream.start_task.cancel()
        outputs = {name, name + self.settings.rtmp_variant_suffix}
        for push in self.pushes.values():
            if push.stream_name in outputs and push.session is not None:
                self._stop_push_session(push)
        for record in self.records.values():
            if record.stream_name in outputs and record.recording_since is not None:
                self._finish_segment(record, last=False)
                record.state = "ready"
        for viewer in [viewer for viewer in self.viewers.values() if viewer.stream == name]:
            self._drop_viewer(viewer)
        for publisher_id, publisher in list(self.publishers.items()):
            if publisher.stream == name:
                del self.publishers[publisher_id]
        if stream.on_remove is not None:
            try:
                result = stream.on_remove()
                if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                    await result
            except Exception:
                log.exception("on_remove of stream %s failed", name)

    # --- viewers ------------------------------------------------------------------------------

    def add_viewer(self, name: str, protocol: str) -> str:
        stream = self.input_of(name)
        if stream is None:
            raise LookupError(f"no such stream: {name}")
        viewer_id = f"v{next(self._ids)}"
        self.viewers[viewer_id] = Viewer(viewer_id, stream.name, name, protocol.lower(), time.monotonic())
        self._update_max_connections(stream)
        return viewer_id

    def remove_viewer(self, viewer_id: str) -> None:
        viewer = self.viewers.pop(viewer_id, None)
        if viewer is None:
            return
        if viewer.lifetime_task is not None and viewer.lifetime_task is not asyncio.current_task():
            viewer.lifetime_task.cancel()
        stream = self.streams.get(viewer.stream)
        if stream is not None:
            stream.departed_bytes_out += (time.monotonic() - viewer.started) * stream.bytes_per_second

    def _drop_viewer(self, viewer: Viewer) -> None:
        """Disconnect a viewer (stream ended, lifetime over): closing webhook for ours."""
        self.remove_viewer(viewer.id)
        if viewer.url is not None and viewer.client is not None and viewer.webhook_protocol is not None:
            self._spawn(
                self.closing(
                    direction="outgoing",
                    protocol=viewer.webhook_protocol,
                    url=viewer.url,
                    new_url=viewer.new_url or viewer.url,
                    client=viewer.client,
                )
            )

    # --- stats ----------------------------------------------------------------------------------

    def connections(self, stream: LiveStream) -> dict[str, int]:
        counts = dict.fromkeys(CONNECTION_KEYS, 0)
        outputs = {stream.name, stream.name + self.settings.rtmp_variant_suffix}
        for viewer in self.viewers.values():
            if viewer.stream == stream.name:
                counts[viewer.protocol] = counts.get(viewer.protocol, 0) + 1
        counts["push"] = sum(
            1 for push in self.pushes.values() if push.stream_name in outputs and push.session is not None
        )
        counts["file"] = sum(
            1
            for record in self.records.values()
            if record.stream_name in outputs and record.recording_since is not None
        )
        return counts

    def _update_max_connections(self, stream: LiveStream) -> None:
        total = sum(self.connections(stream).values())
        if total > stream.max_connections:
            stream.max_connections = total
            stream.max_connections_time = now()

    def stream_stats(self, stream: LiveStream) -> dict[str, Any]:
        moment, mono = now(), time.monotonic()
        connections = self.connections(stream)
        outputs = {stream.name, stream.name + self.settings.rtmp_variant_suffix}
        elapsed = mono - stream.started
        bytes_out = stream.departed_bytes_out
        bytes_out += sum(
            (mono - viewer.started) * stream.bytes_per_second
            for viewer in self.viewers.values()
            if viewer.stream == stream.name
        )
        bytes_out += sum(
            push.total_bytes + push.sent_bytes(mono) for push in self.pushes.values() if push.stream_name in outputs
        )
        rate_in = stream.bytes_per_second
        rate_out = rate_in * (connections["push"] + connections["webrtc"] + connections["llhls"])
        return {
            "avgThroughputIn": rate_in * 8,
            "avgThroughputOut": rate_out * 8,
            "connections": connections,
            "createdTime": iso(stream.created),
            "lastRecvTime": iso(moment),
            "lastSentTime": iso(moment if rate_out else stream.created),
            "lastThroughputIn": rate_in,
            "lastThroughputOut": rate_out,
            "lastUpdatedTime": iso(moment),
            "maxThroughputIn": int(rate_in * 8 * 1.3),
            "maxThroughputOut": int(rate_out * 8 * 1.3),
            "maxTotalConnectionTime": iso(stream.max_connections_time),
            "maxTotalConnections": stream.max_connections,
            "totalBytesIn": int(elapsed * rate_in),
            "totalBytesOut": int(bytes_out),
            "totalConnections": sum(connections.values()),
        }

    def app_stats(self) -> dict[str, Any]:
        """App (and vhost) statistics: the sum over the live streams."""
        moment = now()
        parts = [self.stream_stats(stream) for stream in self.streams.values()]
        connections = dict.fromkeys(CONNECTION_KEYS, 0)
        for part in parts:
            for key, value in part["connections"].items():
                connections[key] = connections.get(key, 0) + value

        def total(key: str) -> int:
            return sum(part[key] for part in parts)

        max_time = max((stream.max_connections_time for stream in self.streams.values()), default=self.created)
        return {
            "avgThroughputIn": total("avgThroughputIn"),
            "avgThroughputOut": total("avgThroughputOut"),
            "connections": connections,
            "createdTime": iso(self.created),
            "lastRecvTime": iso(moment if parts else self.created),
            "lastSentTime": iso(moment if total("lastThroughputOut") else self.created),
            "lastThroughputIn": total("lastThroughputIn"),
            "lastThroughputOut": total("lastThroughputOut"),
            "lastUpdatedTime": iso(moment),
            "maxThroughputIn": total("maxThroughputIn"),
            "maxThroughputOut": total("maxThroughputOut"),
            "maxTotalConnectionTime": iso(max_time),
            "maxTotalConnections": total("maxTotalConnections"),
            "totalBytesIn": total("totalBytesIn"),
            "totalBytesOut": total("totalBytesOut"),
            "totalConnections": total("totalConnections"),
        }

    def stream_info(self, stream: LiveStream) -> dict[str, Any]:
        """`GET …/streams/{name}`: input tracks and one output per output profile."""
        return stream_info_json(stream, self.settings.rtmp_variant_suffix)

    # --- pushes -------------------------------------------------------------------------------

    def start_push(self, body: Any) -> dict[str, Any]:
        body = body if isinstance(body, dict) else {}
        where = f"[{self.vhost}/{self.app}]"
        protocol = body.get("protocol") if isinstance(body.get("protocol"), str) else ""
        protocol = protocol.strip().lower()
        if protocol not in ("rtmp", "mpegts", "srt"):
            raise ApiError(400, f"Could not find protocol '{protocol}': {where}")
        push_id = body.get("id") if isinstance(body.get("id"), str) else ""
        stream = body.get("stream") if isinstance(body.get("stream"), dict) else {}
        stream_name = stream.get("name") if isinstance(stream.get("name"), str) else ""
        url = (body.get("url") if isinstance(body.get("url"), str) else "").strip()
        stream_key = (body.get("streamKey") if isinstance(body.get("streamKey"), str) else "").strip()
        track_ids = stream.get("trackIds") if isinstance(stream.get("trackIds"), list) else stream.get("tracks")
        track_ids = (
            [item for item in track_ids if isinstance(item, int) and not isinstance(item, bool)]
            if isinstance(track_ids, list)
            else []
        )
        variants = stream.get("variantNames") if isinstance(stream.get("variantNames"), list) else []
        variants = [item for item in variants if isinstance(item, str)]
        missing = [name for name, value in (("id", push_id), ("stream.name", stream_name), ("url", url)) if not value]
        if missing:
            raise ApiError(400, "There is no required parameter [" + "".join(f" {name}" for name in missing) + "]")
        url = url.rstrip("/")
        if not _URL_SHAPE.match(url):
            raise ApiError(400, "Could not parse url")
        scheme = url.split("://", 1)[0].lower()
        if protocol == "rtmp" and scheme not in ("rtmp", "rtmps"):
            raise ApiError(400, "Unsupported protocol")
        if protocol == "srt":
            if scheme != "srt":
                raise ApiError(400, "Unsupported protocol")
            mode = parse_qs(urlsplit(url).query).get("mode", [""])[0]
            if mode and mode != "caller":
                raise ApiError(400, "Unsupported connection mode")
        if protocol == "mpegts":
            if scheme not in ("udp", "tcp"):
                raise ApiError(400, "Unsupported protocol")
            if scheme == "tcp" and url.endswith("listen"):
                raise ApiError(400, "Unsupported tcp listen")
        if push_id in self.pushes:
            raise ApiError(400, "Duplicate ID")
        push = Push(push_id, stream_name, protocol, url, stream_key, track_ids, variants, now())
        self.pushes[push_id] = push
        self._event("push-created", id=push_id, stream=stream_name, url=push.destination())
        return push.to_json(self.vhost, self.app)

    def stop_push(self, body: Any) -> None:
        body = body if isinstance(body, dict) else {}
        push_id = body.get("id") if isinstance(body.get("id"), str) else ""
        if not push_id:
            raise ApiError(400, "There is no required parameter [ id]")
        push = self.pushes.get(push_id)
        if push is None:
            raise ApiError(404, f"Could not find id '{push_id}': [{self.vhost}/{self.app}]")
        if not push.removed:
            push.removed, push.removed_at = True, time.monotonic()

    def list_pushes(self, body: Any) -> list[dict[str, Any]]:
        push_id = body.get("id") if isinstance(body, dict) and isinstance(body.get("id"), str) else ""
        # OME keeps pushes in a std::map: listed in id order.
        pushes = sorted(self.pushes.values(), key=lambda push: push.id)
        return [push.to_json(self.vhost, self.app) for push in pushes if not push_id or push.id == push_id]

    def _destination_failure(self, push: Push) -> str | None:
        destination = push.destination()
        for url, message in self.failed_destinations.items():
            if url in (push.url, destination) or destination.startswith(url.rstrip("/") + "/"):
                return message
        return None

    def _start_push_session(self, push: Push) -> None:
        push.start_time = now()
        failure = self._destination_failure(push)
        if failure is not None:
            if push.last_error != failure or push.state != "error":
                self._event("push-error", id=push.id, url=push.destination(), message=failure)
                log.info("push %s to %s failed: %s", push.id, push.destination(), failure)
            push.session, push.state, push.last_error = "error", "error", failure
            return
        push.session, push.state, push.last_error = "started", "connecting", None
        push.attempt += 1
        attempt = push.attempt
        asyncio.get_running_loop().call_later(PUSH_CONNECT_SECONDS, self._push_connected, push, attempt)
        stream = self.input_of(push.stream_name)
        if stream is not None:
            self._update_max_connections(stream)

    def _push_connected(self, push: Push, attempt: int) -> None:
        """The destination took the stream: bytes flow."""
        if self.pushes.get(push.id) is not push or push.attempt != attempt:
            return
        if push.session != "started" or push.state != "connecting":
            return
        push.state = "pushing"
        push.pushing_since = time.monotonic()
        self._event("push-started", id=push.id, url=push.destination())

    def _pause_push(self, push: Push) -> None:
        """Bytes stop flowing: fold them into the sequence's counters."""
        if push.pushing_since is not None:
            mono = time.monotonic()
            push.sent_time_ms = push.sent_time(now())
            push.bytes_done = push.sent_bytes(mono)
            push.pushing_since = None

    def _stop_push_session(self, push: Push) -> None:
        """OME's PushSession::Stop: stopping → stopped, next sequence, counters to the totals."""
        self._pause_push(push)
        push.state = "stopped"
        push.start_time = now()
        push.sequence += 1
        push.total_bytes += push.bytes_done
        push.total_time_ms += push.sent_time_ms
        push.bytes_done, push.sent_time_ms = 0.0, 0
        push.session = None
        self._event("push-stopped", id=push.id)

    def _push_tick(self) -> None:
        mono = time.monotonic()
        for push in list(self.pushes.values()):
            if push.removed:
                if mono - push.removed_at < PUSH_LINGER_SECONDS:
                    continue  # still listed, as it was
                if push.session is not None:
                    self._stop_push_session(push)
                del self.pushes[push.id]
                self._event("push-removed", id=push.id)
                continue
            if self.input_of(push.stream_name) is None:
                push.state = "ready"
                continue
            if push.session == "started":
                failure = self._destination_failure(push)
                if failure is not None:
                    # The RTMP connection broke: the writer fails, the session goes to error.
                    self._pause_push(push)
                    push.session, push.state, push.last_error = "error", "error", failure
                    self._event("push-error", id=push.id, url=push.destination(), message=failure)
            elif push.session in (None, "error"):
                self._start_push_session(push)

    # --- records ------------------------------------------------------------------------------

    def start_record(self, body: Any) -> dict[str, Any]:
        body = body if isinstance(body, dict) else {}
        record_id = body.get("id") if isinstance(body.get("id"), str) else ""
        stream = body.get("stream") if isinstance(body.get("stream"), dict) else {}
        stream_name = stream.get("name") if isinstance(stream.get("name"), str) else ""
        missing = [name for name, value in (("id", record_id), ("stream.name", stream_name)) if not value]
        if missing:
            raise ApiError(400, "There is no required parameter [" + "".join(f" {name}" for name in missing) + "]")
        interval = (
            body.get("interval")
            if isinstance(body.get("interval"), int) and not isinstance(body.get("interval"), bool)
            else 0
        )
        schedule = body.get("schedule") if isinstance(body.get("schedule"), str) else ""
        if schedule and interval > 0:
            raise ApiError(400, "[Interval] and [Schedule] cannot be used at the same time")
        if schedule and not _SCHEDULE.match(schedule):
            raise ApiError(400, "Invalid [schedule] parameter")
        if record_id in self.records:
            raise ApiError(400, "Duplicate ID already exists")
        rule = body.get("segmentationRule")
        track_ids = stream.get("trackIds") if isinstance(stream.get("trackIds"), list) else stream.get("tracks")
        track_ids = (
            [item for item in track_ids if isinstance(item, int) and not isinstance(item, bool)]
            if isinstance(track_ids, list)
            else []
        )
        variants = stream.get("variantNames") if isinstance(stream.get("variantNames"), list) else []
        record = Record(
            id=record_id,
            stream_name=stream_name,
            track_ids=track_ids,
            variant_names=[item for item in variants if isinstance(item, str)],
            file_path=body.get("filePath") if isinstance(body.get("filePath"), str) else "",
            info_path=body.get("infoPath") if isinstance(body.get("infoPath"), str) else "",
            interval=max(interval, 0),
            schedule=schedule,
            segmentation_rule=rule if rule in ("continuity", "discontinuity") else "discontinuity",
            metadata=body.get("metadata") if isinstance(body.get("metadata"), str) else "",
            created=now(),
            transaction_id=_random_id(16),
        )
        self.records[record_id] = record
        self._event("record-created", id=record_id, stream=stream_name)
        if self.input_of(stream_name) is not None:
            self._start_record_session(record)
        return record.to_json(self.vhost, self.app)

    async def stop_record(self, body: Any, *, wait: float = 5.0) -> dict[str, Any]:
        body = body if isinstance(body, dict) else {}
        record_id = body.get("id") if isinstance(body.get("id"), str) else ""
        if not record_id:
            raise ApiError(400, "There is no required parameter [ id]")
        record = self.records.get(record_id)
        if record is None:
            raise ApiError(404, f"There is no record information related to the ID [{record_id}]")
        record.enabled = False
        # OME answers with a copy made before the session stops: state stopping, and (since 0.21)
        # the output paths as they were while recording, EndTime still the epoch: the final name
        # is only in the info XML.
        answer = replace(record, state="stopping").to_json(self.vhost, self.app)
        del self.records[record_id]
        future = self._finish_segment(record, last=True) if record.recording_since is not None else None
        self._event("record-stopped", id=record_id)
        if future is not None:
            # OME writes the file and the XML before it answers; so do we, unless that takes long.
            with contextlib.suppress(TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(future), timeout=wait)
        return answer

    def list_records(self, body: Any) -> list[dict[str, Any]]:
        record_id = body.get("id") if isinstance(body, dict) and isinstance(body.get("id"), str) else ""
        return [
            record.to_json(self.vhost, self.app)
            for record in self.records.values()
            if not record_id or record.id == record_id
        ]

    def _expand(self, record: Record, template: str) -> str:
        return expand_macros(
            template,
            vhost=self.vhost,
            app=self.app,
            stream=record.stream_name,
            sequence=record.sequence,
            record_id=record.id,
            transaction_id=record.transaction_id,
            start=record.start_time,
            end=record.stop_time,
        )

    def _templates(self, record: Record) -> tuple[str, str]:
        return record.file_path or self.settings.file_path, record.info_path or self.settings.info_path

    def _start_record_session(self, record: Record) -> None:
        record.start_time = now()
        record.stop_time = EPOCH
        file_template, info_template = self._templates(record)
        record.output_file_path = self._expand(record, file_template)
        record.output_info_path = self._expand(record, info_template)
        record.state = "recording"
        record.recording_since = time.monotonic()
        record.record_bytes, record.record_time_ms = 0, 0
        try:
            record.writer = media.SegmentWriter(
                root=self.settings.recordings_dir,
                file_path=record.output_file_path,
                started=record.recording_since + FIRST_KEYFRAME_DELAY,
            )
        except ValueError as error:  # a path outside the recordings folder: fails when finished
            log.error("cannot record %s: %s", record.output_file_path, error)
            record.writer = None
        self._event("record-started", id=record.id, file=record.output_file_path)
        stream = self.input_of(record.stream_name)
        if stream is not None:
            self._update_max_connections(stream)

    def _finish_segment(self, record: Record, *, last: bool) -> asyncio.Future[dict[str, str]]:
        """Close the current file: final name with EndTime, media file + XML in a thread."""
        mono = time.monotonic()
        record_bytes, record_time = record.live_counters(mono)
        record.recording_since = None
        record.record_bytes, record.record_time_ms = record_bytes, record_time
        record.stop_time = now()
        file_template, info_template = self._templates(record)
        record.output_file_path = self._expand(record, file_template)
        record.output_info_path = self._expand(record, info_template)
        fields = {
            "transactionId": record.transaction_id,
            "id": record.id,
            "metadata": record.metadata,
            "vhost": self.vhost,
            "app": self.app,
            "stream": record.stream_name,
            "filePath": record.output_file_path,
            "recordTime": str(record_time),
            "sequence": str(record.sequence),
            "lastSequence": "true" if last else "false",
            "createdTime": iso(record.created),
            "startTime": iso(record.start_time),
            "finishTime": iso(record.stop_time),
        }
        segment = media.FinishedSegment(
            root=self.settings.recordings_dir,
            file_path=record.output_file_path,
            info_path=record.output_info_path,
            duration_ms=record_time,
            xml_fields=fields,
        )
        writer, record.writer = record.writer, None
        finish = writer.finish if writer is not None else media.finish_segment
        future = asyncio.get_running_loop().run_in_executor(None, finish, segment)
        self._segments = [item for item in self._segments if not item.done()] + [future]

        def done(finished: asyncio.Future[dict[str, str]]) -> None:
            if finished.cancelled():
                return
            error = finished.exception()
            if error is not None:
                log.error("writing recording %s failed: %s", segment.file_path, error)
                self._event("record-file-failed", id=record.id, file=segment.file_path, error=str(error))
            else:
                self._event("record-file-written", id=record.id, file=segment.file_path, info=segment.info_path)

        future.add_done_callback(done)
        record.sequence += 1
        record.total_bytes += record_bytes
        record.total_time_ms += record_time
        record.record_bytes, record.record_time_ms = 0, 0
        record.state = "stopped"
        return future

    def _record_tick(self) -> None:
        mono = time.monotonic()
        for record in self.records.values():
            if record.recording_since is not None and record.interval > 0:
                if (mono - record.recording_since) * 1000 > record.interval:
                    self._finish_segment(record, last=False)
                    self._start_record_session(record)

    # --- the periodic session control ---------------------------------------------------------

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.session_tick)
            try:
                self._push_tick()
                self._record_tick()
            except Exception:
                log.exception("session control tick failed")

    # --- the control API (/emulator/...) ------------------------------------------------------

    def _client_from(self, data: Any, *, default_port: int | None = None) -> Client:
        data = data if isinstance(data, dict) else {}
        address = data.get("address") if isinstance(data.get("address"), str) else "127.0.0.1"
        port = data.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            port = default_port or random.randint(32768, 60999)
        user_agent = data.get("user_agent") if isinstance(data.get("user_agent"), str) else None
        real_ip = data.get("real_ip") if isinstance(data.get("real_ip"), str) else None
        return Client(address, port, user_agent, real_ip)

    async def publish(self, url: Any, client_data: Any = None, delay: Any = 0) -> dict[str, Any]:
        """Simulate an encoder connecting and publishing (RTMP, SRT or a WebRTC stand-in)."""
        if not isinstance(url, str) or "://" not in url:
            raise ControlError(400, "'url' must be an rtmp://, srt:// or ws:// URL")
        scheme = url.split("://", 1)[0].lower()
        protocol = PROTOCOL_BY_SCHEME.get(scheme)
        if protocol not in ("RTMP", "SRT", "WebRTC"):
            raise ControlError(400, f"cannot publish with {scheme}://: use rtmp://, srt:// or ws://")
        if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
            raise ControlError(400, "'delay' must be a number of seconds >= 0")
        hook_url = self.webhook_url_of(url)
        app, name = self.stream_name_of(hook_url)
        if not name:
            raise ControlError(400, f"no stream name in {url}")
        client = self._client_from(client_data)
        if protocol == "WebRTC" and client.user_agent is None:
            client = replace(client, user_agent="OME-emulator")
        admission = await self.admit(direction="incoming", protocol=protocol, url=hook_url, client=client)
        final_url = admission.new_url or hook_url
        if not admission.allowed:
            self._event("publish-refused", url=hook_url, reason=admission.reason)
            if protocol in ("RTMP", "SRT"):
                # The refused encoder is disconnected and OME reports the session closing (golden).
                self._spawn(
                    self.closing(
                        direction="incoming", protocol=protocol, url=hook_url, new_url=final_url, client=client
                    )
                )
            raise ControlError(
                403, admission.reason or "refused by the admission webhook", allowed=False, reason=admission.reason
            )
        app, name = self.stream_name_of(final_url)
        if app != self.app or not name:
            if protocol in ("RTMP", "SRT"):
                self._spawn(
                    self.closing(
                        direction="incoming", protocol=protocol, url=hook_url, new_url=final_url, client=client
                    )
                )
            raise ControlError(404, f"Could not find the application: [{self.vhost}/{app}]", allowed=True)
        if name in self.streams:
            self._spawn(
                self.closing(direction="incoming", protocol=protocol, url=hook_url, new_url=final_url, client=client)
            )
            raise ControlError(
                409, f"stream {name} is already live: OME refuses a second publisher", allowed=True, stream=name
            )
        publisher = Publisher(f"p{next(self._ids)}", name, protocol, hook_url, final_url, client)
        source_type = {"RTMP": "Rtmp", "SRT": "Srt", "WebRTC": "WebRTC"}[protocol]
        transport = {"RTMP": "TCP", "SRT": "SRT", "WebRTC": "UDP"}[protocol]
        audio = "AAC" if protocol in ("RTMP", "SRT") else "Opus"

        async def on_remove() -> None:
            self.publishers.pop(publisher.id, None)
            if publisher.lifetime_task is not None and publisher.lifetime_task is not asyncio.current_task():
                publisher.lifetime_task.cancel()
            await self.closing(direction="incoming", protocol=protocol, url=hook_url, new_url=final_url, client=client)

        # Listed at once; with a delay it starts (plays, pushes, records) only after it, like a
        # browser's stream that OME serves once the first RTCP sender report arrived.
        self.add_stream(
            name,
            source_type=source_type,
            # OME 0.21 appends the socket type: TCP://203.0.113.7:49434/tcp (golden).
            source_url=f"{transport}://{client.address}:{client.port}/{transport.lower()}",
            video_codec="H264",
            audio_codec=audio,
            on_remove=on_remove,
            playable=not delay,
        )
        self.publishers[publisher.id] = publisher
        if delay:
            stream = self.streams[name]
            stream.start_task = asyncio.create_task(self._start_later(stream, float(delay)))
        if admission.lifetime_ms > 0:
            publisher.lifetime_task = asyncio.create_task(self._expire_stream(name, admission.lifetime_ms / 1000))
        self._event("published", stream=name, protocol=protocol, publisher=publisher.id)
        return {"allowed": True, "stream": name, "publisher": publisher.id, "lifetime": admission.lifetime_ms}

    async def _start_later(self, stream: LiveStream, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if self.streams.get(stream.name) is stream:
            self.start_stream(stream.name)

    async def _expire_stream(self, name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._event("lifetime-expired", stream=name)
        await self.remove_stream(name)

    async def unpublish(self, name: Any) -> dict[str, Any]:
        if not isinstance(name, str) or not name:
            raise ControlError(400, "'stream' is required")
        if name not in self.streams:
            raise ControlError(404, f"stream {name} is not live")
        await self.remove_stream(name)
        return {"stream": name, "live": False}

    async def play(self, url: Any, client_data: Any = None) -> dict[str, Any]:
        """Simulate a player: webhook `outgoing`, then a viewer counted in the stats."""
        if not isinstance(url, str) or "://" not in url:
            raise ControlError(400, "'url' must be a ws:// (WebRTC) or http:// (LL-HLS) URL")
        scheme = url.split("://", 1)[0].lower()
        protocol = PROTOCOL_BY_SCHEME.get(scheme)
        if protocol not in ("WebRTC", "LLHLS"):
            raise ControlError(400, f"cannot play with {scheme}://: use ws:// or http://")
        client = self._client_from(client_data)
        if client.user_agent is None:
            client = replace(client, user_agent="OME-emulator")
        admission = await self.admit(direction="outgoing", protocol=protocol, url=url, client=client)
        if not admission.allowed:
            self._event("play-refused", url=url, reason=admission.reason)
            raise ControlError(
                403, admission.reason or "refused by the admission webhook", allowed=False, reason=admission.reason
            )
        final_url = admission.new_url or url
        app, name = self.stream_name_of(final_url)
        if app != self.app or self.input_of(name) is None:
            # Refused after the opening webhook, so OME never reports this session closing (and
            # never counts it): a player retrying while a stream starts leaves one opening a try.
            why = "has been created but not started yet" if self.has_stream(name) else "does not exist"
            raise ControlError(404, f"stream {name} {why}", allowed=True)
        viewer_id = self.add_viewer(name, "webrtc" if protocol == "WebRTC" else "llhls")
        viewer = self.viewers[viewer_id]
        if protocol == "LLHLS":
            # OME 0.21 reports an LL-HLS session closing as soon as its playlist request's connection
            # closes (golden: at once, same client port), while the player goes on watching and
            # counting in the stats: nothing more is reported when it really leaves.
            await self.closing(direction="outgoing", protocol=protocol, url=url, new_url=final_url, client=client)
        else:
            viewer.url, viewer.new_url, viewer.webhook_protocol, viewer.client = url, final_url, protocol, client
        if admission.lifetime_ms > 0:
            viewer.lifetime_task = asyncio.create_task(self._expire_viewer(viewer_id, admission.lifetime_ms / 1000))
        self._event("play", stream=name, viewer=viewer_id, protocol=protocol)
        return {"allowed": True, "stream": name, "viewer": viewer_id, "lifetime": admission.lifetime_ms}

    async def _expire_viewer(self, viewer_id: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        viewer = self.viewers.get(viewer_id)
        if viewer is not None:
            self._event("lifetime-expired", viewer=viewer_id)
            self._drop_viewer(viewer)

    async def stop_play(self, viewer_id: Any) -> dict[str, Any]:
        if not isinstance(viewer_id, str) or not viewer_id:
            raise ControlError(400, "'viewer' is required")
        viewer = self.viewers.get(viewer_id)
        if viewer is None:
            raise ControlError(404, f"no such viewer: {viewer_id}")
        self._drop_viewer(viewer)
        return {"viewer": viewer_id, "playing": False}

    def fail_destination(self, url: Any, message: Any = None) -> dict[str, Any]:
        if not isinstance(url, str) or "://" not in url:
            raise ControlError(400, "'url' must be the destination URL (with or without the stream key)")
        text = message if isinstance(message, str) and message else "Connection refused"
        self.failed_destinations[url.rstrip("/")] = text
        self._push_tick()
        return {"url": url, "failing": True, "message": text}

    def heal_destination(self, url: Any) -> dict[str, Any]:
        if not isinstance(url, str) or not url:
            raise ControlError(400, "'url' is required")
        self.failed_destinations.pop(url.rstrip("/"), None)
        return {"url": url, "failing": False}

    def configure(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ControlError(400, "expected a JSON object")
        known = {"webhook_url", "webhook_secret", "webhook_timeout_ms", "webrtc_stream_delay"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ControlError(400, f"unknown settings: {', '.join(unknown)}")
        if "webhook_url" in data:
            value = data["webhook_url"]
            if value is not None and (not isinstance(value, str) or not value.startswith(("http://", "https://"))):
                raise ControlError(400, "'webhook_url' must be an http(s) URL or null")
            self.settings.webhook_url = value or None
        if "webhook_secret" in data:
            if not isinstance(data["webhook_secret"], str):
                raise ControlError(400, "'webhook_secret' must be a string")
            self.settings.webhook_secret = data["webhook_secret"]
        if "webhook_timeout_ms" in data:
            value = data["webhook_timeout_ms"]
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ControlError(400, "'webhook_timeout_ms' must be a positive integer")
            self.settings.webhook_timeout_ms = value
        if "webrtc_stream_delay" in data:
            value = data["webrtc_stream_delay"]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ControlError(400, "'webrtc_stream_delay' must be a number of seconds >= 0")
            self.settings.webrtc_stream_delay = float(value)
        return self.public_settings()

    def public_settings(self) -> dict[str, Any]:
        return {
            "vhost": self.vhost,
            "app": self.app,
            "webhook_url": self.settings.webhook_url,
            "webhook_secret_set": bool(self.settings.webhook_secret),
            "webhook_timeout_ms": self.settings.webhook_timeout_ms,
            "webrtc_stream_delay": self.settings.webrtc_stream_delay,
            "rtmp_variant_suffix": self.settings.rtmp_variant_suffix,
            "recordings_dir": str(self.settings.recordings_dir),
            "file_path": self.settings.file_path,
            "info_path": self.settings.info_path,
        }

    async def reset(self) -> dict[str, Any]:
        """Forget everything (streams end first, so their files are finished) and go back to
        the settings the process was started with."""
        for push in self.pushes.values():
            push.removed = True
        for record in self.records.values():
            record.enabled = False
        # Records are dropped before the streams end: no files are written for them.
        for record in self.records.values():
            record.recording_since = None
            if record.writer is not None:
                writer, record.writer = record.writer, None
                await asyncio.get_running_loop().run_in_executor(None, writer.abandon)
        self.records.clear()
        self.pushes.clear()
        for name in list(self.streams):
            await self.remove_stream(name)
        for viewer in list(self.viewers.values()):
            self.remove_viewer(viewer.id)
        await self.drain(timeout=10)
        self.publishers.clear()
        self.failed_destinations.clear()
        self.webhooks.log.clear()
        self.events.clear()
        self.settings.webhook_url = self._initial.webhook_url
        self.settings.webhook_secret = self._initial.webhook_secret
        self.settings.webhook_timeout_ms = self._initial.webhook_timeout_ms
        self.settings.webrtc_stream_delay = self._initial.webrtc_stream_delay
        return {"reset": True}

    def state(self) -> dict[str, Any]:
        return {
            "settings": self.public_settings(),
            "streams": [
                {
                    "name": stream.name,
                    "source_type": stream.source_type,
                    "source_url": stream.source_url,
                    "created": iso(stream.created),
                    "outputs": [stream.name, stream.name + self.settings.rtmp_variant_suffix],
                    "playable": stream.playable,
                    "connections": self.connections(stream),
                }
                for stream in self.streams.values()
            ],
            "pushes": [
                push.to_json(self.vhost, self.app) | {"error": push.last_error} for push in self.pushes.values()
            ],
            "records": [record.to_json(self.vhost, self.app) for record in self.records.values()],
            "viewers": [
                {"id": viewer.id, "stream": viewer.stream, "output": viewer.output, "protocol": viewer.protocol}
                for viewer in self.viewers.values()
            ],
            "publishers": [
                {
                    "id": item.id,
                    "stream": item.stream,
                    "protocol": item.protocol,
                    "url": item.url,
                    "new_url": item.new_url,
                }
                for item in self.publishers.values()
            ],
            "failed_destinations": dict(self.failed_destinations),
            "webhooks": list(self.webhooks.log),
            "events": list(self.events),
        }


# --- stream info JSON ----------------------------------------------------------------------------

_PLAYLIST_OPTIONS = {"enableTsPackaging": False, "hlsChunklistPathDepth": -1, "webrtcAutoAbr": False}
_MILLISECONDS = {"den": 1000, "num": 1}


def _video(codec: str, source_type: str, *, bypass: bool) -> dict[str, Any]:
    """A video track as OME 0.21 describes it: the input's, or the same passed through to an output
    (bypass: no codecModule, a codecStatus, no configured frame rate)."""
    width, height = (640, 352) if source_type in ("Rtmp", "Srt") else (640, 480)
    track: dict[str, Any] = {
        "bitrate": 138384,
        "bitrateAvg": 138384,
        "bitrateConf": 0,
        "bitrateLatest": 138199,
        "bypass": bypass,
        "codec": codec,
        "configChangeCount": 0,
        "deltaFramesSinceLastKeyFrame": 23,
        "framerate": 30.0,
        "framerateAvg": 30.0,
        "framerateConf": 0.0 if bypass else 30.0,
        "framerateLatest": 30.0,
        "hasBframes": False,
        "height": height,
        "keyFrameInterval": 30.0,
        "keyFrameIntervalAvg": 30.0,
        "keyFrameIntervalConf": 0.0,
        "keyFrameIntervalLatest": 30.0,
        "maxFramerate": 30.0,
        "maxHeight": height,
        "maxWidth": width,
        "timebase": dict(_MILLISECONDS),
        "width": width,
    }
    if bypass:
        track["codecStatus"] = "Ready"
    else:
        track["codecModule"] = "none"
    return track


def _audio(codec: str, bitrate: int, channel: int, *, kind: str) -> dict[str, Any]:
    """An audio track: `input` (codecModule none), `bypass` (passed through: codecStatus, no
    codecModule) or `encoded` (by OME: its encoder's module, 1/samplerate timebase)."""
    track: dict[str, Any] = {
        "bitrate": bitrate,
        "bitrateAvg": bitrate,
        "bitrateConf": bitrate,
        "bitrateLatest": bitrate,
        "bypass": kind == "bypass",
        "channel": channel,
        "codec": codec,
        "configChangeCount": 0,
        "samplerate": 48000,
        "timebase": dict(_MILLISECONDS) if kind != "encoded" else {"den": 48000, "num": 1},
    }
    if kind == "input":
        track["codecModule"] = "none"
    else:
        track["codecStatus"] = "Ready"
    if kind == "encoded":
        track["codecModule"] = _ENCODER_MODULES[codec]
    return track


# The encoders of OME's official image (OPUS's is in the golden recording).
_ENCODER_MODULES = {"OPUS": "libopus", "AAC": "libfdk_aac"}


def _data_track(track_id: int) -> dict[str, Any]:
    return {"data": {"codec": "None"}, "id": track_id, "name": "Data", "type": "Data"}


def stream_info_json(stream: LiveStream, suffix: str) -> dict[str, Any]:
    """Shaped like golden 'stream info' (OME 0.21): the input's tracks, then one output per output
    profile of the recorded configuration: `${OriginStreamName}` (the video as is, AAC for LL-HLS,
    Opus for WebRTC) and `${OriginStreamName}_rtmp` (the video as is, AAC for RTMP). OME numbers the
    output tracks profile by profile but lists the outputs in another order: the `_rtmp` variant
    first. Clients must match outputs by name. Audio is passed through where the input's codec
    matches (`BypassIfMatch`), encoded otherwise."""
    video_codec = stream.video_codec.upper()
    audio_codec = "OPUS" if stream.audio_codec.lower() == "opus" else stream.audio_codec.upper()
    input_is_aac = audio_codec == "AAC"
    in_bitrate, in_channels = (62000, 1) if input_is_aac else (96000, 2)
    tracks: list[dict[str, Any]] = [
        {"id": 0, "name": "Video", "type": "Video", "video": _video(video_codec, stream.source_type, bypass=False)},
        {
            "audio": _audio(audio_codec, in_bitrate, in_channels, kind="input"),
            "id": 1,
            "name": "Audio",
            "type": "Audio",
        },
    ]
    has_data = stream.source_type in ("Rtmp", "Srt")
    if has_data:
        tracks.append(_data_track(2))

    def audio_variant(codec: str) -> dict[str, Any]:
        if codec == audio_codec:
            return _audio(codec, in_bitrate, in_channels, kind="bypass")
        return _audio(codec, 128000, 2, kind="encoded")

    next_id = 0

    def output(name: str, audio_names: list[str], llhls_audio: str, webrtc_audio: str | None) -> dict[str, Any]:
        nonlocal next_id
        out_tracks: list[dict[str, Any]] = [
            {
                "id": next_id,
                "name": "bypass_video",
                "type": "Video",
                "video": _video(video_codec, stream.source_type, bypass=True),
            }
        ]
        next_id += 1
        for audio_name in audio_names:
            codec = audio_name.split("_")[0].upper()
            out_tracks.append({"audio": audio_variant(codec), "id": next_id, "name": audio_name, "type": "Audio"})
            next_id += 1
        if has_data:
            out_tracks.append(_data_track(next_id))
            next_id += 1
        llhls = {"audioVariantName": llhls_audio, "name": "default", "videoVariantName": "bypass_video"}
        webrtc = {"name": "default", "videoVariantName": "bypass_video"}
        if webrtc_audio:
            webrtc["audioVariantName"] = webrtc_audio
        return {
            "name": name,
            "playlists": [
                {
                    "fileName": "llhls",
                    "name": "llhls_default",
                    "options": dict(_PLAYLIST_OPTIONS),
                    "renditions": [llhls],
                },
                {
                    "fileName": "webrtc_default",
                    "name": "webrtc_default",
                    "options": dict(_PLAYLIST_OPTIONS),
                    "renditions": [webrtc],
                },
            ],
            "tracks": out_tracks,
        }

    original = output(stream.name, ["aac_audio", "opus_audio"], "aac_audio", "opus_audio")
    rtmp = output(stream.name + suffix, ["aac_audio"], "aac_audio", None)
    return {
        "input": {
            "createdTime": iso(stream.created),
            "sourceType": stream.source_type,
            "sourceUrl": stream.source_url,
            "tracks": tracks,
        },
        "name": stream.name,
        "outputs": [rtmp, original],
    }
