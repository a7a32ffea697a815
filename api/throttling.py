"""Per-token request limits (HTTP 429), shared by the REST API and the original stack's API.

The rate comes from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api_token"] (env API_RATE_LIMIT),
e.g. "600/minute". Counting is a fixed window on the shared cache (Redis), so every web
process sees the same count.
"""

from __future__ import annotations

import time

from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from core.ratelimit import allow

from .models import ApiToken

SCOPE = "api_token"
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def current_rate() -> tuple[int, int] | None:
    """(requests, seconds) of the configured rate, or None when throttling is off."""
    rate = (api_settings.DEFAULT_THROTTLE_RATES or {}).get(SCOPE)
    if not rate:
        return None
    count, _, period = str(rate).partition("/")
    return int(count), _PERIODS[period.strip()[:1].lower()]


def hit(key: str) -> float | None:
    """Count one request for `key`; None when allowed, else the seconds until the window ends."""
    rate = current_rate()
    if rate is None:
        return None
    limit, window = rate
    if allow(SCOPE, key, limit=limit, window_seconds=window):
        return None
    return window - (time.time() % window)


def key_for(api_token: ApiToken | None) -> str:
    # The operator's token (the original stack's API_ACCESS_TOKEN) has one shared budget.
    return f"token:{api_token.pk}" if api_token is not None else "operator"


class TokenRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        if not isinstance(request.auth, ApiToken):
            return True  # no valid token: refused with 401 before this runs
        self._wait = hit(key_for(request.auth))
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait
