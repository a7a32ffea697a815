"""Input streams as OME 0.21 lists them, the players watching them, and the statistics and stream
info OME's REST API reports for them.

- An input stream is listed as soon as it is created and served (players, pushes, records) only
  once it started (a browser's stream `webrtc_stream_delay` seconds after its first frame); a
  player refused meanwhile got its `opening` webhook, gets no `closing` and is not in the stats.
- Every input stream has two outputs, its own name and the RTMP variant (`room1_rtmp`): players,
  pushes and records may name either.
- The statistics count players, push sessions and recordings as the stream's connections, and
  estimate bytes from a typical OBS stream (tests/ome_golden/rest-api.json).
- An LL-HLS player's session is reported `closing` right after its `opening` (OME 0.21 closes it
  with the playlist request's connection), while the player counts in the stats until it leaves.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from .clock import EPOCH, iso, now
from .settings import Settings
from .transcode import Outputs, answered_outputs
from .webhooks import Client

log = logging.getLogger("ome_emulator")

CONNECTION_KEYS = ("file", "hlsv3", "llhls", "ovt", "push", "srt", "thumbnail", "webrtc")
# Bytes per second of a typical 640x352 30 fps OBS stream (golden stats: ~46 kB/s in).
STREAM_BYTES_PER_SECOND = 45_900


class StreamExists(Exception):
    """An input stream with that name is already live."""


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
    # What the TranscodeWebhook answered (None until it did, or the local profiles).
    outputs: Outputs | None = None
    transcoding: asyncio.Task[bool] | None = None  # the webhook request, while it is on its way


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


class OutputHost(Protocol):
    """What pushes and records use of the emulator: they run sessions on a started stream's
    outputs, and OME counts each session among that stream's connections."""

    settings: Settings

    def event(self, kind: str, **details: Any) -> None: ...

    def input_of(self, output_name: str) -> LiveStream | None: ...

    def session_started(self, output_name: str) -> None: ...


def tracks_and_variants(stream: dict[str, Any]) -> tuple[list[int], list[str]]:
    """The `stream` object of a startPush or startRecord body: which track ids and variants."""
    track_ids = stream.get("trackIds") if isinstance(stream.get("trackIds"), list) else stream.get("tracks")
    track_ids = (
        [item for item in track_ids if isinstance(item, int) and not isinstance(item, bool)]
        if isinstance(track_ids, list)
        else []
    )
    variants = stream.get("variantNames") if isinstance(stream.get("variantNames"), list) else []
    return track_ids, [item for item in variants if isinstance(item, str)]


