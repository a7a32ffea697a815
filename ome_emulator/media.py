"""Writing recordings: a real H.264 + AAC file of the recorded duration and OME's info XML.

OME's file publisher writes the media to a temporary file next to the target, renames it to
the final name (with `${EndTime}` filled in) and then appends a `<file>` entry to the info XML
(tests/ome_golden/record-info.xml). The emulator does the same. To stay cheap on CPU it encodes
a two-second loop once per file (PyAV, libx264 ultrafast + AAC) and repeats those packets with
new timestamps, so an hour of "recording" is written in well under a second of CPU.
"""

from __future__ import annotations

import array
import fractions
import math
import os
import random
import secrets
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import av

WIDTH, HEIGHT, FPS = 640, 360, 15
LOOP_SECONDS = 2
SAMPLE_RATE, AAC_FRAME = 48000, 1024
# Payload bytes per second of what write_media produces (measured; used for live counters).
BYTES_PER_SECOND = 55_800

_xml_lock = threading.Lock()

# The order and names of the children of <file> in OME's info XML.
XML_FIELDS = (
    "transactionId",
    "id",
    "metadata",
    "vhost",
    "app",
    "stream",
    "filePath",
    "recordBytes",
    "recordTime",
    "sequence",
    "lastSequence",
    "createdTime",
    "startTime",
    "finishTime",
)


