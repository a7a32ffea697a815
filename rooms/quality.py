"""What OME makes of a room's stream: the answer to OME's TranscodeWebhook.

When an input stream is created OME POSTs its tracks to `POST /ome/transcode` (rooms.webhook)
and builds the stream's outputs from the answered `outputProfiles`, which replace the local
`<OutputProfiles>` of Server.xml entirely (those stay the fallback when the portal cannot be
reached). So every answer carries what the portal relies on whatever the room's quality:

- the stream as published (`video_source`, passed through) with Opus for WebRTC and AAC for
  LL-HLS (each passed through when the input already has that codec);
- the restream variants (`ROOM_rtmp`, and any per-platform suffix): the video as is and AAC,
  which RTMP servers require;
- a JPEG image encode for the Thumbnail publisher (rooms.thumbnails serves it with the room's
  access rules).

An adaptive room adds lower renditions from the ladder in settings (ADAPTIVE_RENDITIONS), never
at or above the source's height nor above its frame rate, and two playlists: `abr` for WebRTC
(Opus; OME switches renditions by itself, `webRtcAutoAbr`) and `abr_llhls` for LL-HLS (AAC).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from .models import Quality

ORIGINAL_STREAM = "${OriginStreamName}"  # OME's macro, not ours
WEBRTC_PLAYLIST = "abr"
LLHLS_PLAYLIST = "abr_llhls"
SOURCE_RENDITION = "source"
AUDIO_BITRATE = 128_000
# The thumbnail fits this box with the source's shape, one image a second (OME decodes the
# stream for it: the only cost of a thumbnail on an original room).
THUMBNAIL_BOX = (640, 360)
THUMBNAIL_FRAMERATE = 1


@dataclass(frozen=True)
class Source:
    """The input's video as OME reports it when the stream is created (0: not known yet)."""

    width: int = 0
    height: int = 0
    framerate: float = 0.0

    @classmethod
    def from_tracks(cls, tracks: Any) -> Source:
        for track in tracks if isinstance(tracks, list) else []:
            video = track.get("video") if isinstance(track, dict) else None
            if str(track.get("type", "")).lower() == "video" and isinstance(video, dict):
                return cls(
                    width=int(_positive(video.get("width"))),
                    height=int(_positive(video.get("height"))),
                    framerate=_positive(video.get("framerate")) or _positive(video.get("maxFramerate")),
                )
        return cls()


def _positive(value: Any) -> float:
    """A number OME reported (some versions write numbers as strings); 0 for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return 0.0
    try:
        number = float(value)
    except ValueError:
        return 0.0
    return number if math.isfinite(number) and 0 < number < 100_000 else 0.0


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int
    bitrate: int
    framerate: float

    @property
    def video_name(self) -> str:
        return f"video_{self.name}"


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def renditions_below(source: Source) -> list[Rendition]:
    """The ladder's rungs strictly below the source's height, same shape, never above its frame rate."""
    if not (source.width and source.height):
        return []
    cap = float(settings.ADAPTIVE_MAX_FRAMERATE)
    framerate = min(source.framerate, cap) if source.framerate else cap
    return [
        Rendition(f"{height}p", _even(source.width * height / source.height), height, bitrate, framerate)
        for height, bitrate in settings.ADAPTIVE_RENDITIONS
        if height < source.height
    ]


def thumbnail_size(source: Source) -> tuple[int, int]:
    box_width, box_height = THUMBNAIL_BOX
    if not (source.width and source.height):
        return THUMBNAIL_BOX
    scale = min(box_width / source.width, box_height / source.height, 1.0)
    return _even(source.width * scale), _even(source.height * scale)


def push_suffixes() -> list[str]:
    """Output stream suffixes that restreams use: the RTMP variant and any per-platform one."""
    suffixes = {settings.OME_RTMP_VARIANT_SUFFIX, *settings.OME_PUSH_VARIANT_SUFFIXES.values()}
    return sorted(suffix for suffix in suffixes if suffix)


def _audio(name: str, codec: str) -> dict[str, Any]:
    return {
        "name": name,
        "codec": codec,
        "bitrate": AUDIO_BITRATE,
        "samplerate": 48000,
        "channel": 2,
        "bypassIfMatch": {"codec": "eq"},
    }


def _video_encode(rendition: Rendition) -> dict[str, Any]:
    framerate = round(rendition.framerate, 3)
    return {
        "name": rendition.video_name,
        "codec": "h264",
        "width": rendition.width,
        "height": rendition.height,
        "bitrate": rendition.bitrate,
        "framerate": framerate,
        # A keyframe every second: players switch renditions at keyframes.
        "keyFrameInterval": max(1, round(framerate)),
        "bFrames": 0,
        "preset": "faster",
    }


def _playlist(file_name: str, name: str, audio: str, renditions: list[Rendition]) -> dict[str, Any]:
    return {
        "fileName": file_name,
        "name": name,
        "options": {"webRtcAutoAbr": True},
        "renditions": [
            {"name": SOURCE_RENDITION, "video": "video_source", "audio": audio},
            *({"name": rendition.name, "video": rendition.video_name, "audio": audio} for rendition in renditions),
        ],
    }


def output_profiles(*, quality: str, source: Source) -> dict[str, Any]:
    """The `outputProfiles` OME is to build the stream from."""
    width, height = thumbnail_size(source)
    main: dict[str, Any] = {
        "name": quality,
        "outputStreamName": ORIGINAL_STREAM,
        "encodes": {
            "videos": [{"name": "video_source", "bypass": "true"}],
            "audios": [_audio("audio_aac", "aac"), _audio("audio_opus", "opus")],
            "images": [{"codec": "jpeg", "framerate": THUMBNAIL_FRAMERATE, "width": width, "height": height}],
        },
    }
    if quality == Quality.ADAPTIVE:
        renditions = renditions_below(source)
        main["encodes"]["videos"] += [_video_encode(rendition) for rendition in renditions]
        main["playlists"] = [
            _playlist(WEBRTC_PLAYLIST, "Adaptive (WebRTC)", "audio_opus", renditions),
            _playlist(LLHLS_PLAYLIST, "Adaptive (LL-HLS)", "audio_aac", renditions),
        ]
    pushes = [
        {
            "name": f"push{suffix}",
            "outputStreamName": ORIGINAL_STREAM + suffix,
            "encodes": {
                "videos": [{"name": f"video{suffix}", "bypass": "true"}],
                "audios": [_audio(f"audio{suffix}", "aac")],
            },
        }
        for suffix in push_suffixes()
    ]
    return {"outputProfile": [main, *pushes]}


def answer(*, quality: str, source: Source) -> dict[str, Any]:
    return {"allowed": True, "outputProfiles": output_profiles(quality=quality, source=source)}
