"""The portal image's commands, run natively with production settings (no Docker engine here).

docker/entrypoint.sh is the image's entrypoint: these tests run it with the environment that
docker/stack.yml gives the web, worker and beat services (DEBUG unset, real-looking secrets),
against a PostgreSQL database of their own and the test Redis, with static files collected by
the same script the Dockerfile runs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ..databases import fresh_database
from .stackfile import (
    DOCKER_DIR,
    OPERATOR_ENV,
    PORTAL_ENTRYPOINT,
    REPO,
    base_process_env,
    load_stack,
    portal_settings,
    render_ome,
    service_environment,
)

DOMAIN = OPERATOR_ENV["DOMAIN"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def stack():
    return load_stack()


@pytest.fixture(scope="module")
def web_environment(stack):
    return service_environment(stack, "web")


@pytest.fixture(scope="module")
def database_url():
    """A fresh database on the test PostgreSQL server, dropped afterwards."""
    with fresh_database("deploy_probe") as url:
        yield url


@pytest.fixture(scope="module")
def static_root(tmp_path_factory):
    """What the Dockerfile's static stage produces: `sh docker/static.sh collect`."""
    root = tmp_path_factory.mktemp("staticfiles")
    result = subprocess.run(
        ["sh", str(DOCKER_DIR / "static.sh"), "collect"],
        env=base_process_env(STATIC_ROOT=str(root)),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert result.returncode == 0, f"collectstatic (Dockerfile build step) failed:\n{result.stderr[-2000:]}"
    assert (root / "staticfiles.json").is_file()
    return root


@pytest.fixture(scope="module")
def production_env(web_environment, database_url, static_root, tmp_path_factory):
    """The web service's environment, pointed at this machine's PostgreSQL and Redis."""
    recordings = tmp_path_factory.mktemp("recordings")
    return base_process_env(
        **{
            **web_environment,
            "DATABASE_URL": database_url,
            "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"),
            "STATIC_ROOT": str(static_root),
            "RECORDINGS_DIR": str(recordings),
            "OME_RECORDINGS_DIR": str(recordings),
            # Nothing answers there: calls to OME fail at once instead of waiting for DNS.
            "OME_API_URL": "http://127.0.0.1:9",
            "GUNICORN_WORKERS": "2",
            "GUNICORN_THREADS": "2",
            "METRICS_DIR": str(tmp_path_factory.mktemp("metrics")),
        }
    )


