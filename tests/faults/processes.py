"""Real processes on loopback for fault tests: what runs in production, started natively.

    stack = FaultStack(workdir=tmp_path, database_url=url)   # nothing runs yet
    stack.start()          # Redis, the OME emulator, migrate, then web (gunicorn), worker, beat
    team = stack.seed("town-hall", destinations=2)           # an org, its owner, a room, an API token
    stack.redis.stop(); ...; stack.redis.start()             # inject a fault, for real
    stack.worker.kill(); stack.worker.start()                # SIGKILL, like an OOM kill
    stack.ome.stop(); stack.ome.start()                      # OME restarted on the same ports
    stack.sql("SELECT state FROM broadcasts_push WHERE id = %s", [push_id])
    stack.stop()

- `RedisServer`: its own `redis-server` on a free port in a temporary folder, without
  persistence (a restart loses everything, queued messages included, as a Redis without a volume
  does); never the machine's shared Redis.
- `PortalProcess`: `docker/entrypoint.sh web|worker|beat` with the stack's production
  environment (DEBUG off, real-looking secrets, see tests/deploy/stackfile.py), pointed at this
  stack's database, Redis and emulator; its own process group, so that `kill()` takes the
  prefork children too, as a container kill does.
- `FaultStack`: all of them wired together, with short timings (`FAST_TIMINGS`) so that a test
  sees retries, sweeps and reconcile passes within seconds. `env` is the environment every
  portal process gets; pass `overrides` to change it.

Every wait is bounded; every process is stopped by `stop()` (the fixtures call it).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import requests

from ome_emulator.testing import EmulatorProcess

from ..deploy.stackfile import OPERATOR_ENV, PORTAL_ENTRYPOINT, REPO, base_process_env, load_stack, service_environment

# Seconds, small enough for a test to see several retries, sweeps and reconcile passes.
FAST_TIMINGS = {
    "RECONCILE_SECONDS": "1",
    "REQUEST_REQUEUE_SECONDS": "8",  # sweep every 2 s, requeue after 6 s
    "OME_API_TIMEOUT": "2",
    "OME_RETRY_BASE_SECONDS": "0.5",
    "OME_RETRY_MAX_SECONDS": "2",
    "OME_RETRY_MAX_ATTEMPTS": "60",  # keeps retrying through a test's OME outage
    "CELERY_VISIBILITY_TIMEOUT": "5",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(
    predicate: Callable[[], Any], *, timeout: float, what: str | Callable[[], str], interval: float = 0.2
) -> Any:
    """Poll `predicate` until it returns something truthy (returned), or fail after `timeout` s.

    `what` may be a callable, called only on failure (e.g. to show a process's latest log lines).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            text = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {text}")
        time.sleep(interval)


class RedisServer:
    """A redis-server of the test's own, stoppable and restartable on the same port."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log = directory / "redis.log"

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> RedisServer:
        if self.running:
            return self
        command = [
            shutil.which("redis-server") or "redis-server",
            "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.directory), "--daemonize", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=self.log.open("a"), stderr=subprocess.STDOUT)
        wait_until(self.ping, timeout=10, what=f"redis-server on port {self.port}")
        return self

    def stop(self) -> None:
        """Stop it (SIGTERM: no data is saved, like a crashed or replaced Redis without a volume)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
        wait_until(lambda: not self.ping(), timeout=5, what="redis-server to stop answering")


class PortalProcess:
    """One of the image's commands (`web`, `worker`, `beat`) started through docker/entrypoint.sh."""

    def __init__(self, role: str, env: dict[str, str], log: Path, *args: str):
        self.role, self.env, self.log, self.args = role, env, log, args
        self.process: subprocess.Popen | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> PortalProcess:
        if self.alive:
            return self
        self.process = subprocess.Popen(
            ["sh", str(PORTAL_ENTRYPOINT), self.role, *self.args],
            env=self.env,
            cwd=REPO,
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill its whole process group at once (SIGKILL: no clean-up, like an OOM kill)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(20)
        self.process = None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None

    def output(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


_SEED = """
import json, django
django.setup()
from api.services import create_api_token
from broadcasts.models import Destination, Platform
from organizations.models import Membership, Organization, Role, User
from rooms.models import Room, generate_stream_key
args = json.loads(%r)
organization = Organization.objects.create(name=args["room"].title(), slug=args["room"])
owner = User.objects.create_user(email=args["room"] + "@example.test", password=args["password"])
membership = Membership.objects.create(organization=organization, user=owner, role=Role.OWNER)
room = Room(organization=organization, public_id=args["room"], title=args["room"].title())
key = generate_stream_key()
room.set_stream_key(key)
room.save()
destinations = [
    Destination.objects.create(
        room=room, name=f"YouTube {n}", platform=Platform.YOUTUBE, url="rtmp://a.rtmp.youtube.com/live2",
        stream_key=f"{args['room']}-yt-{n}",
    ).pk
    for n in range(args["destinations"])
]
_token, token = create_api_token(actor=membership, name="fault test", role=Role.OWNER)
print("SEED " + json.dumps({"room": room.pk, "public_id": room.public_id, "stream_key": key,
    "destinations": destinations, "token": token, "email": owner.email}))
"""


class FaultStack:
    """Redis, the OME emulator, PostgreSQL (a database of its own) and the portal's processes."""

    def __init__(self, *, workdir: Path, database_url: str, overrides: dict[str, str] | None = None):
        self.workdir = workdir
        self.database_url = database_url
        self.redis = RedisServer(workdir / "redis")
        self.web_port = free_port()
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        webhook_secret = OPERATOR_ENV["OME_WEBHOOK_SECRET"]
        self.ome = EmulatorProcess(
            token=OPERATOR_ENV["API_ACCESS_TOKEN"],
            webhook_url=f"{self.web_url}/ome/admission",
            webhook_secret=webhook_secret,
            recordings_dir=workdir / "recordings",
            webrtc_stream_delay=0.5,
        )
        self.overrides = dict(overrides or {})
        self.env: dict[str, str] = {}
        logs = workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.logs = logs
        self.web: PortalProcess | None = None
        self.worker: PortalProcess | None = None
        self.beat: PortalProcess | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        production = service_environment(load_stack(), "web")
        return base_process_env(
            **{
                **production,
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis.url(),
                "OME_API_URL": self.ome.api_url,
                "OME_API_TOKEN": self.ome.token,
                "RECORDINGS_DIR": str(self.ome.recordings_dir),
                "OME_RECORDINGS_DIR": "",
                "PORT": str(self.web_port),
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                # Plain HTTP on loopback instead of Traefik's HTTPS, no collectstatic step.
                "SECURE_SSL_REDIRECT": "false",
                "SESSION_COOKIE_SECURE": "false",
                "CSRF_COOKIE_SECURE": "false",
                "SECURE_HSTS_SECONDS": "0",
                "STATIC_MANIFEST": "false",
                "GUNICORN_WORKERS": "2",
                "GUNICORN_THREADS": "2",
                "CELERY_CONCURRENCY": "2",
                "CELERY_BEAT_SCHEDULE_FILE": str(self.workdir / "celerybeat-schedule"),
                "MIGRATION_WAIT_SECONDS": "60",
                **FAST_TIMINGS,
                **self.overrides,
            }
        )

    def start(self) -> FaultStack:
        self.redis.start()
        self.ome.start()
        self.env = self._environment()
        migrated = subprocess.run(
            ["sh", str(PORTAL_ENTRYPOINT), "migrate"], env=self.env, cwd=REPO, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        if migrated.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{migrated.stderr[-2000:]}")
        self.web = PortalProcess("web", self.env, self.logs / "web.log")
        self.worker = PortalProcess(
            "worker", self.env, self.logs / "worker.log", "--without-gossip", "--without-mingle"
        )
        self.beat = PortalProcess("beat", self.env, self.logs / "beat.log")
        for process in (self.web, self.worker, self.beat):
            process.start()
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 90) -> None:
        """Every process up: web answers /healthz with everything ok, the worker is consuming."""

        def ready() -> bool:
            for process in (self.web, self.worker, self.beat):
                if not process.alive:
                    raise AssertionError(f"{process.role} exited:\n{process.output()}")
            try:
                health = requests.get(f"{self.web_url}/healthz", timeout=5)
            except requests.RequestException:
                return False
            healthy = health.status_code == 200 and ('"status": "ok"' in health.text or health.text == "ok\n")
            return healthy and "ready." in self.worker.output(200_000)

        wait_until(ready, timeout=timeout, what="web, worker and beat to be ready", interval=0.5)

    def ensure_running(self) -> None:
        """Bring back whatever a previous test left stopped."""
        self.redis.start()
        if self.ome.running:
            self.thaw_ome()
        self.ome.start()
        for process in (self.web, self.worker, self.beat):
            process.start()
        self.wait_ready()
        # Forget what earlier tests left running, so that the reconcile loop does not register it again.
        self.sql("UPDATE broadcasts_push SET state = 'stopped' WHERE state <> 'stopped'")
        self.sql("UPDATE recordings_recording SET state = 'error' WHERE state NOT IN ('finished', 'error')")
        self.sql("UPDATE rooms_room SET live_state = 'offline'")
        self.ome.reset()

    def stop(self) -> None:
        for process in (self.beat, self.worker, self.web):
            if process is not None:
                process.stop()
        self.ome.stop()
        self.redis.stop()

    def freeze_ome(self) -> None:
        """OME hangs (SIGSTOP): its API times out, but nothing it holds in memory is lost."""
        os.kill(self.ome.process.pid, signal.SIGSTOP)

    def thaw_ome(self) -> None:
        os.kill(self.ome.process.pid, signal.SIGCONT)

    def new_worker(self, **overrides: str) -> PortalProcess:
        """A fresh worker process (after the old one was killed or stopped), ready to consume;
        `overrides` change its environment (e.g. longer retry waits), until the next new worker."""
        if self.worker is not None and self.worker.alive:
            self.worker.stop()
        log = self.logs / f"worker-{int(time.time() * 1000)}.log"
        env = {**self.env, **overrides}
        self.worker = PortalProcess("worker", env, log, "--without-gossip", "--without-mingle").start()
        wait_until(lambda: "ready." in self.worker.output(200_000), timeout=60, what="the new worker to be ready")
        return self.worker

    # --- data and observation ---------------------------------------------------------------

    def manage_python(self, code: str, timeout: float = 120) -> str:
        result = subprocess.run(
            ["sh", str(PORTAL_ENTRYPOINT), "python", "-c", code],
            env={**self.env, "DJANGO_SETTINGS_MODULE": "portal.settings"},
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"portal python failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def seed(self, room: str, *, destinations: int = 1) -> dict[str, Any]:
        """An organization with an owner (password `PASSWORD`), a public room, YouTube destinations
        and an owner API token; returns their ids, the room's stream key and the token."""
        args = json.dumps({"room": room, "destinations": destinations, "password": PASSWORD})
        output = self.manage_python(_SEED % args)
        line = next(line for line in output.splitlines() if line.startswith("SEED "))
        return json.loads(line[len("SEED ") :])

    def sql(self, query: str, params: list | tuple = ()) -> list[tuple]:
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            cursor = connection.execute(query, params)
            return cursor.fetchall() if cursor.description is not None else []

    def push_states(self, room_pk: int) -> dict[int, str]:
        return dict(self.sql("SELECT id, state FROM broadcasts_push WHERE room_id = %s", [room_pk]))

    def ome_push_ids(self, stream_key_prefix: str = "") -> list[str]:
        """Ids of the pushes OME has, those whose destination key starts with `stream_key_prefix`."""
        return [push["id"] for push in self.ome.pushes() if push.get("streamKey", "").startswith(stream_key_prefix)]

    def push_ome_ids(self, push_ids: list[int]) -> dict[int, str]:
        return dict(self.sql("SELECT id, ome_id FROM broadcasts_push WHERE id = ANY(%s)", [push_ids]))

    # --- clients ----------------------------------------------------------------------------

    def api(self, token: str) -> requests.Session:
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
        return session

    def compat_auth(self, token: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(token.encode()).decode()}

    def browser(self, email: str) -> requests.Session:
        """A signed-in session, as a person's browser has after the sign-in form."""
        session = requests.Session()
        page = session.get(f"{self.web_url}/accounts/login/", timeout=15)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        response = session.post(
            f"{self.web_url}/accounts/login/",
            data={"csrfmiddlewaretoken": csrf, "username": email, "password": PASSWORD},
            timeout=15,
            allow_redirects=False,
        )
        assert response.status_code == 302, f"sign-in failed: {response.status_code} {response.text[:300]}"
        return session

    def post_form(self, session: requests.Session, path: str, **kwargs) -> requests.Response:
        """POST a page's form (with its CSRF token, as the page does)."""
        token = session.cookies.get("csrftoken")
        return session.post(
            f"{self.web_url}{path}", data={"csrfmiddlewaretoken": token}, timeout=15, allow_redirects=False, **kwargs
        )


PASSWORD = "fault-test-password-1"