class Streams:
    """The application's input streams and their players."""

    def __init__(self, settings: Settings, *, event: Callable[..., None], next_id: Callable[[], int]):
        self.settings = settings
        self._event = event
        self._next_id = next_id
        self.by_name: dict[str, LiveStream] = {}
        self.viewers: dict[str, Viewer] = {}
        self.created = now()

    def outputs(self, name: str) -> list[str]:
        """The output stream names of an input stream: its own and the RTMP variant."""
        return [name, name + self.settings.rtmp_variant_suffix]

    def input_of(self, output_name: str) -> LiveStream | None:
        """The started input stream behind an output stream name (`room1` or `room1_rtmp`): what
        players, pushes and records can use. A stream still starting has no outputs yet."""
        stream = self.by_name.get(output_name)
        suffix = self.settings.rtmp_variant_suffix
        if stream is None and suffix and output_name.endswith(suffix):
            stream = self.by_name.get(output_name[: -len(suffix)])
        return stream if stream is not None and stream.playable else None

    def add(
        self,
        name: str,
        *,
        source_type: str,
        source_url: str,
        video_codec: str = "H264",
        audio_codec: str = "Opus",
        on_remove: Callable[[], Awaitable[None] | None] | None = None,
    ) -> LiveStream:
        """List a new input stream, not started yet."""
        if name in self.by_name:
            raise StreamExists(name)
        moment = now()
        stream = self.by_name[name] = LiveStream(
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
        return stream

    def start(self, name: str) -> LiveStream | None:
        """The stream starts; None when it is not listed or started already."""
        stream = self.by_name.get(name)
        if stream is None or stream.playable:
            return None
        stream.playable = True
        self._event("stream-started", stream=name, source_type=stream.source_type)
        log.info("stream %s is live (%s)", name, stream.source_type)
        return stream

    def pop(self, name: str) -> LiveStream | None:
        """The stream ends: no longer listed (its players are still to be dropped)."""
        stream = self.by_name.pop(name, None)
        if stream is None:
            return None
        self._event("stream-ended", stream=name)
        log.info("stream %s ended", name)
        if stream.start_task is not None and stream.start_task is not asyncio.current_task():
            stream.start_task.cancel()
        return stream

    # --- players ------------------------------------------------------------------------------

    def add_viewer(self, name: str, protocol: str) -> Viewer:
        stream = self.input_of(name)
        if stream is None:
            raise LookupError(f"no such stream: {name}")
        viewer = Viewer(f"v{self._next_id()}", stream.name, name, protocol.lower(), time.monotonic())
        self.viewers[viewer.id] = viewer
        return viewer

    def remove_viewer(self, viewer_id: str) -> None:
        viewer = self.viewers.pop(viewer_id, None)
        if viewer is None:
            return
        if viewer.lifetime_task is not None and viewer.lifetime_task is not asyncio.current_task():
            viewer.lifetime_task.cancel()
        stream = self.by_name.get(viewer.stream)
        if stream is not None:
            stream.departed_bytes_out += (time.monotonic() - viewer.started) * stream.bytes_per_second

    def viewers_of(self, name: str) -> list[Viewer]:
        return [viewer for viewer in self.viewers.values() if viewer.stream == name]

    # --- statistics ---------------------------------------------------------------------------

    def player_connections(self, stream: LiveStream) -> dict[str, int]:
        """The stream's connections by protocol, counting its players only."""
        counts = dict.fromkeys(CONNECTION_KEYS, 0)
        for viewer in self.viewers.values():
            if viewer.stream == stream.name:
                counts[viewer.protocol] = counts.get(viewer.protocol, 0) + 1
        return counts

    def count_connections(self, stream: LiveStream, total: int) -> None:
        """OME remembers the most connections a stream had, and when."""
        if total > stream.max_connections:
            stream.max_connections = total
            stream.max_connections_time = now()

    def stats(
        self,
        stream: LiveStream,
        *,
        connections: dict[str, int],
        pushed_bytes: float,
        moment: datetime,
        mono: float,
    ) -> dict[str, Any]:
        """`GET /v1/stats/current/…/streams/{name}`; `pushed_bytes` is what its pushes sent."""
        elapsed = mono - stream.started
        bytes_out = stream.departed_bytes_out
        bytes_out += sum((mono - viewer.started) * stream.bytes_per_second for viewer in self.viewers_of(stream.name))
        bytes_out += pushed_bytes
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

    def app_stats(self, parts: list[dict[str, Any]], *, moment: datetime) -> dict[str, Any]:
        """App (and vhost) statistics: the sum over the live streams' statistics `parts`."""
        connections = dict.fromkeys(CONNECTION_KEYS, 0)
        for part in parts:
            for key, value in part["connections"].items():
                connections[key] = connections.get(key, 0) + value

        def total(key: str) -> int:
            return sum(part[key] for part in parts)

        max_time = max((stream.max_connections_time for stream in self.by_name.values()), default=self.created)
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

    def info(self, stream: LiveStream) -> dict[str, Any]:
        """`GET …/streams/{name}`: input tracks and one output per output profile."""
        return stream_info_json(stream, self.settings.rtmp_variant_suffix)

    def apply_profiles(self, stream: LiveStream, profiles: list[dict[str, Any]] | None) -> None:
        """Build the stream's outputs from answered profiles (None: the local profiles)."""
        if profiles is None:
            stream.outputs = Outputs(None, stream_info_json(stream, self.settings.rtmp_variant_suffix)["outputs"])
            return
        tracks = input_tracks(stream)
        video = next(track["video"] for track in tracks if track["type"] == "Video")
        audio = next(track["audio"] for track in tracks if track["type"] == "Audio")
        has_data = any(track["type"] == "Data" for track in tracks)
        stream.outputs = Outputs(
            profiles, answered_outputs(profiles, name=stream.name, video=video, audio=audio, has_data=has_data)
        )


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


def input_tracks(stream: LiveStream) -> list[dict[str, Any]]:
    """The input's tracks as the stream info and the TranscodeWebhook request describe them."""
    video_codec = stream.video_codec.upper()
    audio_codec = "OPUS" if stream.audio_codec.lower() == "opus" else stream.audio_codec.upper()
    in_bitrate, in_channels = (62000, 1) if audio_codec == "AAC" else (96000, 2)
    tracks: list[dict[str, Any]] = [
        {"id": 0, "name": "Video", "type": "Video", "video": _video(video_codec, stream.source_type, bypass=False)},
        {
            "audio": _audio(audio_codec, in_bitrate, in_channels, kind="input"),
            "id": 1,
            "name": "Audio",
            "type": "Audio",
        },
    ]
    if stream.source_type in ("Rtmp", "Srt"):
        tracks.append(_data_track(2))
    return tracks


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
    answered = stream.outputs is not None and stream.outputs.answered is not None
    return {
        "input": {
            "createdTime": iso(stream.created),
            "sourceType": stream.source_type,
            "sourceUrl": stream.source_url,
            "tracks": tracks,
        },
        "name": stream.name,
        "outputs": stream.outputs.json if answered and stream.outputs else [rtmp, original],
    }
