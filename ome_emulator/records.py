"""Records (recording a stream to files) as OME 0.21's file publisher runs them: the record's
JSON, the FilePath/InfoPath macros and the fields of the info XML (media.py writes the files).

- `startRecord` checks its body with OME's messages; the record waits in `ready` until its stream
  (input name or output variant) is live, and starts recording as soon as the stream starts;
- with an `interval` (ms) a tick closes the file and starts the next one;
- when the stream ends, the record finishes its file + info XML entry (lastSequence false) and
  goes back to `ready`;
- `stopRecord` answers `stopping` (with the output paths as they were while recording) and the
  record is gone from `:records` at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import string
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from . import media
from .clock import EPOCH, iso, now
from .errors import ApiError
from .streams import LiveStream, OutputHost, tracks_and_variants

log = logging.getLogger("ome_emulator")

FIRST_KEYFRAME_DELAY = 0.04

_SCHEDULE = re.compile(
    r"^(\*|[0-5]?[0-9]|\*/[0-5]?[0-9]) (\*|[0-5]?[0-9]|\*/[0-5]?[0-9]) (\*|1?[0-9]|2[0-3]|\*/(1?[0-9]|2[0-3]))$"
)
_MACRO = re.compile(r"\$\{([a-zA-Z0-9:]+)\}")


def _random_id(length: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


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
        """Fields as OME writes a record (empty strings and zero counters omitted)."""
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


class Records:
    """The application's records and the files they are writing."""

    def __init__(self, emulator: OutputHost):
        self.emulator = emulator
        self.settings = emulator.settings
        self.by_id: dict[str, Record] = {}
        self._segments: list[asyncio.Future[dict[str, str]]] = []

    def _json(self, record: Record) -> dict[str, Any]:
        return record.to_json(self.settings.vhost, self.settings.app)

    # --- OME's REST actions -------------------------------------------------------------------

    def start(self, body: Any) -> dict[str, Any]:
        """`startRecord`."""
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
        if record_id in self.by_id:
            raise ApiError(400, "Duplicate ID already exists")
        rule = body.get("segmentationRule")
        track_ids, variants = tracks_and_variants(stream)
        record = Record(
            id=record_id,
            stream_name=stream_name,
            track_ids=track_ids,
            variant_names=variants,
            file_path=body.get("filePath") if isinstance(body.get("filePath"), str) else "",
            info_path=body.get("infoPath") if isinstance(body.get("infoPath"), str) else "",
            interval=max(interval, 0),
            schedule=schedule,
            segmentation_rule=rule if rule in ("continuity", "discontinuity") else "discontinuity",
            metadata=body.get("metadata") if isinstance(body.get("metadata"), str) else "",
            created=now(),
            transaction_id=_random_id(16),
        )
        self.by_id[record_id] = record
        self.emulator.event("record-created", id=record_id, stream=stream_name)
        if self.emulator.input_of(stream_name) is not None:
            self._start_session(record)
        return self._json(record)

    async def stop(self, body: Any, *, wait: float = 5.0) -> dict[str, Any]:
        """`stopRecord`."""
        body = body if isinstance(body, dict) else {}
        record_id = body.get("id") if isinstance(body.get("id"), str) else ""
        if not record_id:
            raise ApiError(400, "There is no required parameter [ id]")
        record = self.by_id.get(record_id)
        if record is None:
            raise ApiError(404, f"There is no record information related to the ID [{record_id}]")
        record.enabled = False
        # OME answers with a copy made before the session stops: state stopping, and (since 0.21)
        # the output paths as they were while recording, EndTime still the epoch: the final name
        # is only in the info XML.
        answer = self._json(replace(record, state="stopping"))
        del self.by_id[record_id]
        future = self._finish_segment(record, last=True) if record.recording_since is not None else None
        self.emulator.event("record-stopped", id=record_id)
        if future is not None:
            # OME writes the file and the XML before it answers; so do we, unless that takes long.
            with contextlib.suppress(TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(future), timeout=wait)
        return answer

    def listing(self, body: Any) -> list[dict[str, Any]]:
        """`records`: all, or the one whose id the body names."""
        record_id = body.get("id") if isinstance(body, dict) and isinstance(body.get("id"), str) else ""
        return [self._json(record) for record in self.by_id.values() if not record_id or record.id == record_id]

    # --- what the streams and the statistics ask ----------------------------------------------

    def sessions_on(self, outputs: list[str]) -> int:
        return sum(
            1 for record in self.by_id.values() if record.stream_name in outputs and record.recording_since is not None
        )

    def stream_started(self, stream: LiveStream) -> None:
        # OME's file publisher starts the records waiting for a stream when the stream starts.
        for record in self.by_id.values():
            if (
                record.enabled
                and self.emulator.input_of(record.stream_name) is stream
                and record.recording_since is None
            ):
                self._start_session(record)

    def stream_ended(self, outputs: list[str]) -> None:
        for record in self.by_id.values():
            if record.stream_name in outputs and record.recording_since is not None:
                self._finish_segment(record, last=False)
                record.state = "ready"

    def files_being_written(self) -> list[asyncio.Future[dict[str, str]]]:
        return [future for future in self._segments if not future.done()]

    # --- the session state machine ------------------------------------------------------------

    def _expand(self, record: Record, template: str) -> str:
        return expand_macros(
            template,
            vhost=self.settings.vhost,
            app=self.settings.app,
            stream=record.stream_name,
            sequence=record.sequence,
            record_id=record.id,
            transaction_id=record.transaction_id,
            start=record.start_time,
            end=record.stop_time,
        )

    def _templates(self, record: Record) -> tuple[str, str]:
        return record.file_path or self.settings.file_path, record.info_path or self.settings.info_path

    def _start_session(self, record: Record) -> None:
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
        self.emulator.event("record-started", id=record.id, file=record.output_file_path)
        self.emulator.session_started(record.stream_name)

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
            "vhost": self.settings.vhost,
            "app": self.settings.app,
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
                self.emulator.event("record-file-failed", id=record.id, file=segment.file_path, error=str(error))
            else:
                self.emulator.event("record-file-written", id=record.id, file=segment.file_path, info=segment.info_path)

        future.add_done_callback(done)
        record.sequence += 1
        record.total_bytes += record_bytes
        record.total_time_ms += record_time
        record.record_bytes, record.record_time_ms = 0, 0
        record.state = "stopped"
        return future

    def tick(self) -> None:
        """Split the files of records with an interval."""
        mono = time.monotonic()
        for record in self.by_id.values():
            if record.recording_since is not None and record.interval > 0:
                if (mono - record.recording_since) * 1000 > record.interval:
                    self._finish_segment(record, last=False)
                    self._start_session(record)

    # --- the control API's reset --------------------------------------------------------------

    async def abandon_all(self) -> None:
        """Forget every record without writing its file."""
        for record in self.by_id.values():
            record.enabled = False
        for record in self.by_id.values():
            record.recording_since = None
            if record.writer is not None:
                writer, record.writer = record.writer, None
                await asyncio.get_running_loop().run_in_executor(None, writer.abandon)
        self.by_id.clear()
