"""Admission webhooks exactly as OvenMediaEngine 0.21.0 sends them, and the client URLs they carry.

OME asks its control server (`opening`) before it lets an encoder publish or a player play, and
tells it when the session ends (`closing`). It POSTs a compact JSON body (keys in alphabetical
order, as jsoncpp writes them) with `X-OME-Signature: base64url(HMAC-SHA1(secret, raw body))`
without `=` padding, and obeys the answer to an `opening` request: `allowed`, `new_url`,
`lifetime` (ms), `reason`. A webhook that fails, times out or answers garbage refuses the client,
like OME; without a webhook URL everything is allowed.
Reference: tests/ome_golden/admission-webhooks.json (recorded from a real OME).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiohttp

from .clock import iso, now
from .errors import ControlError
from .settings import Settings

log = logging.getLogger("ome_emulator.webhooks")


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


def stream_name_of(url: str) -> tuple[str, str]:
    """(app, stream) of a client URL: rtmp://h:p/app/stream?q, ws://h:p/app/stream?q,
    http://h:p/app/stream/llhls.m3u8, srt://h:p?streamid=<see webhook_url_of>."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "srt" and "streamid" in parse_qs(parts.query, keep_blank_values=True):
        return stream_name_of(webhook_url_of(url))
    segments = [unquote(segment) for segment in parts.path.split("/") if segment]
    if segments and segments[-1].endswith(".m3u8"):
        segments = segments[:-1]
    if len(segments) >= 2:
        return segments[0], segments[1]
    if len(segments) == 1:
        return segments[0], ""
    return "", ""


def webhook_url_of(url: str) -> str:
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


def sign(secret: str, body: bytes) -> str:
    """The X-OME-Signature header value for a raw request body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha1).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def build_body(
    *,
    direction: str,
    protocol: str,
    status: str,
    url: str,
    time_text: str,
    address: str,
    port: int,
    real_ip: str | None = None,
    user_agent: str | None = None,
    new_url: str | None = None,
) -> bytes:
    """The raw JSON body byte for byte as OME writes it (compact, keys sorted)."""
    client: dict[str, Any] = {"address": address, "port": port, "real_ip": real_ip or address}
    if user_agent:
        client["user_agent"] = user_agent
    request: dict[str, Any] = {
        "direction": direction,
        "protocol": protocol,
        "status": status,
        "time": time_text,
        "url": url,
    }
    if new_url is not None:
        request["new_url"] = new_url
    return json.dumps({"client": client, "request": request}, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Answer:
    """What the control server said; `error` is set when there was no usable answer."""

    status: int | None
    body: Any
    error: str | None = None


class WebhookSender:
    """Posts signed webhook requests to the control server the settings name, and keeps a log of
    them for the control API."""

    def __init__(self, settings: Settings, *, log_limit: int = 500):
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None
        self.log: list[dict[str, Any]] = []
        self._log_limit = log_limit

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def admit(self, *, direction: str, protocol: str, url: str, client: Client) -> Admission:
        """Send the signed `opening` webhook and return the answer (no webhook URL: allowed)."""
        if not self.settings.webhook_url:
            return Admission(True)
        answer = await self._send("opening", direction=direction, protocol=protocol, url=url, client=client)
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
        try:
            await self._send("closing", direction=direction, protocol=protocol, url=url, new_url=new_url, client=client)
        except Exception:  # a closing webhook must never break the caller
            log.exception("closing webhook failed")

    async def _send(
        self, status: str, *, direction: str, protocol: str, url: str, client: Client, new_url: str | None = None
    ) -> Answer:
        """Post one signed webhook request (the callers made sure that a webhook URL is set)."""
        body = build_body(
            direction=direction,
            protocol=protocol,
            status=status,
            url=url,
            new_url=new_url,
            time_text=iso(now()),
            address=client.address,
            port=client.port,
            real_ip=client.real_ip,
            user_agent=client.user_agent,
        )
        return await self.post(
            url=self.settings.webhook_url or "",
            secret=self.settings.webhook_secret,
            body=body,
            timeout_ms=self.settings.webhook_timeout_ms,
        )

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def post(self, *, url: str, secret: str, body: bytes, timeout_ms: int) -> Answer:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "OvenMediaEngine",
            "X-OME-Signature": sign(secret, body),
        }
        entry: dict[str, Any] = {
            "time": time.time(),
            "url": url,
            "request": json.loads(body),
            "raw_body": body.decode(),
            "signature": headers["X-OME-Signature"],
        }
        try:
            timeout = aiohttp.ClientTimeout(total=max(timeout_ms, 1) / 1000)
            async with self._get_session().post(url, data=body, headers=headers, timeout=timeout) as response:
                text = await response.text()
                try:
                    parsed: Any = json.loads(text) if text.strip() else None
                except ValueError:
                    parsed = None
                answer = Answer(response.status, parsed, None if parsed is not None else "answer is not JSON")
                if response.status != 200:
                    answer = Answer(response.status, parsed, f"control server answered HTTP {response.status}")
        except TimeoutError:
            answer = Answer(None, None, f"timed out after {timeout_ms} ms")
        except aiohttp.ClientError as error:
            answer = Answer(None, None, f"request failed: {error}")
        entry.update(status=answer.status, answer=answer.body, error=answer.error)
        self.log.append(entry)
        del self.log[: -self._log_limit]
        if answer.error:
            what = (entry["request"].get("request") or {}).get("status", "request")
            log.warning("webhook %s %s: %s", what, url, answer.error)
        return answer
