"""A real S3-compatible server on loopback for the recordings-storage tests: moto in server mode.

- `s3_server` (session): moto's S3 API over HTTP on 127.0.0.1, in a thread of the test run; `stop()`
  and `start()` take it off the network and back on the same port, its buckets kept (an outage).
- `bucket` (function): a new private bucket on it, and the portal set up to keep recordings there
  (RECORDINGS_STORAGE=s3 with the bucket, region, endpoint URL and credentials, 5 MB parts, quick
  upload retries). Import both into a test module to use them.
- `CorruptingProxy`: a TCP proxy in front of the server that flips one byte of the first
  uploads' bodies on their way (a copy in the bucket that is not the file), or slows them down.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from dataclasses import dataclass

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

ACCESS_KEY_ID = "PORTALTESTSKEYID0001"
SECRET_ACCESS_KEY = "portal-tests-secret-access-key-0123456789"
REGION = "eu-central-1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class S3Server:
    def __init__(self):
        self.port = free_port()
        self._server: ThreadedMotoServer | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            config=Config(signature_version="s3v4", retries={"max_attempts": 1}),
        )


@dataclass
class Bucket:
    name: str
    server: S3Server

    def keys(self) -> list[str]:
        answer = self.server.client().list_objects_v2(Bucket=self.name)
        return sorted(item["Key"] for item in answer.get("Contents", []))

    def body(self, key: str) -> bytes:
        return self.server.client().get_object(Bucket=self.name, Key=key)["Body"].read()

    def size(self, key: str) -> int:
        return self.server.client().head_object(Bucket=self.name, Key=key)["ContentLength"]

    def etag(self, key: str) -> str:
        return self.server.client().head_object(Bucket=self.name, Key=key)["ETag"].strip('"')

    def settings_env(self, endpoint_url: str | None = None) -> dict[str, str]:
        """The environment of a portal process that keeps recordings in this bucket."""
        return {
            "RECORDINGS_STORAGE": "s3",
            "RECORDINGS_S3_BUCKET": self.name,
            "RECORDINGS_S3_REGION": REGION,
            "RECORDINGS_S3_ENDPOINT_URL": endpoint_url or self.server.endpoint_url,
            "RECORDINGS_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "RECORDINGS_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "RECORDINGS_S3_PART_MB": "5",
        }


@pytest.fixture(scope="session")
def s3_server():
    server = S3Server()
    server.start()
    yield server
    server.stop()


def use_bucket(settings, bucket: Bucket, *, endpoint_url: str | None = None) -> None:
    for name, value in bucket.settings_env(endpoint_url).items():
        setattr(settings, name, int(value) if name == "RECORDINGS_S3_PART_MB" else value)
    settings.RECORDINGS_UPLOAD_RETRY_SECONDS = 0.5
    settings.RECORDINGS_UPLOAD_RETRY_MAX_SECONDS = 2.0
    # A new STORAGES makes Django build the recordings backend again, with the settings above.
    settings.STORAGES = {**settings.STORAGES, "recordings": {"BACKEND": "recordings.bucket.RecordingsBucket"}}


@pytest.fixture
def bucket(s3_server, settings):
    if not s3_server.running:
        s3_server.start()  # a test stopped it
    created = Bucket(f"recordings-{uuid.uuid4().hex[:12]}", s3_server)
    s3_server.client().create_bucket(Bucket=created.name, CreateBucketConfiguration={"LocationConstraint": REGION})
    use_bucket(settings, created)
    yield created
    if not s3_server.running:
        s3_server.start()


class CorruptingProxy:
    """127.0.0.1:port → the S3 server; flips byte 200 of the body of the first `uploads` PUTs of
    recordings' objects (keys under org-...), then passes everything through unchanged. With
    `delay`, each chunk on its way to the server waits that long first (a slow link)."""

    def __init__(self, server: S3Server, *, uploads: int = 1, delay: float = 0.0):
        self.server = server
        self.delay = delay
        self.remaining = uploads
        self.corrupted = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.server.port))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, to_server: bool) -> None:
        state = {"buffer": b"", "body_at": None}
        try:
            while data := source.recv(65536):
                if to_server and self.delay:
                    time.sleep(self.delay)
                target.sendall(self._corrupt(data, state) if to_server else data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _corrupt(self, data: bytes, state: dict) -> bytes:
        if state["body_at"] is None:
            state["buffer"] += data
            head, separator, _ = state["buffer"].partition(b"\r\n\r\n")
            if not separator:
                return data
            request_line = head.split(b"\r\n", 1)[0]
            if not (request_line.startswith(b"PUT ") and b"/org-" in request_line):
                state["buffer"] = b""
                return data
            # Where this chunk of data starts, counted from the start of the body.
            state["body_at"] = (len(state["buffer"]) - len(data)) - (len(head) + 4)
            state["buffer"] = b""
        offset = 200 - state["body_at"]
        state["body_at"] += len(data)
        if 0 <= offset < len(data):
            with self._lock:
                if self.remaining <= 0:
                    return data
                self.remaining -= 1
                self.corrupted += 1
            changed = bytearray(data)
            changed[offset] ^= 0xFF
            return bytes(changed)
        return data
