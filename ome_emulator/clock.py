"""OME's clock as its JSON and webhooks show it.

OME writes times in the server's local time with milliseconds and a `+00:00` style offset, and
shows the epoch for a time that has not come (a push's finishTime, a recording's EndTime while it
records).
"""

from __future__ import annotations

from datetime import UTC, datetime

EPOCH = datetime.fromtimestamp(0, UTC)


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """OME's timestamp format: local time, milliseconds, `+00:00` style offset."""
    local = moment.astimezone()
    offset = local.strftime("%z")
    return f"{local.strftime('%Y-%m-%dT%H:%M:%S')}.{local.microsecond // 1000:03d}{offset[:3]}:{offset[3:]}"
