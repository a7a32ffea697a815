"""Fixtures for pages driven in Chromium: a page on another origin that embeds the player."""

import http.server
import socket
import threading

import pytest
from django.db import connection

from ome.reconcile import reconcile


class _Pages(http.server.BaseHTTPRequestHandler):
    pages: dict[str, str] = {}

    def do_GET(self):
        if self.path == "/favicon.ico":
            self.send_response(204)
            self.end_headers()
            return
        body = self.pages.get(self.path.split("?")[0])
        if body is None:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def other_origin():
    """An HTTP server on 127.0.0.1 (the portal's live server is on localhost: another origin)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pages: dict[str, str] = {}
    handler = type("Pages", (_Pages,), {"pages": pages})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.origin = f"http://127.0.0.1:{port}"
    server.pages = pages
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def webhooked_ome(portal_ome, live_server, settings):
    """The emulator asking the live portal's admission webhook, and browsers sent to it for media."""
    portal_ome.config(webhook_url=live_server.url + "/ome/admission", webhook_secret=settings.OME_WEBHOOK_SECRET)
    settings.OME_WEBRTC_URL = portal_ome.signalling_url
    settings.OME_LLHLS_URL = settings.OME_LLHLS_INTERNAL_URL = portal_ome.llhls_url
    yield portal_ome
    portal_ome.reset()  # its closing webhooks reach the portal while the test database is still there


@pytest.fixture
def reconcile_loop(portal_ome):
    """The reconcile loop, as Celery beat runs it in production, twice a second."""
    stop = threading.Event()

    def loop():
        try:
            while not stop.wait(0.5):
                reconcile()
        finally:
            connection.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(10)
