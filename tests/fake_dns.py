"""A stand-in for the DNS: point host names at addresses for one test.

The machine running the tests has no internet, and what a name resolves to is exactly what the
outbound-address checks are about. The fixture replaces the OS resolver (`socket.getaddrinfo`),
not the project's code: names it was not told about resolve as usual, so the OME emulator and
the databases on 127.0.0.1 keep working. Changing an answer in the middle of a test is how a
test plays DNS changing between two checks.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest


class FakeDns:
    def __init__(self, real):
        self._real = real
        self.answers: dict[str, list[str]] = {}

    def point(self, name: str, *addresses: str) -> None:
        """`name` resolves to `addresses` from now on; no address: the name does not exist."""
        self.answers[name.lower().rstrip(".")] = list(addresses)

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else host
        if not isinstance(name, str) or name.lower().rstrip(".") not in self.answers:
            return self._real(host, port, family, type, proto, flags)
        addresses = self.answers[name.lower().rstrip(".")]
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        port_number = int(port or 0)
        results = []
        for text in addresses:
            address = ipaddress.ip_address(text)
            if address.version == 4:
                results.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (text, port_number)))
            else:
                results.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (text, port_number, 0, 0)))
        return results


@pytest.fixture
def fake_dns(monkeypatch) -> FakeDns:
    dns = FakeDns(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)
    return dns
