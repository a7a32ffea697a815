"""The OvenMediaEngine REST API v1 client: the only code that knows OME's URLs and JSON.

It speaks HTTP and OME's envelopes (`{"statusCode", "message", "response"}`) and returns
dataclasses; it never touches Django models. Every failure is an `OmeError` subclass, so
callers decide what is retryable (`OmeUnavailable`) and what is final.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from prometheus_client import Counter, Histogram

__all__ = [
    "OmeBadRequest",
    "OmeClient",
    "OmeConflict",
    "OmeError",
    "OmeNotFound",
    "OmeUnauthorized",
    "OmeUnavailable",
    "PushInfo",
    "RecordInfo",
    "StreamInfo",
    "StreamStats",
]


class OmeError(Exception):
    """OME refused or failed a call. `message` is OME's own text when it sent one."""

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class OmeUnavailable(OmeError):
    """OME could not be reached, timed out, or failed on its side (5xx): worth retrying."""


class OmeBadRequest(OmeError):
    """OME rejected the request's content (400)."""


class OmeConflict(OmeBadRequest):
    """A push or record with this id already exists (OME answers 400 "Duplicate ID")."""


class OmeNotFound(OmeError):
    """The vhost, app, stream, push or record does not exist (404)."""


class OmeUnauthorized(OmeError):
    """The API token is missing or wrong (401)."""