def run_entrypoint(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(PORTAL_ENTRYPOINT), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


class Server:
    """A background process started through the image's entrypoint."""

    def __init__(self, env: dict[str, str], *args: str, log: Path):
        self.log = log
        self.process = subprocess.Popen(
            ["sh", str(PORTAL_ENTRYPOINT), *args],
            env=env,
            cwd=REPO,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text()[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def request(port: int, method: str, path: str, *, headers: dict[str, str], body: bytes | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def web(production_env, tmp_path_factory):
    """`migrate` (the one-shot service), then `web` (gunicorn), as the stack runs them."""
    logs = tmp_path_factory.mktemp("logs")
    # Before the migrate service ran, web waits and finally gives up with a clear message.
    early = run_entrypoint({**production_env, "MIGRATION_WAIT_SECONDS": "4"}, "web", timeout=60)
    assert early.returncode != 0 and "migrations are still pending" in early.stderr, (
        f"web did not wait for the migrate service:\n{early.stdout[-1000:]}{early.stderr[-2000:]}"
    )

    migrated = run_entrypoint(production_env, "migrate", timeout=300)
    assert migrated.returncode == 0, f"the migrate service failed:\n{migrated.stderr[-2000:]}"

    port = free_port()
    env = {**production_env, "PORT": str(port)}
    server = Server(env, "web", log=logs / "web.log")
    deadline = time.monotonic() + 60
    while True:
        try:
            status, _, _ = request(port, "GET", "/healthz", headers={"Host": "localhost"})
            if status == 200:
                break
        except OSError:
            pass
        if server.process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            pytest.fail(f"gunicorn did not serve /healthz:\n{server.output()}")
        time.sleep(0.3)
    server.port = port
    server.env = env
    yield server
    server.stop()


def test_the_stack_environment_gives_production_settings_and_the_stacks_services(web_environment):
    portal = portal_settings(web_environment)
    assert portal["DEBUG"] is False
    # DATABASE_URL left empty: built from POSTGRES_PASSWORD, whatever characters it has.
    assert portal["database"] == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "portal",
        "USER": "portal",
        "PASSWORD": OPERATOR_ENV["POSTGRES_PASSWORD"],
        "HOST": "postgres",
        "PORT": 5432,
    }
    assert portal["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    assert portal["DEFAULT_FROM_EMAIL"] == f"Streaming Stack <noreply@{DOMAIN}>"
    assert {DOMAIN, f"api.{DOMAIN}", "web"} <= set(portal["ALLOWED_HOSTS"])
    assert portal["TRUSTED_PROXY_COUNT"] == "1", "Traefik is the one proxy: client addresses come from its entry"


def test_manage_check_deploy_reports_nothing_with_production_settings(production_env):
    result = run_entrypoint(production_env, "manage", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, f"check --deploy found problems:\n{result.stdout}{result.stderr}"
    assert "System check identified no issues" in result.stdout


def test_the_web_start_command_serves_healthz(web):
    status, _headers, body = request(web.port, "GET", "/healthz", headers={"Host": "localhost"})
    assert status == 200
    assert json.loads(body) == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "broker": "ok"}}
    check = subprocess.run(
        ["python", str(DOCKER_DIR / "healthcheck.py"), "web"], env=web.env, capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_plain_http_is_redirected_to_https(web):
    status, headers, _ = request(web.port, "GET", "/accounts/login/", headers={"Host": DOMAIN})
    assert status == 301
    assert headers["Location"] == f"https://{DOMAIN}/accounts/login/"


def test_pages_behind_traefik_are_hardened_and_use_hashed_static_files(web):
    forwarded = {"Host": DOMAIN, "X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
    status, headers, body = request(web.port, "GET", "/accounts/login/", headers=forwarded)
    assert status == 200, body[:500]
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert headers["X-Frame-Options"] == "DENY"
    assert "Secure" in headers.get("Set-Cookie", "Secure"), "cookies must be Secure"
    stylesheets = re.findall(rb'href="(/static/[^"]+\.[0-9a-f]{12}\.css)"', body)
    assert stylesheets, "the page links no hashed (collectstatic manifest) stylesheet"
    status, headers, css = request(web.port, "GET", stylesheets[0].decode(), headers=forwarded)
    assert status == 200 and css
    assert "immutable" in headers["Cache-Control"]


def test_a_public_player_page_is_small_revalidated_and_its_assets_cached_forever(web):
    """A viewer's second visit costs one request (a 304); the assets, fingerprinted and compressed,
    none until the next deploy changes their names."""
    created = run_entrypoint(
        web.env,
        "manage",
        "shell",
        "-c",
        "from organizations.models import Organization; from rooms.services import create_room; "
        "o, _ = Organization.objects.get_or_create(slug='probe', defaults={'name': 'Probe'}); "
        "create_room(organization=o, public_id='probe-live', title='Probe') "
        "if not o.rooms.filter(public_id='probe-live').exists() else None",
    )
    assert created.returncode == 0, created.stderr[-2000:]
    forwarded = {"Host": DOMAIN, "X-Forwarded-Proto": "https", "Accept-Encoding": "gzip, br"}
    status, headers, body = request(web.port, "GET", "/watch/probe-live", headers=forwarded)
    assert status == 200, body[:500]
    assert len(body) < 10 * 1024, "the watch page's HTML is over 10 KB"
    status, _, again = request(
        web.port, "GET", "/watch/probe-live", headers={**forwarded, "If-None-Match": headers["ETag"]}
    )
    assert (status, again) == (304, b""), "a second view must be answered 304 without a body"
    assets = re.findall(rb'(?:src|href)="(/static/[^"]+)"', body)
    assert any(a.endswith(b".js") for a in assets) and any(a.endswith(b".css") for a in assets)
    for asset in assets:
        assert re.search(rb"\.[0-9a-f]{12}\.\w+$", asset), f"{asset!r} is not fingerprinted"
        status, asset_headers, content = request(web.port, "GET", asset.decode(), headers=forwarded)
        assert status == 200 and content
        cache_control = asset_headers["Cache-Control"]
        assert "immutable" in cache_control and "max-age=315360000" in cache_control, (asset, cache_control)
        if asset.endswith((b".js", b".css")):
            assert asset_headers.get("Content-Encoding") in ("gzip", "br"), f"{asset!r} is served uncompressed"


def test_the_api_host_is_served_too(web):
    forwarded = {"Host": f"api.{DOMAIN}", "X-Forwarded-Proto": "https"}
    status, _, _ = request(web.port, "GET", "/healthz", headers=forwarded)
    assert status == 200


def _admission_request(secret: str, stream: str = "no-such-room") -> tuple[bytes, str]:
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    body = json.dumps(
        {
            "client": {"address": "203.0.113.5", "port": 50000, "real_ip": "203.0.113.5"},
            "request": {
                "direction": "incoming",
                "protocol": "RTMP",
                "status": "opening",
                "time": now,
                "url": f"rtmp://{DOMAIN}:1935/app/{stream}",
            },
        },
        separators=(",", ":"),
    ).encode()
    signature = base64.urlsafe_b64encode(hmac.new(secret.encode(), body, hashlib.sha1).digest()).rstrip(b"=")
    return body, signature.decode()


def test_omes_webhooks_as_configured_reach_the_admission_view(web, stack, production_env):
    settings_seen = portal_settings(production_env)
    if settings_seen["admission_path"] is None:
        pytest.skip("the admission view (URL name ome_admission) is not in portal/urls.py yet")
    ome = ET.fromstring(render_ome(service_environment(stack, "ome")).stdout)
    hooks = ome.find("VirtualHosts/VirtualHost/AdmissionWebhooks")
    url = urlsplit(hooks.findtext("ControlServerUrl"))
    # OME calls http://web:8000/... over the internal network: that Host, plain HTTP, no redirect.
    body, signature = _admission_request(hooks.findtext("SecretKey"))
    status, _headers, answer = request(
        web.port,
        "POST",
        url.path,
        headers={"Host": url.netloc, "Content-Type": "application/json", "X-OME-Signature": signature},
        body=body,
    )
    assert status == 200, answer[:500]
    assert "allowed" in json.loads(answer)

    body, signature = _admission_request("a-wrong-secret")
    status, _, answer = request(
        web.port,
        "POST",
        url.path,
        headers={"Host": url.netloc, "Content-Type": "application/json", "X-OME-Signature": signature},
        body=body,
    )
    assert status == 403 and b"OME_WEBHOOK_SECRET" in answer


def test_metrics_add_up_every_gunicorn_worker_and_are_served_on_the_internal_network(web, production_env):
    status, _, answer = request(web.port, "GET", "/metrics", headers={"Host": "web"})
    assert status == 200, answer[:500]

    def decisions(text: bytes) -> float:
        return sum(
            float(line.rsplit(b" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(b"portal_admission_decisions_total{")
        )

    before = decisions(answer)
    secret = production_env["OME_WEBHOOK_SECRET"]
    for _ in range(12):  # several connections: gunicorn spreads them over its two workers
        body, signature = _admission_request(secret)
        headers = {"Host": "web", "Content-Type": "application/json", "X-OME-Signature": signature}
        assert request(web.port, "POST", "/ome/admission", headers=headers, body=body)[0] == 200
    status, headers, answer = request(web.port, "GET", "/metrics", headers={"Host": "web"})
    assert headers["Content-Type"].startswith("text/plain")
    assert decisions(answer) - before == 12, "a scrape must add up the counters of every gunicorn worker"
    assert b"portal_live_rooms " in answer and b"portal_queued_tasks " in answer


def test_the_worker_and_beat_health_checks_pass_on_running_processes(production_env, web, tmp_path):
    schedule = tmp_path / "celerybeat-schedule"
    env = {**production_env, "CELERY_CONCURRENCY": "1", "CELERY_BEAT_SCHEDULE_FILE": str(schedule)}
    worker = Server(env, "worker", "--without-gossip", "--without-mingle", log=tmp_path / "worker.log")
    beat = Server(env, "beat", log=tmp_path / "beat.log")
    try:
        checks = {"worker": None, "beat": None}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not all(
            result is not None and result.returncode == 0 for result in checks.values()
        ):
            for role in checks:
                if checks[role] is None or checks[role].returncode != 0:
                    checks[role] = subprocess.run(
                        ["python", str(DOCKER_DIR / "healthcheck.py"), role],
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=40,
                    )
            time.sleep(1)
        assert checks["worker"].returncode == 0, f"{checks['worker'].stdout}\n{worker.output()}"
        assert checks["beat"].returncode == 0, f"{checks['beat'].stdout}\n{beat.output()}"
    finally:
        # Leave no scheduled task behind in the shared Redis for other tests' workers.
        beat.stop()
        worker.stop()
        run_entrypoint(env, "celery", "-A", "portal", "purge", "--force", timeout=60)
    # A beat that stopped writing its schedule is reported, so swarm replaces it.
    old = time.time() - 3600
    for path in tmp_path.glob("celerybeat-schedule*"):
        os.utime(path, (old, old))
    stale = subprocess.run(
        ["python", str(DOCKER_DIR / "healthcheck.py"), "beat"], env=env, capture_output=True, text=True
    )
    assert stale.returncode == 1 and "last written" in stale.stdout
