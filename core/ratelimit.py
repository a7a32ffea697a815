"""Fixed-window rate limits on the shared cache (Redis in production), and the client's address.

`client_ip()` is the one place the portal learns who is on the other end of a request. The
address comes from `TRUSTED_PROXY_COUNT` proxies in front of the portal: each proxy appends the
address it saw to X-Forwarded-For, so with N proxies the client is the Nth entry from the right;
everything to the left of it was written by the client and is worth nothing. With 0 (direct
access) X-Forwarded-For is ignored. The admission webhook is the exception on purpose: OME calls
the portal directly on the internal network, so it counts REMOTE_ADDR itself.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


@dataclass(frozen=True)
class Hit:
    """One counted hit: whether it fell within the limit, and how to take it back."""

    cache_key: str
    allowed: bool
    retry_after: int  # seconds until the window that counted it ends

    def undo(self) -> None:
        try:
            cache.decr(self.cache_key)
        except ValueError:  # the window ended meanwhile: nothing left to take back
            pass


def hit(scope: str, key: str, *, limit: int, window_seconds: int) -> Hit:
    """Count one hit for (scope, key) in the current window; not allowed past `limit` hits."""
    now = time.time()
    bucket = int(now // window_seconds)
    cache_key = f"ratelimit:{scope}:{key}:{bucket}"
    retry_after = max(1, math.ceil((bucket + 1) * window_seconds - now))
    if cache.add(cache_key, 1, timeout=window_seconds + 1):
        return Hit(cache_key, 1 <= limit, retry_after)
    try:
        hits = cache.incr(cache_key)
    except ValueError:  # expired between add() and incr()
        cache.add(cache_key, 1, timeout=window_seconds + 1)
        hits = 1
    return Hit(cache_key, hits <= limit, retry_after)


def allow(scope: str, key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one hit for (scope, key); False once `limit` hits fell in the current window."""
    return hit(scope, key, limit=limit, window_seconds=window_seconds).allowed


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or X-Forwarded-For's Nth entry from the right behind N proxies."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    entries = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    if len(entries) < proxies:
        # The request did not pass through every proxy (or the count is wrong): what there is
        # cannot be told apart from what a client wrote, so count the connecting proxy instead.
        return remote
    address = _address(entries[-proxies])
    # A trusted proxy writes plain addresses; anything else means a misconfigured chain.
    return str(address) if address is not None else remote


def address_key(address: str) -> str:
    """What a limit per client address counts: the IPv4 address, or the IPv6 /64 network.

    One IPv6 subscriber usually gets a whole /64, so counting single IPv6 addresses would let
    a client take a fresh address for every try.
    """
    parsed = _address(address)
    if parsed is None:
        return address or "unknown"
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)
