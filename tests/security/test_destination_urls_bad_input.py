"""Restream destination URLs, through the form and the API: a usable server URL is saved, anything
else gets a 400 with a message and nothing saved — never a 500, never half a destination.

What must be refused is written here on its own: a scheme other than rtmp, rtmps or srt, no
host, a port that is not a number from 0 to 65535, more than 500 characters. What must be
accepted: rtmp(s)/srt to a public IPv4 address (one in a /8 that IANA's registries reserve
nothing in). Everything in between (host names, odd
characters) may go either way, but consistently: saved with a 2xx/redirect, or refused with a
message and no row. Addresses inside the portal's network are test_ssrf_forms_are_refused.py's.
"""

from __future__ import annotations

import ipaddress
import json
from urllib.parse import urlsplit

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from broadcasts.models import Destination, Push

from . import probe
from .strategies import BROKEN_HOSTS, fuzz, odd_urls

SUITE = "bad input: destination URLs"

# Whole /8 networks that hold no special-purpose range of IANA's registries: every address in
# them is public. (Python's `is_global` is no oracle: it calls 224.0.0.1 or 192.0.0.8 global.)
PUBLIC_NETWORKS = [ipaddress.ip_network(f"{first}.0.0.0/8") for first in (8, 23, 34, 45, 52, 77, 91, 151, 185, 212)]


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(address in network for network in PUBLIC_NETWORKS)


public_ipv4 = st.builds(
    lambda network, rest: str(network.network_address + rest),
    st.sampled_from(PUBLIC_NETWORKS),
    st.integers(min_value=0, max_value=2**24 - 1),
)
usable_urls = st.builds(
    lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
    st.sampled_from(["rtmp", "rtmps", "srt"]),
    public_ipv4,
    st.sampled_from(["", ":1935", ":443", ":9999"]),
    st.sampled_from(["", "/", "/app", "/live2", "/app/sub?x=1"]),
)


def must_refuse(url: str) -> bool:
    value = url.strip()
    if "\x00" in value or len(value) > 500:
        return True
    try:
        parts = urlsplit(value)
    except ValueError:  # an unclosed "[" or a bracketed host that is no IPv6 address
        return True
    if parts.scheme not in ("rtmp", "rtmps", "srt") or not parts.hostname:
        return True
    try:
        parts.port  # noqa: B018 — raises on a port that is not a number in range
    except ValueError:
        return True
    return False


def must_accept(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("rtmp", "rtmps", "srt") and is_public(ipaddress.ip_address(parts.hostname or ""))
    except ValueError:
        return False


DOORS = {
    "form": ("session", "/rooms/{room}/restream/destinations/new", Destination),
    "api destination": ("token", "/api/v1/rooms/{room}/destinations/", Destination),
    "api push": ("token", "/api/v1/rooms/{room}/pushes/", Push),
}


def send_url(world, door: str, url) -> probe.Outcome:
    kind, path, _model = DOORS[door]
    a = world.a
    if kind == "session":
        who = probe.session_identity("A's streamer", a.members["streamer"])
    else:
        who = probe.token_identity("A's streamer token", a.tokens["streamer"])
    body = {"name": "Backup", "platform": "custom", "url": url, "stream_key": "k-1234", "enabled": "on"}
    if door == "api destination":
        body["enabled"] = True
    if door == "api push":
        body = {"url": url, "stream_key": "k-1234"}
    return probe.send(world, who, "POST", path.format(room=a.room.public_id), body, suite=SUITE)


def check(world, door: str, url, outcome: probe.Outcome) -> None:
    model = DOORS[door][2]
    added = (model._meta.label, "added", 1) in outcome.changes
    assert outcome.status < 500, f"{outcome} for {url!r}"
    if outcome.status in (200, 201, 302) and added:
        assert not (isinstance(url, str) and must_refuse(url)), f"{outcome}: {url!r} was saved"
        return
    assert not outcome.changes, f"{outcome}: refused {url!r}, yet changed A: {outcome.changes}"
    assert not (isinstance(url, str) and must_accept(url)), f"{outcome}: the usable {url!r} was refused"
    assert outcome.status == 400, f"{outcome} for {url!r}"
    if door == "form":
        assert probe.form_errors(outcome), f"{outcome}: no error message on the form for {url!r}"
    else:
        answer = json.loads(outcome.content)
        assert answer.get("url") or answer.get("detail"), f"{outcome}: no message for {url!r}: {answer!r}"


@pytest.mark.parametrize("door", DOORS)
@fuzz(100)
@given(url=st.one_of(odd_urls, usable_urls, st.integers(), st.none()))
@example(url="rtmp://live.example.com/app")
@example(url="rtmp://live.example.com:99999/app")
@example(url="http://live.example.com/app")
@example(url="rtmp:///app")
@example(url="rtmp://" + "a" * 600)
def test_a_destination_url_is_saved_or_refused_with_a_message(door, url, world, unthrottled, db):
    if door == "form" and not isinstance(url, str):
        url = str(url)  # a form posts text
    check(world, door, url, send_url(world, door, url))


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("host", BROKEN_HOSTS)
def test_a_destination_url_with_a_broken_ipv6_host_is_refused_with_a_message(door, host, world, unthrottled, db):
    url = f"rtmp://{host}/app"
    check(world, door, url, send_url(world, door, url))
