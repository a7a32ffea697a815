"""Run the emulator as a real separate process from tests (and scripts).

    ome = EmulatorProcess(token="t", recordings_dir=tmp_path).start()
    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    ...
    ome.stop(); ome.start()   # again, on the same ports: in-memory pushes/records are gone
    ome.stop()

The first start uses free ports (port 0) and reads them from the READY line; later starts reuse
them, like an OME server restarted behind the same address. Settings changed with `config()`
are passed on the command line at the next start, as OME keeps its Server.xml across restarts.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

READY_PREFIX = "OME-EMULATOR READY "


class EmulatorError(AssertionError):
    """The control API answered something other than what the test expected."""

    def __init__(self, message: str, *, status: int, body: Any):
        super().__init__(message)
        self.status = status
        self.body = body


class EmulatorProcess:
    def __init__(
        self,
        *,
        token: str = "emulator-token",
        webhook_url: str | None = None,
        webhook_secret: str = "",
        webhook_timeout_ms: int = 3000,
        recordings_dir: str | Path | None = None,
        host: str = "127.0.0.1",
        webrtc_stream_delay: float | None = None,
        extra_args: list[str] | None = None,
    ):
        self.token = token
        self.host = host
        self.recordings_dir = Path(recordings_dir or tempfile.mkdtemp(prefix="ome-recordings-"))
        self._base_config: dict[str, Any] = {
            "webhook_url": webhook_url,
            "webhook_secret": webhook_secret,
            "webhook_timeout_ms": webhook_timeout_ms,
            "webrtc_stream_delay": webrtc_stream_delay,
        }
        self._config = dict(self._base_config)
        self._started_config: dict[str, Any] | None = None
        self._extra_args = list(extra_args or [])
        self.api_port = 0
        self.signalling_port = 0
        self.api_url = ""
        self.signalling_url = ""
        self.llhls_url = ""
        self.process: subprocess.Popen[str] | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="ome-emulator-", suffix=".log")[1])
        self.session = requests.Session()

    # --- process ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self) -> list[str]:
        args = [
            sys.executable,
            "-m",
            "ome_emulator",
            "--host",
            self.host,
            "--api-port",
            str(self.api_port),
            "--signalling-port",
            str(self.signalling_port),
            "--token",
            self.token,
            "--recordings-dir",
            str(self.recordings_dir),
        ]
        config = self._config
        if config.get("webhook_url"):
            args += ["--webhook-url", config["webhook_url"]]
        if config.get("webhook_secret"):
            args += ["--webhook-secret", config["webhook_secret"]]
        if config.get("transcode_webhook_url"):
            args += ["--transcode-webhook-url", config["transcode_webhook_url"]]
        if config.get("transcode_webhook_secret"):
            args += ["--transcode-webhook-secret", config["transcode_webhook_secret"]]
        if config.get("webhook_timeout_ms"):
            args += ["--webhook-timeout-ms", str(config["webhook_timeout_ms"])]
        if config.get("webrtc_stream_delay") is not None:
            args += ["--webrtc-stream-delay", str(config["webrtc_stream_delay"])]
        return args + self._extra_args

    def start(self, timeout: float = 30.0) -> EmulatorProcess:
        if self.running:
            return self
        root = Path(__file__).resolve().parent.parent
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=str(root)
        )
        log.close()
        self._started_config = dict(self._config)
        line = self._read_ready_line(timeout)
        urls = json.loads(line[len(READY_PREFIX) :])
        self.api_url, self.signalling_url, self.llhls_url = urls["api_url"], urls["signalling_url"], urls["llhls_url"]
        self.api_port = int(self.api_url.rsplit(":", 1)[1])
        self.signalling_port = int(self.signalling_url.rsplit(":", 1)[1])
        return self

    def _read_ready_line(self, timeout: float) -> str:
        assert self.process is not None and self.process.stdout is not None
        found: list[str] = []

        def read() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                if line.startswith(READY_PREFIX):
                    found.append(line.strip())
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if not found:
            self.stop()
            raise RuntimeError(f"the OME emulator did not start within {timeout:.0f}s:\n{self.log_tail()}")
        return found[0]

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None

    def ensure_fresh(self) -> EmulatorProcess:
        """Running, started with the constructor's settings, and reset: what each test wants."""
        if self.running and self._started_config != self._base_config:
            self.stop()
        self._config = dict(self._base_config)
        self.start()
        self.reset()
        return self

    def restart(self) -> EmulatorProcess:
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- HTTP helpers -------------------------------------------------------------------------

    @property
    def auth_header(self) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(self.token.encode()).decode()}

    def api(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> requests.Response:
        """Call OME's REST API (path like /v1/vhosts) with the token."""
        headers = self.auth_header if auth else {}
        data = None if body is None else json.dumps(body)
        return self.session.request(method, self.api_url + path, data=data, headers=headers, timeout=15)

    def control(self, path: str, body: Any = None, *, method: str = "POST", expect: int | None = 200) -> Any:
        response = self.session.request(method, f"{self.api_url}/emulator/{path}", json=body, timeout=30)
        try:
            data = response.json()
        except ValueError:
            data = response.text
        if expect is not None and response.status_code != expect:
            raise EmulatorError(
                f"/emulator/{path} answered {response.status_code}, expected {expect}: {data}",
                status=response.status_code,
                body=data,
            )
        return data

    def publish(
        self, url: str, client: dict[str, Any] | None = None, *, delay: float = 0, expect: int | None = 200
    ) -> Any:
        body: dict[str, Any] = {"url": url}
        if client:
            body["client"] = client
        if delay:
            body["delay"] = delay
        return self.control("publish", body, expect=expect)

    def unpublish(self, stream: str, *, expect: int | None = 200) -> Any:
        return self.control("unpublish", {"stream": stream}, expect=expect)

    def play(self, url: str, client: dict[str, Any] | None = None, *, expect: int | None = 200) -> Any:
        body: dict[str, Any] = {"url": url}
        if client:
            body["client"] = client
        return self.control("play", body, expect=expect)

    def stop_play(self, viewer: str, *, expect: int | None = 200) -> Any:
        return self.control("stop-play", {"viewer": viewer}, expect=expect)

    def fail_destination(self, url: str, message: str | None = None) -> Any:
        body = {"url": url} | ({"message": message} if message else {})
        return self.control("fail-destination", body)

    def heal_destination(self, url: str) -> Any:
        return self.control("heal-destination", {"url": url})

    def config(self, **settings: Any) -> Any:
        """Change settings now and keep them for the next start (like editing Server.xml)."""
        result = self.control("config", settings)
        self._config.update(settings)
        return result

    def reset(self) -> Any:
        """Forget every stream, push, record and viewer; settings go back to the constructor's."""
        self._config = dict(self._base_config)
        return self.control("reset", {})

    def state(self) -> Any:
        return self.control("state", method="GET")

    def transcode_requests(self) -> list[dict[str, Any]]:
        """The TranscodeWebhook requests the emulator sent (with the answers it got)."""
        return self.state()["transcode_webhooks"]

    def webhook_requests(self) -> list[dict[str, Any]]:
        """The admission webhook requests the emulator sent (with the answers it got)."""
        return self.state()["webhooks"]

    # --- waiting ------------------------------------------------------------------------------

    def wait_for(self, predicate: Any, *, timeout: float = 10.0, interval: float = 0.1, what: str = "condition") -> Any:
        """Poll `predicate()` until it returns something truthy; return that."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(interval)

    def pushes(self) -> list[dict[str, Any]]:
        return self.api("POST", "/v1/vhosts/default/apps/app:pushes").json()["response"]

    def records(self) -> list[dict[str, Any]]:
        return self.api("POST", "/v1/vhosts/default/apps/app:records").json()["response"]

    def push_state(self, push_id: str) -> str | None:
        return next((push["state"] for push in self.pushes() if push["id"] == push_id), None)

    def disk_path(self, ome_path: str) -> Path:
        """Where an OME-side recording path (/default/app/room1.xml) is on this machine."""
        return self.recordings_dir / ome_path.lstrip("/")
