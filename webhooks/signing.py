"""The signature on every delivery: HMAC-SHA256 of "<timestamp>.<body>" with the endpoint's secret.

The header carries both the timestamp and the signature (`t=1767607380,v1=5257a8…`), so a
receiver can check that the body is ours and refuse an old delivery replayed at it (README,
"For embedding sites", has the ten lines that verify it).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-StreamingStack-Signature"


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret=secret, timestamp=timestamp, body=body)}"


def verify(*, secret: str, header: str, body: bytes, now: int, tolerance: int = 300) -> bool:
    """What a receiver does (used by the tests): the signature matches and is recent."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = signature(secret=secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected, parts.get("v1", "")) and abs(now - timestamp) <= tolerance
