"""Building and sending admission webhook requests the way OME does (see tests/ome_golden)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

GOLDEN = Path(__file__).resolve().parent / "ome_golden" / "admission-webhooks.json"
GOLDEN_SECRET = "hook-secret"


def ome_signature(body: bytes, secret: str | None = None) -> str:
    """base64url(HMAC-SHA1) without padding, computed here independently of the portal's code."""
    digest = hmac.new((secret or settings.OME_WEBHOOK_SECRET).encode(), body, hashlib.sha1).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def ome_body(
    *,
    direction: str,
    status: str,
    protocol: str,
    url: str,
    new_url: str | None = None,
    address: str = "203.0.113.7",
    port: int = 40000,
    time: datetime | None = None,
    user_agent: str | None = None,
) -> bytes:
    client = {"address": address, "port": port, "real_ip": address}
    if user_agent:
        client["user_agent"] = user_agent
    request = {
        "direction": direction,
        "protocol": protocol,
        "status": status,
        "time": (time or datetime.now(UTC)).isoformat(timespec="milliseconds"),
        "url": url,
    }
    if new_url:
        request["new_url"] = new_url
    return json.dumps({"client": client, "request": request}, separators=(",", ":"), sort_keys=True).encode()


def post_admission(client, body: bytes, *, signature: str | None = "sign", remote_addr: str = "10.0.0.2"):
    headers = {}
    if signature == "sign":
        signature = ome_signature(body)
    if signature is not None:
        headers["HTTP_X_OME_SIGNATURE"] = signature
    return client.post("/ome/admission", data=body, content_type="application/json", REMOTE_ADDR=remote_addr, **headers)


def rtmp_url(stream: str, query: str = "") -> str:
    return f"rtmp://ome.example.com:1935/app/{stream}" + (f"?{query}" if query else "")


def publish(client, url: str, *, protocol: str = "RTMP", status: str = "opening", **fields):
    body = ome_body(direction="incoming", status=status, protocol=protocol, url=url, **fields)
    return post_admission(client, body)


def play(client, url: str, *, protocol: str = "WebRTC", status: str = "opening", **fields):
    body = ome_body(direction="outgoing", status=status, protocol=protocol, url=url, **fields)
    return post_admission(client, body)


def golden_requests() -> list[dict]:
    return json.loads(GOLDEN.read_text())["requests"]
