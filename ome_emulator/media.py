"""Writing recordings: a real H.264 + AAC file of the recorded duration and OME's info XML.

OME's file publisher writes the media to a temporary file next to the target while it records,
renames it to the final name (with `${EndTime}` filled in) when the record finishes, and then
appends a `<file>` entry to the info XML (tests/ome_golden/record-info.xml). The emulator does
the same (`SegmentWriter`), so a killed emulator leaves the temporary file behind, like OME.
To stay cheap on CPU with hundreds of recordings it encodes a two-second loop once per process
(PyAV, libx264 ultrafast + AAC), repeats those packets with new timestamps in every file (an
hour of "recording" is written in well under a second of CPU), and one thread writes all open
files.
"""

from __future__ import annotations

import array
import contextlib
import fractions
import io
import math
import os
import random
import secrets
import string
import threading
import time
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
_ALPHANUMERIC = string.ascii_letters + string.digits

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


@dataclass(frozen=True)
class _EncodedLoop:
    """The test loop encoded once per process and container kind: its packets, and the streams
    they were encoded for, whose codec parameters (the H.264 SPS/PPS of an MP4) every file's
    streams copy, so that a new file costs no encoding and no encoder threads."""

    container: av.container.OutputContainer  # in memory, kept open: the template streams live in it
    video: av.video.stream.VideoStream
    audio: av.audio.stream.AudioStream
    video_packets: list[tuple[bytes, bool]]
    audio_packets: list[bytes]


_loops: dict[bool, _EncodedLoop] = {}
_loops_lock = threading.Lock()


def _encoded_loop(*, mp4: bool) -> _EncodedLoop:
    with _loops_lock:
        if mp4 not in _loops:
            _loops[mp4] = _encode_loop(mp4=mp4)
        return _loops[mp4]


def _encode_loop(*, mp4: bool) -> _EncodedLoop:
    container = av.open(io.BytesIO(), "w", format="mp4" if mp4 else "mpegts")
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
    video_packets = [
        (bytes(packet), packet.is_keyframe) for frame in [*_video_frames(), None] for packet in video.encode(frame)
    ]
    audio_packets = [bytes(packet) for frame in [*_audio_frames(), None] for packet in audio.encode(frame)]
    container.start_encoding()  # fills the streams' codec parameters from their encoders
    return _EncodedLoop(container, video, audio, video_packets, audio_packets)


class _Muxer:
    """The encoded test loop, muxed into a file up to a given time (video and audio interleaved).

    `.mp4` targets get an MP4 with the moov atom first — written only when the file is closed, as
    with OME's FFmpeg writer, so an MP4 cut short by a crash has none — anything else MPEG-TS."""

    def __init__(self, path: Path, *, mp4: bool):
        loop = _encoded_loop(mp4=mp4)
        options = {"movflags": "+faststart"} if mp4 else {}
        # Our own unbuffered file: what is muxed reaches the disk as it is written (PyAV's own file
        # for a path keeps it until the end), and +faststart can read it back when closing.
        self.file = path.open("w+b", buffering=0)
        self.container = av.open(self.file, "w", format="mp4" if mp4 else "mpegts", options=options)
        self.video = self.container.add_stream_from_template(loop.video)
        self.audio = self.container.add_stream_from_template(loop.audio)
        self.video_loop = loop.video_packets
        self.audio_loop = loop.audio_packets
        self.v = self.a = 0
        self.written = 0

    def write_until(self, seconds: float) -> None:
        video_count = max(1, round(seconds * FPS))
        audio_count = max(1, math.ceil(seconds * SAMPLE_RATE / AAC_FRAME))
        video_tb, audio_tb = fractions.Fraction(1, FPS), fractions.Fraction(1, SAMPLE_RATE)
        # Interleave by time ourselves so the muxer never has to buffer much.
        while self.v < video_count or self.a < audio_count:
            v, a = self.v, self.a
            if a >= audio_count or (v < video_count and v / FPS <= a * AAC_FRAME / SAMPLE_RATE):
                data, key = self.video_loop[v % len(self.video_loop)]
                packet = av.Packet(data)
                packet.stream, packet.time_base = self.video, video_tb
                packet.pts = packet.dts = v
                packet.duration = 1
                packet.is_keyframe = key
                self.v += 1
            else:
                data = self.audio_loop[a % len(self.audio_loop)]
                packet = av.Packet(data)
                packet.stream, packet.time_base = self.audio, audio_tb
                packet.pts = packet.dts = a * AAC_FRAME
                packet.duration = AAC_FRAME
                packet.is_keyframe = True
                self.a += 1
            self.written += len(data)
            self.container.mux(packet)

    def close(self) -> int:
        """Finish the file (MP4: write the moov atom); returns the payload bytes written."""
        try:
            self.container.close()
        finally:
            self.file.close()
        return self.written