_ERROR_KINDS = {
    OmeUnavailable: "unavailable",
    OmeBadRequest: "bad_request",
    OmeConflict: "conflict",
    OmeNotFound: "not_found",
    OmeUnauthorized: "unauthorized",
}
OME_CALL_SECONDS = Histogram(
    "portal_ome_call_seconds", "Time OME's REST API took to answer (or fail), by operation.", ["operation"]
)
OME_CALL_ERRORS = Counter(
    "portal_ome_call_errors_total",
    "OME REST calls that failed, by operation and kind of failure.",
    ["operation", "kind"],
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(value: str | None) -> datetime | None:
    """OME timestamps ('2026-11-24T15:50:19.485+00:00', older '+0900'); the epoch means unset."""
    if not value:
        return None
    text = value.strip()
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return None if parsed <= _EPOCH else parsed


@dataclass(frozen=True)
class StreamInfo:
    name: str
    source_type: str
    created_time: datetime | None
    output_names: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StreamInfo:
        source = data.get("input") or {}
        return cls(
            name=data.get("name", ""),
            source_type=source.get("sourceType", ""),
            created_time=parse_time(source.get("createdTime")),
            output_names=[output.get("name", "") for output in data.get("outputs") or []],
        )


@dataclass(frozen=True)
class PushInfo:
    id: str
    state: str
    stream_name: str
    protocol: str
    url: str
    stream_key: str
    sent_bytes: int
    sent_time_ms: int
    total_sent_bytes: int
    total_sent_time_ms: int
    sequence: int
    created_time: datetime | None
    start_time: datetime | None
    finish_time: datetime | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PushInfo:
        return cls(
            id=str(data.get("id", "")),
            state=str(data.get("state", "")).lower(),
            stream_name=(data.get("stream") or {}).get("name", ""),
            protocol=data.get("protocol", ""),
            url=data.get("url", ""),
            stream_key=data.get("streamKey", ""),
            sent_bytes=int(data.get("sentBytes") or 0),
            sent_time_ms=int(data.get("sentTime") or 0),
            total_sent_bytes=int(data.get("totalsentBytes") or 0),
            total_sent_time_ms=int(data.get("totalsentTime") or 0),
            sequence=int(data.get("sequence") or 0),
            created_time=parse_time(data.get("createdTime")),
            start_time=parse_time(data.get("startTime")),
            finish_time=parse_time(data.get("finishTime")),
        )


@dataclass(frozen=True)
class RecordInfo:
    id: str
    state: str
    stream_name: str
    file_path: str
    info_path: str
    record_bytes: int
    record_time_ms: int
    total_record_bytes: int
    total_record_time_ms: int
    sequence: int
    created_time: datetime | None
    start_time: datetime | None
    finish_time: datetime | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordInfo:
        # Current OME reports outputFilePath/outputInfoPath; older versions filePath/infoPath.
        return cls(
            id=str(data.get("id", "")),
            state=str(data.get("state", "")).lower(),
            stream_name=(data.get("stream") or {}).get("name", ""),
            file_path=data.get("outputFilePath") or data.get("filePath") or "",
            info_path=data.get("outputInfoPath") or data.get("infoPath") or "",
            record_bytes=int(data.get("recordBytes") or 0),
            record_time_ms=int(data.get("recordTime") or 0),
            total_record_bytes=int(data.get("totalRecordBytes") or 0),
            total_record_time_ms=int(data.get("totalRecordTime") or 0),
            sequence=int(data.get("sequence") or 0),
            created_time=parse_time(data.get("createdTime")),
            start_time=parse_time(data.get("startTime")),
            finish_time=parse_time(data.get("finishTime")),
        )


@dataclass(frozen=True)
class StreamStats:
    total_connections: int
    max_total_connections: int
    connections: dict[str, int]
    total_bytes_in: int
    total_bytes_out: int
    created_time: datetime | None
    last_recv_time: datetime | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StreamStats:
        return cls(
            total_connections=int(data.get("totalConnections") or 0),
            max_total_connections=int(data.get("maxTotalConnections") or 0),
            connections={name: int(count or 0) for name, count in (data.get("connections") or {}).items()},
            total_bytes_in=int(data.get("totalBytesIn") or 0),
            total_bytes_out=int(data.get("totalBytesOut") or 0),
            created_time=parse_time(data.get("createdTime")),
            last_recv_time=parse_time(data.get("lastRecvTime")),
        )

    @property
    def viewers(self) -> int:
        """Players only: pushes, recordings and edges also count as OME connections."""
        return sum(self.connections.get(kind, 0) for kind in ("webrtc", "llhls", "hls", "hlsv3", "dash", "lldash"))


class OmeClient:
    """One OME application (vhost + app) behind OME's REST API v1."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        vhost: str = "default",
        app: str = "app",
        timeout: float = 5.0,
        session: requests.Session | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.vhost = vhost
        self.app = app
        self.timeout = (min(timeout, 3.0), timeout)
        self.session = session or requests.Session()
        self.session.headers["Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()

    @classmethod
    def from_settings(cls, *, timeout: float | None = None) -> OmeClient:
        """The client for the configured OME; `timeout` shortens OME_API_TIMEOUT for one caller."""
        from django.conf import settings

        return cls(
            settings.OME_API_URL,
            settings.OME_API_TOKEN,
            vhost=settings.OME_VHOST,
            app=settings.OME_APP,
            timeout=min(timeout, settings.OME_API_TIMEOUT) if timeout else settings.OME_API_TIMEOUT,
        )

    # --- streams ------------------------------------------------------------------------

    def list_streams(self) -> list[str]:
        """Names of the live input streams (output variants such as ROOM_rtmp are not listed)."""
        return list(self._call("GET", self._app_path("/streams")) or [])

    def stream_info(self, name: str) -> StreamInfo:
        return StreamInfo.from_json(self._call("GET", self._app_path(f"/streams/{name}")) or {})

    def delete_stream(self, name: str) -> None:
        """Disconnect the stream's publisher."""
        self._call("DELETE", self._app_path(f"/streams/{name}"))

    # --- pushes -------------------------------------------------------------------------

    def start_push(
        self,
        *,
        push_id: str,
        stream_name: str,
        url: str,
        stream_key: str = "",
        protocol: str = "rtmp",
        variant_names: list[str] | None = None,
    ) -> PushInfo:
        stream: dict[str, Any] = {"name": stream_name}
        if variant_names:
            stream["variantNames"] = variant_names
        body = {"id": push_id, "stream": stream, "protocol": protocol, "url": url, "streamKey": stream_key}
        return PushInfo.from_json(self._call("POST", self._app_path(":startPush"), body) or {})

    def stop_push(self, push_id: str) -> None:
        self._call("POST", self._app_path(":stopPush"), {"id": push_id})

    def pushes(self, push_id: str | None = None) -> list[PushInfo]:
        body = {"id": push_id} if push_id else None
        return [PushInfo.from_json(item) for item in self._call("POST", self._app_path(":pushes"), body) or []]

    # --- records ------------------------------------------------------------------------

    def start_record(
        self,
        *,
        record_id: str,
        stream_name: str,
        file_path: str | None = None,
        info_path: str | None = None,
        variant_names: list[str] | None = None,
    ) -> RecordInfo:
        stream: dict[str, Any] = {"name": stream_name}
        if variant_names:
            stream["variantNames"] = variant_names
        body: dict[str, Any] = {"id": record_id, "stream": stream}
        if file_path:
            body["filePath"] = file_path
        if info_path:
            body["infoPath"] = info_path
        return RecordInfo.from_json(self._call("POST", self._app_path(":startRecord"), body) or {})

    def stop_record(self, record_id: str) -> RecordInfo:
        return RecordInfo.from_json(self._call("POST", self._app_path(":stopRecord"), {"id": record_id}) or {})

    def records(self, record_id: str | None = None) -> list[RecordInfo]:
        body = {"id": record_id} if record_id else None
        return [RecordInfo.from_json(item) for item in self._call("POST", self._app_path(":records"), body) or []]

    # --- statistics ---------------------------------------------------------------------

    def stream_stats(self, name: str) -> StreamStats:
        path = f"/v1/stats/current/vhosts/{self.vhost}/apps/{self.app}/streams/{name}"
        return StreamStats.from_json(self._call("GET", path) or {})

    def app_stats(self) -> StreamStats:
        return StreamStats.from_json(self._call("GET", f"/v1/stats/current/vhosts/{self.vhost}/apps/{self.app}") or {})

    # --- plumbing -----------------------------------------------------------------------

    def _app_path(self, suffix: str) -> str:
        return f"/v1/vhosts/{self.vhost}/apps/{self.app}{suffix}"

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        operation = self._operation(method, path)
        started = time.perf_counter()
        try:
            return self._request(method, path, body)
        except OmeError as error:
            OME_CALL_ERRORS.labels(operation, _ERROR_KINDS.get(type(error), "other")).inc()
            raise
        finally:
            OME_CALL_SECONDS.labels(operation).observe(time.perf_counter() - started)

    def _operation(self, method: str, path: str) -> str:
        """A label for metrics: the API operation, never a stream name or an id."""
        app_path = self._app_path("")
        if path.startswith(app_path):
            rest = path[len(app_path) :]
            if rest.startswith(":"):
                return rest[1:]
            if rest == "/streams":
                return "list_streams"
            if rest.startswith("/streams/"):
                return "delete_stream" if method == "DELETE" else "stream_info"
        if path.startswith("/v1/stats/"):
            return "stream_stats" if "/streams/" in path else "app_stats"
        return "other"

    def _request(self, method: str, path: str, body: dict | None = None) -> Any:
        try:
            response = self.session.request(method, self.base_url + path, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise OmeUnavailable(f"OME is unreachable at {self.base_url}: {exc.__class__.__name__}") from exc
        if response.status_code == 204:  # OME answers an empty list with "No Content"
            return None
        try:
            envelope = response.json()
        except ValueError:
            envelope = {}
        message = envelope.get("message") if isinstance(envelope, dict) else None
        status = response.status_code
        if status < 300:
            return envelope.get("response") if isinstance(envelope, dict) else None
        message = message or f"OME answered HTTP {status}"
        if status == 401:
            raise OmeUnauthorized(message, status_code=status)
        if status == 404:
            raise OmeNotFound(message, status_code=status)
        if status == 400 and "duplicate id" in message.lower():
            raise OmeConflict(message, status_code=status)
        if 400 <= status < 500:
            raise OmeBadRequest(message, status_code=status)
        raise OmeUnavailable(message, status_code=status)
