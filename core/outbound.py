"""Outgoing URLs: what the portal agrees to connect to, or to have OME connect to, for a tenant.

Restream destinations and pushes (and, next, webhooks to embedding sites) are URLs a tenant
types and something in the stack later connects to. `validate_outbound_url` is the one check
for all of them. What it promises:

- The scheme is one the caller lists; no user name or password in the address (parsers disagree
  on where such a host ends); no spaces, control characters or backslashes; a port, if any, is
  a number from 1 to 65535; the host is an IP address or a name of letters, digits, dots and
  hyphens (punycode for international names).
- The host is never an address in a loopback, private (RFC 1918), carrier-grade NAT,
  link-local, unique-local, site-local, multicast, unspecified, reserved, documentation,
  benchmarking or other special-purpose network (IANA's registries), nor an IPv6 form that
  carries such an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo), however the address
  is spelled: every IPv4 form the OS resolver accepts (2130706433, 0x7f000001, 0177.0.0.1,
  127.1) is read the way the resolver reads it.
- The host is never a name without a dot (the stack's Docker services: `ome`, `web`,
  `redis` ... resolve only on its internal network), a Docker `tasks.SERVICE` name, `localhost`,
  or a name under a local-only domain (`.localhost`, `.local`, `.internal`, `.lan`, ...).
- A name is resolved (`socket.getaddrinfo`) and refused when ANY of its addresses is refused.
  A name that does not resolve at all is ACCEPTED: nothing can be reached through it from this
  network now, and callers check again right before anything connects (a push task re-checks
  before asking OME), so a name that starts resolving into a private network later is caught
  then. This keeps the known platforms' ingest names working on machines without DNS.
- The operator's exceptions (`settings.OUTBOUND_ALLOWED_HOSTS`) win over all of the above:
  host names (`ingest.studio.example`, `*.studio.example` for its subdomains), IP addresses or
  CIDR networks, each optionally with a port (`10.1.2.0/24:1935`, `[fd00::7]:1935`). A name
  entry allows that name wherever it points; an address or network entry allows those
  addresses however they are spelled or reached by name. Nothing is allowed by default.

What it cannot promise: OME resolves the name again when it connects, so a name whose owner
flips its answer between the check and the connection (DNS rebinding) can still get through.
Only the network can close that: the media server's host should not be able to reach the
stack's internal services or the cloud metadata address (docs/deploy.md).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured, ValidationError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Ports a URL without one connects to (an exception limited to a port matches these).
DEFAULT_PORTS = {"http": 80, "https": 443, "rtmp": 1935, "rtmps": 443}

# IANA's IPv4 special-purpose registry and the other non-public ranges, most specific first.
# An explicit table: what Python's ipaddress calls private or global changed between releases.
_IPV4_REFUSED = [
    ("0.0.0.0/8", "the unspecified (“this network”) address"),
    ("10.0.0.0/8", "a private network address"),
    ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
    ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address"),
    ("172.16.0.0/12", "a private network address"),
    ("192.0.0.0/24", "a special-purpose (IETF protocol) address"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.88.99.0/24", "a special-purpose (6to4 relay) address"),
    ("192.168.0.0/16", "a private network address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
]
# IPv6 outside these is refused as "a reserved address": only 2000::/3 is global unicast.
_IPV6_REFUSED = [
    ("::/128", "the unspecified address"),
    ("::1/128", "a loopback address"),
    ("64:ff9b:1::/48", "a private network address"),  # local-use NAT64
    ("100::/64", "a special-purpose (discard) address"),
    ("2001::/23", "a special-purpose (IETF protocol) address"),  # Teredo, benchmarking, ORCHID ...
    ("2001:db8::/32", "a documentation address"),
    ("3fff::/20", "a documentation address"),
    ("fc00::/7", "a unique-local address"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a site-local address"),
    ("ff00::/8", "a multicast address"),
]
_IPV4_TABLE = [(ipaddress.ip_network(network), why) for network, why in _IPV4_REFUSED]
_IPV6_TABLE = [(ipaddress.ip_network(network), why) for network, why in _IPV6_REFUSED]
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

# Names that only mean something on this machine or a local network (RFC 6761, RFC 6762's
# appendix G, RFC 8375, and what clouds and home routers use).
LOCAL_DOMAINS = (
    "localhost",
    "localdomain",
    "local",
    "internal",
    "intranet",
    "private",
    "corp",
    "home",
    "lan",
    "arpa",  # home.arpa, and the reverse-lookup zones
)

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x20\x7f\\]")


def _refused(message: str, code: str) -> ValidationError:
    return ValidationError(message, code=code)


# --- Addresses ----------------------------------------------------------------------------------


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal_reason(address: Address) -> tuple[Address, str] | None:
    """Why the portal never connects to `address` (the address judged, and what it is), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return refusal_reason(embedded) or (
                (address, "a reserved address") if address in _IPV4_COMPATIBLE else None
            )
        for network, why in _IPV6_TABLE:
            if address in network:
                return address, why
        return None if address in _GLOBAL_UNICAST else (address, "a reserved address")
    for network, why in _IPV4_TABLE:
        if address in network:
            return address, why
    return None


