"""What the portal agrees to connect to on a tenant's behalf (portal/outbound.py).

Restream destinations, pushes and (later) webhooks are URLs a tenant types and the media server
or a worker then connects to. None of them may reach loopback, private or internal addresses,
however the address is spelled and whatever a name resolves to, unless the operator listed
it in OUTBOUND_ALLOWED_HOSTS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError

from broadcasts.models import PLATFORM_SERVERS
from core.outbound import parse_allowed_hosts, validate_outbound_url

STREAMING = ("rtmp", "rtmps", "srt")
PRIVATE = "points into a private network"
INTERNAL_NAME = "internal network"


@pytest.fixture(autouse=True)
def _no_exceptions(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = []


def refusal(url: str, **kwargs) -> str:
    kwargs.setdefault("schemes", STREAMING)
    with pytest.raises(ValidationError) as refused:
        validate_outbound_url(url, **kwargs)
    return " ".join(refused.value.messages)


@pytest.mark.parametrize(
    "url",
    [
        # IPv4 loopback, private (RFC 1918), carrier-grade NAT, link-local (cloud metadata)
        "rtmp://127.0.0.1/live",
        "rtmp://127.0.0.53:1935/live",
        "rtmp://10.0.0.5/live",
        "rtmp://172.16.3.4/live",
        "rtmp://172.31.255.254/live",
        "rtmp://192.168.1.10/live",
        "rtmp://100.64.0.1/live",
        "rtmp://100.127.255.254/live",
        "rtmp://169.254.169.254/latest/meta-data",
        # unspecified, multicast, broadcast, reserved, IETF, documentation and benchmarking ranges
        "rtmp://0.0.0.0/live",
        "rtmp://0.1.2.3/live",
        "rtmp://224.0.0.1/live",
        "rtmp://239.255.255.250/live",
        "rtmp://255.255.255.255/live",
        "rtmp://240.0.0.1/live",
        "rtmp://192.0.0.8/live",
        "rtmp://192.0.2.10/live",
        "rtmp://198.18.0.1/live",
        "rtmp://198.51.100.7/live",
        "rtmp://203.0.113.9/live",
        # IPv6 loopback, unspecified, link-local, unique-local, site-local, multicast, documentation
        "rtmp://[::1]/live",
        "rtmp://[::1]:1935/live",
        "rtmp://[::]/live",
        "rtmp://[fe80::1]/live",
        "rtmp://[fd00::5]/live",
        "rtmp://[fc00::1]/live",
        "rtmp://[fec0::1]/live",
        "rtmp://[ff02::1]/live",
        "rtmp://[2001:db8::1]/live",
        "rtmp://[100::1]/live",
        # IPv4 hidden in IPv6: mapped, compatible, NAT64, 6to4, Teredo
        "rtmp://[::ffff:127.0.0.1]/live",
        "rtmp://[::ffff:7f00:1]/live",
        "rtmp://[::ffff:10.0.0.5]/live",
        "rtmp://[::ffff:169.254.169.254]/live",
        "rtmp://[::127.0.0.1]/live",
        "rtmp://[64:ff9b::a00:5]/live",
        "rtmp://[2002:a00:5::1]/live",
        "rtmp://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/live",
        # every spelling of an IPv4 address the OS resolver accepts
        "rtmp://2130706433/live",
        "rtmp://0x7f000001/live",
        "rtmp://0X7F000001/live",
        "rtmp://0177.0.0.1/live",
        "rtmp://017700000001/live",
        "rtmp://127.1/live",
        "rtmp://127.0.1/live",
        "rtmp://0x7f.0.0.1/live",
        "rtmp://0x7f.1/live",
        "rtmp://0/live",
        "rtmp://127.0.0.1./live",
        "rtmp://167772165/live",
        "rtmp://0xA9FEA9FE/latest",
        "rtmp://0251.0376.0251.0376/latest",
        # other schemes the caller allows are judged the same way
        "srt://10.0.0.5:9000?streamid=x",
        "rtmps://[::1]:443/live",
    ],
)
def test_addresses_in_private_or_special_networks_are_refused_however_they_are_spelled(url):
    assert PRIVATE in refusal(url)


@pytest.mark.parametrize(
    "url",
    [
        # the stack's own services, by their Docker names (they resolve only inside the stack)
        "rtmp://ome/app",
        "rtmp://ome:8081/v1",
        "rtmp://OME:1935/app",
        "rtmp://web:8000/ome/admission",
        "rtmp://redis:6379/",
        "rtmp://postgres:5432/",
        "rtmp://traefik:8080/",
        "rtmp://worker/",
        "rtmp://beat/",
        "rtmp://ome-edge:3333/",
        "rtmp://tasks.web:8000/",
        "rtmp://tasks.ome:8081/",
        "rtmp://ome./app",
        # names that mean this machine or a local network
        "rtmp://localhost/live",
        "rtmp://LOCALHOST:1935/live",
        "rtmp://localhost./live",
        "rtmp://ome.localhost/live",
        "rtmp://printer.local/live",
        "rtmp://metadata.google.internal/computeMetadata",
        "rtmp://db.internal/",
        "rtmp://nas.lan/live",
        "rtmp://router.home.arpa/live",
        "rtmp://box.localdomain/live",
        "rtmp://ci.intranet/live",
        "rtmp://fileserver.corp/live",
    ],
)
def test_service_names_and_local_names_are_refused_even_when_they_do_not_resolve_here(url):
    assert INTERNAL_NAME in refusal(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("rtmp://streaming_web:8000/", "letters, digits, dots and hyphens"),  # a swarm stack's service name
        ("rtmp://tasks.streaming_web/", "letters, digits, dots and hyphens"),
        ("rtmp://%31%32%37.0.0.1/live", "letters, digits, dots and hyphens"),
        ("rtmp://ⓛocalhost/live", "letters, digits, dots and hyphens"),
        ("rtmp://live.example.com\\@127.0.0.1/live", "spaces or characters"),
        ("rtmp://live .example.com/live", "spaces or characters"),
        ("rtmp://live.example.com@127.0.0.1/live", "user name or password"),
        ("rtmp://user:secret@live.example.com/live", "user name or password"),
        ("rtmp://[fe80::1%25eth0]/live", "not a valid IPv6 address"),
        ("rtmp://[live.example.com]/live", "not a valid IPv6 address"),
        ("rtmp://1.2.3.4.5/live", "not a valid host name"),
        ("rtmp://live.example.com:port/app", "port in this address is not a number"),
        ("rtmp://live.example.com:99999/app", "between 1 and 65535"),
        ("rtmp://live.example.com:0/app", "between 1 and 65535"),
        ("rtmp:///app", "Enter an address starting with rtmp://, rtmps:// or srt://"),
        ("http://live.example.com/app", "Enter an address starting with rtmp://, rtmps:// or srt://"),
        ("live.example.com/app", "Enter an address starting with rtmp://, rtmps:// or srt://"),
        ("", "Enter an address starting with rtmp://, rtmps:// or srt://"),
    ],
)
def test_malformed_or_ambiguous_addresses_are_refused_with_a_message_saying_why(url, message):
    assert message in refusal(url)


def test_the_caller_chooses_the_schemes(fake_dns):
    fake_dns.point("hooks.example.com", "93.184.216.34")
    validate_outbound_url("https://hooks.example.com/receive", schemes=("https",))
    assert "Enter an address starting with https://." in refusal("http://hooks.example.com/", schemes=("https",))
    assert "Enter an address starting with https://." in refusal("rtmp://hooks.example.com/", schemes=("https",))
    assert PRIVATE in refusal("https://169.254.169.254/latest/meta-data", schemes=("https",))


@pytest.mark.parametrize(
    ("addresses", "why"),
    [
        (["10.0.0.5"], "a private network address"),
        (["127.0.0.1"], "a loopback address"),
        (["169.254.169.254"], "a link-local address"),
        (["100.64.12.1"], "a shared (carrier-grade NAT) address"),
        (["fd12:3456::1"], "a unique-local address"),
        (["::ffff:192.168.0.2"], "a private network address"),
        (["93.184.216.34", "10.0.0.5"], "a private network address"),  # one bad address is enough
        (["2606:2800:220:1::1", "::1"], "a loopback address"),
    ],
)
def test_a_public_looking_name_that_resolves_to_a_private_address_is_refused(fake_dns, addresses, why):
    fake_dns.point("sneaky.example.com", *addresses)
    message = refusal("rtmp://sneaky.example.com/live")
    assert f"“sneaky.example.com” resolves to {why}" in message
    assert PRIVATE in message
    for address in addresses:
        assert address not in message, "the message never tells a tenant what a name resolves to inside"


def test_names_that_resolve_to_public_addresses_are_accepted(fake_dns):
    fake_dns.point("live.example.com", "93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946")
    validate_outbound_url("rtmp://live.example.com/app", schemes=STREAMING)
    validate_outbound_url("rtmps://live.example.com:443/app", schemes=STREAMING)
    validate_outbound_url("srt://live.example.com:9000?streamid=x&passphrase=y", schemes=STREAMING)
    validate_outbound_url("rtmp://8.8.8.8/live", schemes=STREAMING)
    validate_outbound_url("rtmp://[2606:4700:4700::1111]:1935/live", schemes=STREAMING)
    validate_outbound_url("rtmp://[::ffff:8.8.8.8]/live", schemes=STREAMING)


def test_a_name_that_does_not_resolve_is_accepted_and_judged_again_before_anything_connects(fake_dns):
    # The documented choice: nothing can be reached through a name this network cannot resolve,
    # and the check runs again right before OME connects. Offline, the known platforms still work.
    fake_dns.point("not-yet.example.com")
    validate_outbound_url("rtmp://not-yet.example.com/live", schemes=STREAMING)
    for url in PLATFORM_SERVERS.values():
        fake_dns.point(url.split("/")[2].split(":")[0])
        validate_outbound_url(url, schemes=STREAMING)


# --- The operator's exceptions --------------------------------------------------------------------


def _setting_in_a_fresh_process(value: str | None) -> subprocess.CompletedProcess:
    environment = {name: text for name, text in os.environ.items() if name != "OUTBOUND_ALLOWED_HOSTS"}
    if value is not None:
        environment["OUTBOUND_ALLOWED_HOSTS"] = value
    script = "import json, django; django.setup(); from django.conf import settings; "
    script += "print(json.dumps(settings.OUTBOUND_ALLOWED_HOSTS))"
    return subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=60)


def test_the_setting_comes_from_the_environment_and_allows_nothing_by_default():
    assert json.loads(_setting_in_a_fresh_process(None).stdout) == []
    listed = _setting_in_a_fresh_process("rtmp.studio.example, 10.1.2.0/24,[fd00::7]:1935")
    assert json.loads(listed.stdout) == ["rtmp.studio.example", "10.1.2.0/24", "[fd00::7]:1935"]
    mistyped = _setting_in_a_fresh_process("10.1.2.0/33")
    assert mistyped.returncode != 0
    assert "OUTBOUND_ALLOWED_HOSTS" in mistyped.stderr and "10.1.2.0/33" in mistyped.stderr


def test_nothing_private_is_reachable_without_an_exception():
    assert PRIVATE in refusal("rtmp://127.0.0.1:19352/live")


def test_the_operator_allows_a_private_ingest_server_by_address_network_or_name(settings, fake_dns):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1", "10.1.2.0/24", "ingest.corp.example", "relay", "[fd00::7]"]
    fake_dns.point("ingest.corp.example", "10.9.9.9")
    fake_dns.point("inside.example.com", "10.1.2.40")
    fake_dns.point("other.corp.example", "10.9.9.9")
    for url in [
        "rtmp://127.0.0.1:19352/live",
        "rtmp://2130706433:19352/live",  # the same address, spelled differently
        "rtmp://10.1.2.3/live",
        "rtmp://inside.example.com/live",  # resolves into an allowed network
        "rtmp://ingest.corp.example/live",  # the name itself is allowed, wherever it points
        "rtmp://relay:1935/live",
        "rtmp://[fd00::7]/live",
    ]:
        validate_outbound_url(url, schemes=STREAMING)
    assert PRIVATE in refusal("rtmp://127.0.0.2/live")
    assert PRIVATE in refusal("rtmp://10.1.3.3/live")
    assert PRIVATE in refusal("rtmp://other.corp.example/live")
    assert INTERNAL_NAME in refusal("rtmp://redis/live")
    assert PRIVATE in refusal("rtmp://[fd00::8]/live")


def test_an_exception_can_be_limited_to_one_port(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1:19352", "[::1]:1935", "10.0.0.0/8:1935"]
    validate_outbound_url("rtmp://127.0.0.1:19352/live", schemes=STREAMING)
    validate_outbound_url("rtmp://[::1]/live", schemes=STREAMING)  # rtmp's default port is 1935
    validate_outbound_url("rtmp://10.4.5.6/live", schemes=STREAMING)
    assert PRIVATE in refusal("rtmp://127.0.0.1:6379/live")
    assert PRIVATE in refusal("rtmps://[::1]/live")  # rtmps means port 443
    assert PRIVATE in refusal("srt://10.4.5.6:9000/live")


def test_an_exception_can_cover_the_subdomains_of_a_name(settings, fake_dns):
    settings.OUTBOUND_ALLOWED_HOSTS = ["*.studio.example"]
    fake_dns.point("a.studio.example", "192.168.5.5")
    fake_dns.point("studio.example", "192.168.5.6")
    validate_outbound_url("rtmp://a.studio.example/live", schemes=STREAMING)
    assert PRIVATE in refusal("rtmp://studio.example/live")


def test_an_explicit_list_overrides_the_setting(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    assert PRIVATE in refusal("rtmp://127.0.0.1/live", allowed_hosts=[])
    validate_outbound_url("rtmp://10.0.0.5/live", schemes=STREAMING, allowed_hosts=["10.0.0.5"])


@pytest.mark.parametrize(
    "entry", ["", "10.0.0.0/33", "127.0.0.1:port", "127.0.0.1:70000", "bad host", "under_score", "[::1", "*.", "a..b"]
)
def test_a_mistyped_exception_stops_the_portal_with_a_message_naming_it(entry):
    with pytest.raises(ImproperlyConfigured, match="OUTBOUND_ALLOWED_HOSTS"):
        parse_allowed_hosts([entry])