def _is_mp4(path: Path | str) -> bool:
    return Path(path).suffix.lower() in (".mp4", ".m4v", ".mov")


def write_media(path: Path, duration_ms: int) -> int:
    """Write an H.264 + AAC file of about `duration_ms` to `path` (.mp4 with the moov atom
    first, anything else MPEG-TS, like OME's default). Returns the payload bytes written."""
    muxer = _Muxer(path, mp4=_is_mp4(path))
    try:
        muxer.write_until(max(duration_ms, 1) / 1000)
    finally:
        written = muxer.close()
    return written


class _WritingClock:
    """One thread writes a little of every open segment each interval. A thread per segment
    made hundreds of recordings wake at once and fight over the GIL (in PyAV's muxing, which
    releases it per packet), starving the event loop that answers OME's API."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._writers: set[SegmentWriter] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, writer: SegmentWriter) -> None:
        with self._lock:
            self._writers.add(writer)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="record-writer", daemon=True)
                self._thread.start()

    def remove(self, writer: SegmentWriter) -> None:
        with self._lock:
            self._writers.discard(writer)

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            with self._lock:
                writers = list(self._writers)
                if not writers:
                    self._thread = None
                    return
            for writer in writers:
                writer.write_a_little()


class SegmentWriter:
    """One record segment written as it is recorded, like OME's FileSession + FileWriter.

    The media goes into `tmp_<32 random characters>` (no extension) in the target's folder,
    a little every half second, so a killed server leaves that file behind with what it had
    written (no info XML; an MP4 without its moov atom). `finish` writes the rest, closes
    the file, renames it to the final name and appends the info XML entry.
    """

    INTERVAL = 0.5

    def __init__(self, *, root: Path, file_path: str, started: float | None = None):
        self.root = root
        folder = disk_path(root, file_path).parent
        self.temporary = folder / ("tmp_" + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(32)))
        self.mp4 = _is_mp4(file_path)
        self.started = time.monotonic() if started is None else started  # monotonic: media time zero
        self._lock = threading.Lock()  # the clock's writing against finish/abandon
        self._muxer: _Muxer | None = None
        self._error: BaseException | None = None
        self._stopped = False
        folder.mkdir(parents=True, exist_ok=True)
        self.temporary.touch()  # there from the start, as OME's
        _clock.add(self)

    def write_a_little(self) -> None:
        """Write up to now (the clock's thread)."""
        with self._lock:
            if self._stopped or self._error is not None:
                return
            try:
                self._open()
                self._muxer.write_until(max(time.monotonic() - self.started, 0.0))
            except BaseException as error:  # reported by finish()
                self._error = error

    def _open(self) -> None:
        if self._muxer is None:
            self._muxer = _Muxer(self.temporary, mp4=self.mp4)

    def _stop_writing(self) -> None:
        _clock.remove(self)
        with self._lock:
            self._stopped = True
            if self._error is not None:
                raise self._error
            self._open()

    def abandon(self) -> None:
        """The record was dropped without a file (the emulator's reset): stop and delete."""
        _clock.remove(self)
        with self._lock:
            self._stopped = True
            if self._muxer is not None:
                with contextlib.suppress(Exception):
                    self._muxer.close()
        self.temporary.unlink(missing_ok=True)

    def finish(self, segment: FinishedSegment) -> dict[str, str]:
        """Write up to the segment's duration, close, rename, append the info XML. Runs in a thread."""
        self._stop_writing()
        assert self._muxer is not None
        final = disk_path(segment.root, segment.file_path)
        info = disk_path(segment.root, segment.info_path)
        try:
            self._muxer.write_until(max(segment.duration_ms, 1) / 1000)
            payload = self._muxer.close()
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.temporary, final)
        finally:
            self.temporary.unlink(missing_ok=True)
        fields = dict(segment.xml_fields)
        fields["recordBytes"] = str(payload)
        append_info_xml(info, fields)
        return fields


_clock = _WritingClock(SegmentWriter.INTERVAL)


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
