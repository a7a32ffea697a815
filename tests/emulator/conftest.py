"""Shared pieces for the emulator's tests: a real HTTP control server that receives the
emulator's admission webhooks (raw bytes and headers kept) and answers as a test tells it to."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ome_emulator.testing import EmulatorProcess

SECRET = "hook-secret"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.raw)

    @property
    def request(self) -> dict[str, Any]:
        return self.body["request"]


class ControlServer:
    """Answers `opening` requests with `answer(body)` (default: allowed) and `closing` with {}."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answer: Callable[[dict[str, Any]], Any] = lambda body: {"allowed": True}
        self.delay = 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                server.received.append(Received(self.path, dict(self.headers.items()), raw))
                if server.delay:
                    time.sleep(server.delay)
                body = json.loads(raw)
                reply = server.answer(body) if body["request"]["status"] == "opening" else {}
                data = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/ome/admission"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} webhook requests, got {len(self.received)}: {self.statuses()}")
            time.sleep(0.05)
        return self.received

    def statuses(self) -> list[str]:
        return [f"{item.request['direction']}/{item.request['status']} {item.request['url']}" for item in self.received]


@pytest.fixture
def control_server() -> Iterator[ControlServer]:
    server = ControlServer()
    yield server
    server.close()


@pytest.fixture
def hooked_ome(ome: EmulatorProcess, control_server: ControlServer) -> EmulatorProcess:
    """The emulator sending its admission webhooks to `control_server` with the golden secret."""
    ome.config(webhook_url=control_server.url, webhook_secret=SECRET)
    return ome
