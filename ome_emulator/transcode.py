"""OME 0.21's TranscodeWebhook: the request it sends when an input stream is created, and the
outputs it builds from the answer.

OME POSTs the stream (name, source, tracks) as tab-indented JSON (jsoncpp's styled writer, keys
sorted), signed like the admission webhook, and builds the stream's outputs from the answered
`outputProfiles` alone: the local profiles are used only when the control server cannot be
reached or answers an error (UseLocalProfilesOnConnectionFailure and UseLocalProfilesOnErrorResponse,
as docker/ome/Server.xml.template sets them). An answer that refuses (`allowed: false`) leaves the
stream without outputs: it is listed but never starts.
Reference: tests/ome_golden/transcode-webhook.json (recorded from a real OME 0.21.0).

The emulator does not scale video: every rendition carries the source's frames, relabelled, but
the outputs, playlists and track descriptions are what OME reports for the answered profiles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

ORIGIN_MACRO = "${OriginStreamName}"
PLAYLIST_OPTIONS = {"enableTsPackaging": False, "hlsChunklistPathDepth": -1, "webrtcAutoAbr": False}
# What OME sends with the webhook (golden headers); the signature header is added per body.
HEADERS = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "OvenMediaEngine"}
# The local profiles' thumbnail (docker/ome/Server.xml.template's original profile has the same).
LOCAL_THUMBNAIL = (640, 360)


def styled_json(value: Any, indent: str = "") -> str:
    """jsoncpp's StyledWriter as OME uses it: tabs, `"key" : value`, a non-empty container on its own line."""
    inner = indent + "\t"
    if isinstance(value, dict) and value:
        items = []
        for key in sorted(value):
            item = value[key]
            text = styled_json(item, inner)
            if isinstance(item, (dict, list)) and item:
                text = "\n" + inner + text
            items.append(f"{inner}{json.dumps(key)} : {text}")
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and value:
        return "[\n" + ",\n".join(inner + styled_json(item, inner) for item in value) + "\n" + indent + "]"
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return json.dumps(value)


def request_body(
    *, vhost: str, app: str, name: str, created: str, source_type: str, source_url: str, tracks: list
) -> bytes:
    """The raw body OME 0.21 sends for a newly created input stream."""
    body = {
        "source": source_url,
        "stream": {
            "application": app,
            "createdTime": created,
            "name": name,
            "sourceType": source_type,
            "sourceUrl": source_url,
            "tracks": tracks,
            "virtualHost": vhost,
        },
    }
    return (styled_json(body) + "\n").encode()


@dataclass
class Outputs:
    """The outputs OME built for one stream: `answered` holds the control server's `outputProfile`
    list, None for the local profiles."""

    answered: list[dict[str, Any]] | None = None
    json: list[dict[str, Any]] = field(default_factory=list)  # the stream info's `outputs`

    @property
    def thumbnail_size(self) -> tuple[int, int] | None:
        if self.answered is None:
            return LOCAL_THUMBNAIL
        for profile in self.answered:
            for image in (profile.get("encodes") or {}).get("images") or []:
                if isinstance(image, dict) and str(image.get("codec", "")).lower() in ("jpeg", "jpg"):
                    return _int(image.get("width"), 640), _int(image.get("height"), 360)
        return None

    def output(self, name: str) -> dict[str, Any] | None:
        return next((output for output in self.json if output["name"] == name), None)

    def playlist(self, output_name: str, file_name: str) -> dict[str, Any] | None:
        output = self.output(output_name)
        if output is None:
            return None
        return next((playlist for playlist in output["playlists"] if playlist["fileName"] == file_name), None)

    def webrtc_playlist(self, output_name: str, file_name: str) -> dict[str, Any] | None:
        """The `playlist` notification's message for a WebRTC player (None: no such playlist for WebRTC).

        Like OME, only renditions WebRTC can carry (Opus audio, or none) are in it, sorted by name,
        each with its tracks described as in the stream info."""
        output = self.output(output_name)
        playlist = self.playlist(output_name, file_name) if output else None
        if output is None or playlist is None:
            return None
        tracks = {track["name"]: track for track in output["tracks"]}
        renditions = []
        for rendition in playlist["renditions"]:
            video = tracks.get(rendition.get("videoVariantName", ""))
            audio = tracks.get(rendition.get("audioVariantName", ""))
            if audio is not None and audio["audio"]["codec"] != "OPUS":
                continue
            if video is None and audio is None:
                continue
            entry: dict[str, Any] = {"name": rendition["name"]}
            if video is not None:
                entry["video_track"] = video
            if audio is not None:
                entry["audio_track"] = audio
            renditions.append(entry)
        if not renditions:
            return None
        first = renditions[0]["name"]
        renditions.sort(key=lambda entry: entry["name"])
        return {
            "auto": bool(playlist["options"].get("webrtcAutoAbr")),
            "file_name": file_name,
            "first": first,
            "name": playlist["name"],
            "renditions": renditions,
        }


def _int(value: Any, default: int) -> int:
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def valid_profiles(answer: Any) -> list[dict[str, Any]] | None:
    """The answered `outputProfile` list, or None when the answer is not one OME would use."""
    if not isinstance(answer, dict) or answer.get("allowed") is not True:
        return None
    profiles = answer.get("outputProfiles")
    items = profiles.get("outputProfile") if isinstance(profiles, dict) else None
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not items:
        return None
    good = [item for item in items if isinstance(item, dict) and isinstance(item.get("outputStreamName"), str)]
    return good if len(good) == len(items) else None


def answered_outputs(
    profiles: list[dict[str, Any]], *, name: str, video: dict[str, Any], audio: dict[str, Any], has_data: bool
) -> list[dict[str, Any]]:
    """The stream info's `outputs` for answered profiles. `video` and `audio` are the input's tracks
    as the stream info describes them (passed-through variants copy them)."""
    outputs = []
    next_id = 0
    for profile in profiles:
        encodes = profile.get("encodes") if isinstance(profile.get("encodes"), dict) else {}
        tracks: list[dict[str, Any]] = []

        def add(track: dict[str, Any], into: list[dict[str, Any]] = tracks) -> None:
            nonlocal next_id
            track["id"] = next_id
            next_id += 1
            into.append(track)

        for item in encodes.get("videos") or []:
            if not isinstance(item, dict):
                continue
            description = dict(video, bypass=True, codecStatus="Ready")
            description.pop("codecModule", None)
            if str(item.get("bypass", "")).lower() != "true":
                width, height = _int(item.get("width"), video["width"]), _int(item.get("height"), video["height"])
                framerate = float(item.get("framerate") or video["framerate"])
                bitrate = _int(item.get("bitrate"), video["bitrate"])
                description = dict(
                    video,
                    bypass=False,
                    codec=str(item.get("codec", "h264")).upper(),
                    codecModule="libopenh264",
                    codecStatus="Ready",
                    width=width,
                    height=height,
                    maxWidth=width,
                    maxHeight=height,
                    framerate=framerate,
                    framerateConf=framerate,
                    maxFramerate=framerate,
                    bitrate=bitrate,
                    bitrateConf=bitrate,
                    keyFrameInterval=float(item.get("keyFrameInterval") or framerate),
                )
            add({"name": str(item.get("name") or f"video_{len(tracks)}"), "type": "Video", "video": description})
        for index, item in enumerate(encodes.get("images") or []):
            if not isinstance(item, dict):
                continue
            width, height = _int(item.get("width"), 640), _int(item.get("height"), 360)
            framerate = float(item.get("framerate") or 1)
            image = dict(video, bypass=False, codec="JPEG", codecStatus="Ready", width=width, height=height)
            image.update(maxWidth=width, maxHeight=height, framerate=framerate, maxFramerate=framerate)
            image.update(bitrate=73704, keyFrameInterval=framerate, codecModule="mjpeg")
            add({"name": str(item.get("name") or f"image_{index}"), "type": "Video", "video": image})
        for item in encodes.get("audios") or []:
            if not isinstance(item, dict):
                continue
            codec = str(item.get("codec", "")).upper()
            bypass = str(item.get("bypass", "")).lower() == "true" or (
                isinstance(item.get("bypassIfMatch"), dict) and codec == audio["codec"]
            )
            if bypass:
                description = dict(audio, bypass=True, codecStatus="Ready")
                description.pop("codecModule", None)
            else:
                bitrate = _int(item.get("bitrate"), 128000)
                description = dict(
                    audio,
                    bypass=False,
                    codec=codec,
                    codecModule={"OPUS": "libopus", "AAC": "libfdk_aac"}.get(codec, "none"),
                    codecStatus="Ready",
                    bitrate=bitrate,
                    bitrateAvg=bitrate,
                    bitrateConf=bitrate,
                    bitrateLatest=bitrate,
                    channel=_int(item.get("channel"), 2),
                    samplerate=_int(item.get("samplerate"), 48000),
                    timebase={"den": _int(item.get("samplerate"), 48000), "num": 1},
                )
            add({"audio": description, "name": str(item.get("name") or f"audio_{len(tracks)}"), "type": "Audio"})
        if has_data:
            add({"data": {"codec": "None"}, "name": "Data", "type": "Data"})
        by_name = {track["name"]: track for track in tracks}
        playlists = []
        for item in profile.get("playlists") or []:
            if not isinstance(item, dict) or not item.get("fileName"):
                continue
            options = dict(PLAYLIST_OPTIONS)
            given = item.get("options") if isinstance(item.get("options"), dict) else {}
            options["webrtcAutoAbr"] = bool(given.get("webRtcAutoAbr", given.get("webrtcAutoAbr", True)))
            options["enableTsPackaging"] = bool(given.get("enableTsPackaging", False))
            renditions = []
            for rendition in item.get("renditions") or []:
                if not isinstance(rendition, dict):
                    continue
                entry = {"name": str(rendition.get("name", ""))}
                if rendition.get("audio") in by_name:
                    entry["audioVariantName"] = rendition["audio"]
                if rendition.get("video") in by_name:
                    entry["videoVariantName"] = rendition["video"]
                renditions.append(entry)
            playlists.append(
                {
                    "fileName": str(item["fileName"]),
                    "name": str(item.get("name", "")),
                    "options": options,
                    "renditions": renditions,
                }
            )
        playlists += _default_playlists(tracks)
        output_name = profile["outputStreamName"].replace(ORIGIN_MACRO, name)
        outputs.append({"name": output_name, "playlists": playlists, "tracks": tracks})
    return outputs


def _default_playlists(tracks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The playlists OME adds to every output: its first video (not an image) with AAC for LL-HLS,
    with Opus for WebRTC."""
    video = next((t["name"] for t in tracks if t["type"] == "Video" and t["video"]["codec"] != "JPEG"), None)

    def audio(codec: str) -> str | None:
        return next((t["name"] for t in tracks if t["type"] == "Audio" and t["audio"]["codec"] == codec), None)

    playlists = []
    for file_name, name, audio_name in (
        ("llhls", "llhls_default", audio("AAC")),
        ("webrtc_default", "webrtc_default", audio("OPUS")),
    ):
        rendition: dict[str, Any] = {"name": "default"}
        if audio_name:
            rendition["audioVariantName"] = audio_name
        if video:
            rendition["videoVariantName"] = video
        playlists.append(
            {"fileName": file_name, "name": name, "options": dict(PLAYLIST_OPTIONS), "renditions": [rendition]}
        )
    return playlists
