"""Admission webhooks exactly as OvenMediaEngine 0.21.0 sends them.

OME POSTs a compact JSON body (keys in alphabetical order, as jsoncpp writes them) with
`X-OME-Signature: base64url(HMAC-SHA1(secret, raw body))` without `=` padding, and obeys the
answer to an `opening` request: `allowed`, `new_url`, `lifetime` (ms), `reason`. A webhook that
fails, times out or answers garbage refuses the client, like OME.
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

import aiohttp

log = logging.getLogger("ome_emulator.webhooks")


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
    """Posts signed webhook requests and keeps a log of them for the control API."""

    def __init__(self, *, log_limit: int = 500):
        self._session: aiohttp.ClientSession | None = None
        self.log: list[dict[str, Any]] = []
        self._log_limit = log_limit

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def post(self, *, url: str, secret: str, body: bytes, timeout_ms: int) -> Answer:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
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
            log.warning("webhook %s %s: %s", entry["request"]["request"]["status"], url, answer.error)
        return answer