def _video_frames() -> list[av.VideoFrame]:
    """A moving test pattern: vertical bars sliding right plus a band of (seeded) noise."""
    noise = random.Random(1935).randbytes(WIDTH * 48 + WIDTH * 4 * 1000)
    frames = []
    for index in range(FPS * LOOP_SECONDS):
        shift = (index * 8) % WIDTH
        row = bytes(((((x + shift) // 20) % 2) * 150 + 50 + (x * index) % 7) for x in range(WIDTH))
        luma = b"".join(row[(r // 30) * 5 :] + row[: (r // 30) * 5] for r in range(HEIGHT))
        start = (index * 1000) % (WIDTH * 4)
        band = noise[start : start + WIDTH * 40]
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        frame.planes[0].update(luma[: WIDTH * 100] + band + luma[WIDTH * 140 :])
        frame.planes[1].update(bytes([128 + int(50 * math.sin(index / 5))]) * frame.planes[1].buffer_size)
        frame.planes[2].update(bytes([128]) * frame.planes[2].buffer_size)
        frame.pts = index
        frame.time_base = fractions.Fraction(1, FPS)
        frames.append(frame)
    return frames


def _audio_frames() -> list[av.AudioFrame]:
    """A quiet 440 Hz tone; 880 periods fit the loop exactly, so repeats join smoothly."""
    total = SAMPLE_RATE * LOOP_SECONDS
    samples = array.array(
        "h", (int(2500 * math.sin(2 * math.pi * 440 * k / SAMPLE_RATE)) for k in range(total))
    ).tobytes()
    frames = []
    for start in range(0, total, AAC_FRAME):
        frame = av.AudioFrame(format="s16", layout="mono", samples=AAC_FRAME)
        frame.planes[0].update(samples[start * 2 : (start + AAC_FRAME) * 2].ljust(AAC_FRAME * 2, b"\0"))
        frame.sample_rate = SAMPLE_RATE
        frame.pts = start
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        frames.append(frame)
    return frames


def write_media(path: Path, duration_ms: int) -> int:
    """Write an H.264 + AAC file of about `duration_ms` to `path` (.mp4 with the moov atom
    first, anything else MPEG-TS, like OME's default). Returns the payload bytes written."""
    is_mp4 = path.suffix.lower() in (".mp4", ".m4v", ".mov")
    options = {"movflags": "+faststart"} if is_mp4 else {}
    container = av.open(str(path), "w", format="mp4" if is_mp4 else "mpegts", options=options)
    try:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        gop = str(FPS * LOOP_SECONDS)
        video.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "g": gop,
            "keyint_min": gop,
            "bf": "0",
            "sc_threshold": "0",
        }
        video.bit_rate = 300_000
        audio = container.add_stream("aac", rate=SAMPLE_RATE)
        audio.layout = "mono"
        audio.bit_rate = 64_000

        video_loop: list[tuple[bytes, bool]] = []
        for frame in [*_video_frames(), None]:
            video_loop += [(bytes(packet), packet.is_keyframe) for packet in video.encode(frame)]
        audio_loop: list[bytes] = []
        for frame in [*_audio_frames(), None]:
            audio_loop += [bytes(packet) for packet in audio.encode(frame)]

        seconds = max(duration_ms, 1) / 1000
        video_count = max(1, round(seconds * FPS))
        audio_count = max(1, math.ceil(seconds * SAMPLE_RATE / AAC_FRAME))
        video_tb, audio_tb = fractions.Fraction(1, FPS), fractions.Fraction(1, SAMPLE_RATE)
        v = a = 0
        written = 0
        # Interleave by time ourselves so the muxer never has to buffer much.
        while v < video_count or a < audio_count:
            if a >= audio_count or (v < video_count and v / FPS <= a * AAC_FRAME / SAMPLE_RATE):
                data, key = video_loop[v % len(video_loop)]
                packet = av.Packet(data)
                packet.stream, packet.time_base = video, video_tb
                packet.pts = packet.dts = v
                packet.duration = 1
                packet.is_keyframe = key
                v += 1
            else:
                data = audio_loop[a % len(audio_loop)]
                packet = av.Packet(data)
                packet.stream, packet.time_base = audio, audio_tb
                packet.pts = packet.dts = a * AAC_FRAME
                packet.duration = AAC_FRAME
                packet.is_keyframe = True
                a += 1
            written += len(data)
            container.mux(packet)
    finally:
        container.close()
    return written


@dataclass(frozen=True)
class FinishedSegment:
    """A finished recording segment; paths are OME-side paths, `root` maps them to disk."""

    root: Path
    file_path: str
    info_path: str
    duration_ms: int
    xml_fields: dict[str, str]  # every XML field except recordBytes, which comes from the file


def disk_path(root: Path, ome_path: str) -> Path:
    """Where an OME-side path lands: `root` plays the role of OME's filesystem root.
    Raises ValueError for paths that would escape the root (`..`)."""
    target = (root / ome_path.lstrip("/")).resolve()
    base = root.resolve()
    if target != base and base not in target.parents:
        raise ValueError(f"path escapes the recordings directory: {ome_path}")
    return target


def finish_segment(segment: FinishedSegment) -> dict[str, str]:
    """Write the media file (temporary name, then rename) and append the info XML entry.
    Runs in a worker thread. Returns the XML entry written."""
    final = disk_path(segment.root, segment.file_path)
    info = disk_path(segment.root, segment.info_path)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.parent / f"tmp_{secrets.token_hex(16)}{final.suffix}"
    try:
        payload = write_media(temporary, segment.duration_ms)
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)
    fields = dict(segment.xml_fields)
    fields["recordBytes"] = str(payload)
    append_info_xml(info, fields)
    return fields


def append_info_xml(path: Path, fields: dict[str, str]) -> None:
    """Append one <file> entry to OME's info XML, creating the file when needed."""
    with _xml_lock:
        entries: list[dict[str, str]] = []
        if path.exists():
            try:
                root = ET.parse(path).getroot()
                entries = [{child.tag: child.text or "" for child in item} for item in root.findall("file")]
            except ET.ParseError:
                entries = []
        entries.append(fields)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        temporary.write_text(render_info_xml(entries), encoding="utf-8")
        os.replace(temporary, path)


def render_info_xml(entries: list[dict[str, str]]) -> str:
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<files>"]
    for entry in entries:
        lines.append("  <file>")
        for name in XML_FIELDS:
            value = entry.get(name, "")
            if name == "filePath":
                lines.append(f"    <filePath><![CDATA[{value}]]></filePath>")
            else:
                lines.append(f"    <{name}>{escape(value)}</{name}>")
        lines.append("  </file>")
    lines.append("</files>")
    return "\n".join(lines) + "\n"
