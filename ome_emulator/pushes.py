"""Pushes (restreaming a stream to an RTMP, SRT or MPEG-TS destination) as OME 0.21 runs them.

- `startPush` checks its body with OME's messages and creates the push in `ready`; it waits there
  until its stream (input name or output variant) is live;
- a periodic session-control tick (re)starts pushes: `connecting` from the session's start, then
  `pushing` once the destination took the stream;
- a push to a failing destination goes `error` and is retried on every tick, like OME;
- when the stream ends, a push's session stops (`stopped`, sequence + 1, bytes move to the
  totals) and the push goes back to `ready`, kept, and restarts when the stream comes back;
- `stopPush` marks the push; it stays listed as it was for a moment, then a tick stops it and
  removes it from `:pushes`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .clock import EPOCH, iso, now
from .errors import ApiError
from .streams import OutputHost, tracks_and_variants

log = logging.getLogger("ome_emulator")

PUSH_BYTES_PER_SECOND = 41_200
# OME 0.21 (golden session): a push is `connecting` from its session's start, `pushing` once the
# destination took the stream (0.5-0.7 s after startPush, the session started at ~0.2-0.4 s).
PUSH_CONNECT_SECONDS = 0.3
# After stopPush OME 0.21 keeps listing the push with its last state for a moment (golden:
# gone within 2 s); the next session-control tick after this long removes it.
PUSH_LINGER_SECONDS = 1.5

_URL_SHAPE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/\s?#]+")


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
        # OME omits empty strings.
        return {key: value for key, value in body.items() if value != ""}


class Pushes:
    """The application's pushes, and the destinations the control API made unreachable."""

    def __init__(self, emulator: OutputHost):
        self.emulator = emulator
        self.settings = emulator.settings
        self.by_id: dict[str, Push] = {}
        self.failed_destinations: dict[str, str] = {}

    def _json(self, push: Push) -> dict[str, Any]:
        return push.to_json(self.settings.vhost, self.settings.app)

    # --- OME's REST actions -------------------------------------------------------------------

    def start(self, body: Any) -> dict[str, Any]:
        """`startPush`."""
        body = body if isinstance(body, dict) else {}
        where = f"[{self.settings.vhost}/{self.settings.app}]"
        protocol = body.get("protocol") if isinstance(body.get("protocol"), str) else ""
        protocol = protocol.strip().lower()
        if protocol not in ("rtmp", "mpegts", "srt"):
            raise ApiError(400, f"Could not find protocol '{protocol}': {where}")
        push_id = body.get("id") if isinstance(body.get("id"), str) else ""
        stream = body.get("stream") if isinstance(body.get("stream"), dict) else {}
        stream_name = stream.get("name") if isinstance(stream.get("name"), str) else ""
        url = (body.get("url") if isinstance(body.get("url"), str) else "").strip()
        stream_key = (body.get("streamKey") if isinstance(body.get("streamKey"), str) else "").strip()
        track_ids, variants = tracks_and_variants(stream)
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
        if push_id in self.by_id:
            raise ApiError(400, "Duplicate ID")
        push = Push(push_id, stream_name, protocol, url, stream_key, track_ids, variants, now())
        self.by_id[push_id] = push
        self.emulator.event("push-created", id=push_id, stream=stream_name, url=push.destination())
        return self._json(push)

    def stop(self, body: Any) -> None:
        """`stopPush`."""
        body = body if isinstance(body, dict) else {}
        push_id = body.get("id") if isinstance(body.get("id"), str) else ""
        if not push_id:
            raise ApiError(400, "There is no required parameter [ id]")
        push = self.by_id.get(push_id)
        if push is None:
            raise ApiError(404, f"Could not find id '{push_id}': [{self.settings.vhost}/{self.settings.app}]")
        if not push.removed:
            push.removed, push.removed_at = True, time.monotonic()

    def listing(self, body: Any) -> list[dict[str, Any]]:
        """`pushes`: all, or the one whose id the body names."""
        push_id = body.get("id") if isinstance(body, dict) and isinstance(body.get("id"), str) else ""
        # OME keeps pushes in a std::map: listed in id order.
        pushes = sorted(self.by_id.values(), key=lambda push: push.id)
        return [self._json(push) for push in pushes if not push_id or push.id == push_id]

    # --- what the streams and the statistics ask ----------------------------------------------

    def sessions_on(self, outputs: list[str]) -> int:
        return sum(1 for push in self.by_id.values() if push.stream_name in outputs and push.session is not None)

    def sent_bytes_on(self, outputs: list[str], mono: float) -> float:
        return sum(
            push.total_bytes + push.sent_bytes(mono) for push in self.by_id.values() if push.stream_name in outputs
        )

    def stream_ended(self, outputs: list[str]) -> None:
        for push in self.by_id.values():
            if push.stream_name in outputs and push.session is not None:
                self._stop_session(push)

    # --- destinations the control API breaks and heals ----------------------------------------

    def fail_destination(self, url: str, message: str) -> None:
        self.failed_destinations[url.rstrip("/")] = message
        self.tick()

    def heal_destination(self, url: str) -> None:
        self.failed_destinations.pop(url.rstrip("/"), None)

    def _destination_failure(self, push: Push) -> str | None:
        destination = push.destination()
        for url, message in self.failed_destinations.items():
            if url in (push.url, destination) or destination.startswith(url.rstrip("/") + "/"):
                return message
        return None

    # --- the session state machine ------------------------------------------------------------

    def _start_session(self, push: Push) -> None:
        push.start_time = now()
        failure = self._destination_failure(push)
        if failure is not None:
            if push.last_error != failure or push.state != "error":
                self.emulator.event("push-error", id=push.id, url=push.destination(), message=failure)
                log.info("push %s to %s failed: %s", push.id, push.destination(), failure)
            push.session, push.state, push.last_error = "error", "error", failure
            return
        push.session, push.state, push.last_error = "started", "connecting", None
        push.attempt += 1
        attempt = push.attempt
        asyncio.get_running_loop().call_later(PUSH_CONNECT_SECONDS, self._connected, push, attempt)
        self.emulator.session_started(push.stream_name)

    def _connected(self, push: Push, attempt: int) -> None:
        """The destination took the stream: bytes flow."""
        if self.by_id.get(push.id) is not push or push.attempt != attempt:
            return
        if push.session != "started" or push.state != "connecting":
            return
        push.state = "pushing"
        push.pushing_since = time.monotonic()
        self.emulator.event("push-started", id=push.id, url=push.destination())

    def _pause(self, push: Push) -> None:
        """Bytes stop flowing: fold them into the sequence's counters."""
        if push.pushing_since is not None:
            mono = time.monotonic()
            push.sent_time_ms = push.sent_time(now())
            push.bytes_done = push.sent_bytes(mono)
            push.pushing_since = None

    def _stop_session(self, push: Push) -> None:
        """Like OME's push session stop: stopping → stopped, next sequence, counters to the totals."""
        self._pause(push)
        push.state = "stopped"
        push.start_time = now()
        push.sequence += 1
        push.total_bytes += push.bytes_done
        push.total_time_ms += push.sent_time_ms
        push.bytes_done, push.sent_time_ms = 0.0, 0
        push.session = None
        self.emulator.event("push-stopped", id=push.id)

    def tick(self) -> None:
        """OME's session control: remove stopped pushes, (re)start the others' sessions."""
        mono = time.monotonic()
        for push in list(self.by_id.values()):
            if push.removed:
                if mono - push.removed_at < PUSH_LINGER_SECONDS:
                    continue  # still listed, as it was
                if push.session is not None:
                    self._stop_session(push)
                del self.by_id[push.id]
                self.emulator.event("push-removed", id=push.id)
                continue
            if self.emulator.input_of(push.stream_name) is None:
                push.state = "ready"
                continue
            if push.session == "started":
                failure = self._destination_failure(push)
                if failure is not None:
                    # The RTMP connection broke: the writer fails, the session goes to error.
                    self._pause(push)
                    push.session, push.state, push.last_error = "error", "error", failure
                    self.emulator.event("push-error", id=push.id, url=push.destination(), message=failure)
            elif push.session in (None, "error"):
                self._start_session(push)

    # --- the control API's reset --------------------------------------------------------------

    def remove_all(self) -> None:
        """Mark every push stopped before the reset forgets them: a tick meanwhile starts none."""
        for push in self.by_id.values():
            push.removed = True

    def forget(self) -> None:
        self.by_id.clear()
        self.failed_destinations.clear()
