"""The client's address, from the configured number of trusted proxies: the one function every
part of the portal uses (sign-in and password-reset limits)."""

import pytest
from django.test import RequestFactory

from core.ratelimit import client_ip


def address(settings, proxies: int, remote: str, forwarded: str | None = None) -> str:
    settings.TRUSTED_PROXY_COUNT = proxies
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **meta))


def test_direct_access_ignores_x_forwarded_for(settings):
    assert address(settings, 0, "198.51.100.7", "192.0.2.1") == "198.51.100.7"


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (1, "198.51.100.7", "198.51.100.7"),  # Traefik saw the client
        (1, "192.0.2.1, 198.51.100.7", "198.51.100.7"),  # the client wrote the first entry itself
        (1, "192.0.2.1,198.51.100.7", "198.51.100.7"),
        (2, "192.0.2.1, 198.51.100.7, 203.0.113.20", "198.51.100.7"),  # a CDN, then Traefik
        (1, "2001:db8::1", "2001:db8::1"),
        (1, "192.0.2.1, ::ffff:198.51.100.7", "198.51.100.7"),
    ],
)
def test_the_nth_address_from_the_right_is_the_client(settings, proxies, forwarded, expected):
    assert address(settings, proxies, "10.0.0.5", forwarded) == expected


@pytest.mark.parametrize(
    ("proxies", "forwarded"),
    [
        (1, None),  # no header: the proxy itself (or a request that bypassed it)
        (1, ""),
        (1, "192.0.2.1, unknown"),  # not an address where a proxy wrote one
        (1, "192.0.2.1, 198.51.100.7:443"),
        (1, "192.0.2.1, "),
        (2, "198.51.100.7"),  # fewer entries than proxies
    ],
)
def test_a_missing_or_malformed_entry_falls_back_to_the_connecting_address(settings, proxies, forwarded):
    assert address(settings, proxies, "10.0.0.5", forwarded) == "10.0.0.5"