def numeric_address(host: str) -> Address | None:
    """The address `host` means if the OS resolver reads it as a number, in any spelling it accepts."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not re.fullmatch(r"[0-9a-fA-FxX.]+", host):
        return None
    try:
        # inet_aton is what the C resolver uses for numeric hosts: 127.1, 0x7f000001, 0177.0.0.1 ...
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


# --- The operator's exceptions ---------------------------------------------------------------------


@dataclass(frozen=True)
class AllowedHost:
    """One OUTBOUND_ALLOWED_HOSTS entry: a name, `*.`-suffix or network, optionally one port."""

    name: str = ""
    network: Network | None = None
    port: int | None = None

    def matches_port(self, port: int | None) -> bool:
        return self.port is None or self.port == port

    def matches_name(self, host: str, port: int | None) -> bool:
        if not self.name or not self.matches_port(port):
            return False
        if self.name.startswith("*."):
            return host.endswith(self.name[1:])
        return host == self.name

    def matches_address(self, address: Address, port: int | None) -> bool:
        return self.network is not None and self.matches_port(port) and _same_family(address, self.network)


def _same_family(address: Address, network: Network) -> bool:
    return address.version == network.version and address in network


def _valid_name(name: str) -> bool:
    return len(name) <= 253 and all(_LABEL.match(label) for label in name.split("."))


def parse_allowed_hosts(entries: Iterable[str]) -> list[AllowedHost]:
    """Read OUTBOUND_ALLOWED_HOSTS; a mistyped entry is a configuration error naming it."""
    return [_parse_allowed(entry) for entry in entries]


def _parse_allowed(entry: str) -> AllowedHost:
    def mistyped(why: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(
            f"OUTBOUND_ALLOWED_HOSTS: “{entry}” {why}. Entries are host names (ingest.example.com, "
            "*.example.com), IP addresses or CIDR networks (10.1.2.0/24, [fd00::/8]), optionally with "
            ":port, separated by commas."
        )

    text = entry.strip().lower()
    host, port_text = text, ""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise mistyped("has an unclosed or misplaced ]")
        port_text = rest[1:] if rest else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    port = None
    if port_text or text.endswith(":"):
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise mistyped("has a port that is not a number from 1 to 65535")
        port = int(port_text)
    if not host:
        raise mistyped("is empty")
    try:
        return AllowedHost(network=ipaddress.ip_network(host, strict=False), port=port)
    except ValueError:
        if "/" in host or ":" in host or re.fullmatch(r"[0-9.]+", host):
            raise mistyped("is not a valid IP address or network") from None
    name = host.rstrip(".")
    if not _valid_name(name.removeprefix("*.")):
        raise mistyped("is not a valid host name")
    return AllowedHost(name=name, port=port)


def _configured_allowed_hosts() -> list[AllowedHost]:
    from django.conf import settings

    return parse_allowed_hosts(getattr(settings, "OUTBOUND_ALLOWED_HOSTS", []))


# --- The check ---------------------------------------------------------------------------------------


def _split_authority(netloc: str) -> tuple[str, str, bool]:
    """(host, port text, bracketed) of an authority without user info."""
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise _refused("This address is not a valid IPv6 address in brackets.", "outbound_host")
        return host, rest[1:], True
    host, _, port = netloc.partition(":")
    return host, port, False


def _private_address_message(host: str, address: Address, why: str, *, numeric: bool) -> ValidationError:
    subject = f"{address} is" if numeric else f"“{host}” resolves to"
    return _refused(
        f"This address points into a private network: {subject} {why}, which the portal never connects "
        "to on anyone's behalf. Use the server's public address.",
        "outbound_private_address",
    )


def validate_outbound_url(url: str, *, schemes: Sequence[str], allowed_hosts: Sequence[str] | None = None) -> None:
    """Raise ValidationError (a message fit for the user) unless `url` may be connected to.

    `schemes` are the accepted schemes, lowercase; `allowed_hosts` replaces the operator's
    OUTBOUND_ALLOWED_HOSTS when given. See the module docstring for the rules.
    """
    url = url or ""
    try:
        parts = urlsplit(url) if "://" in url else None
    except ValueError:  # an unclosed [ in the host
        raise _refused("This address is not a valid IPv6 address in brackets.", "outbound_host") from None
    if parts is None or parts.scheme.lower() not in schemes or not parts.netloc:
        listed = [f"{scheme}://" for scheme in schemes]
        choice = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " or " + listed[-1]
        raise _refused(f"Enter an address starting with {choice}.", "outbound_scheme")
    if _FORBIDDEN_CHARACTERS.search(url):
        raise _refused("The address contains spaces or characters a server address cannot have.", "outbound_host")
    if "@" in parts.netloc:
        raise _refused(
            "Leave the user name or password out of the server address (user@host); put credentials where the "
            "server expects them (the stream key or the query).",
            "outbound_credentials",
        )
    host, port_text, bracketed = _split_authority(parts.netloc)
    port = _port(port_text) or DEFAULT_PORTS.get(parts.scheme.lower())
    allowed = parse_allowed_hosts(allowed_hosts) if allowed_hosts is not None else _configured_allowed_hosts()

    if not host:
        raise _refused("The address has no server name after the scheme.", "outbound_host")
    if bracketed:
        try:
            # no zone index (%eth0): it names an interface of the machine that connects
            address: Address | None = None if "%" in host else ipaddress.IPv6Address(host)
        except ValueError:
            address = None
        if address is None:
            raise _refused(f"[{host}] is not a valid IPv6 address.", "outbound_host")
        _check_address(host, address, port, allowed, numeric=True)
        return
    if not host.isascii() or not re.fullmatch(r"[A-Za-z0-9.-]+", host):
        raise _refused(
            "The server's name may only have letters, digits, dots and hyphens "
            "(an international name in its punycode form, xn--...).",
            "outbound_host",
        )
    name = host.lower().removesuffix(".")  # the resolver reads "host." as "host"
    if any(entry.matches_name(name, port) for entry in allowed):
        return
    address = numeric_address(name)
    if address is not None:
        _check_address(host, address, port, allowed, numeric=True)
        return
    labels = name.split(".")
    if not _valid_name(name) or not labels[-1][0].isalpha():
        raise _refused(f"“{host}” is not a valid host name or IP address.", "outbound_host")
    _check_name(name, labels)
    for resolved in _resolve(name):
        _check_address(name, resolved, port, allowed, numeric=False)


def _port(text: str) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise _refused("The port in this address is not a number.", "outbound_port")
    if not 1 <= int(text) <= 65535:
        raise _refused("The port in this address must be between 1 and 65535.", "outbound_port")
    return int(text)


def _check_address(host: str, address: Address, port: int | None, allowed: list[AllowedHost], *, numeric: bool):
    if any(entry.matches_address(address, port) for entry in allowed):
        return
    reason = refusal_reason(address)
    if reason is None:
        return
    judged, why = reason
    if any(entry.matches_address(judged, port) for entry in allowed):
        return  # ::ffff:10.1.2.3 when 10.1.2.0/24 is allowed
    raise _private_address_message(host, judged, why, numeric=numeric)


def _check_name(name: str, labels: list[str]) -> None:
    if any(name == domain or name.endswith(f".{domain}") for domain in LOCAL_DOMAINS):
        raise _refused(
            f"“{name}” is a name on a local or internal network, which the portal never connects to on "
            "anyone's behalf. Enter the server's public name.",
            "outbound_internal_name",
        )
    if len(labels) == 1:
        raise _refused(
            f"“{name}” is a name on an internal network (it has no dot), which the portal never connects to "
            "on anyone's behalf. Enter the server's full public name, e.g. live.example.com.",
            "outbound_internal_name",
        )
    if len(labels) == 2 and labels[0] == "tasks":
        raise _refused(
            f"“{name}” is a Docker service name on an internal network, which the portal never connects to "
            "on anyone's behalf. Enter the server's full public name.",
            "outbound_internal_name",
        )


def _resolve(name: str) -> list[Address]:
    try:
        answers = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []  # does not resolve here: accepted, and judged again before anything connects
    addresses = []
    for _family, _type, _proto, _canonical, sockaddr in answers:
        text = str(sockaddr[0]).partition("%")[0]
        try:
            addresses.append(ipaddress.ip_address(text))
        except ValueError:
            continue
    return addresses
