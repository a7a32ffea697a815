"""Throughput and p99 latency of the admission webhook under concurrent load, against bare views.

Starts gunicorn with production-like settings (DEBUG off, persistent database connections,
Redis cache, the worker/thread counts of docker/entrypoint.sh) on PostgreSQL, seeds a public
and a private room, then fires signed OME requests at /ome/admission from many concurrent
clients, and the same number of requests at a bare Django view (and a bare view with one
indexed query) served by the same server. Prints requests/s, p50 and p99 for each, and the
webhook's ratio to the bare view. See bench/README.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/15 \
        .venv/bin/python bench/admission.py --requests 3000 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_SECRET = "bench-webhook-secret"


def server_environment(database_url: str, redis_url: str) -> dict[str, str]:
    # A fixed key (bench data only), so that the bench database can be reused between runs.
    key = base64.urlsafe_b64encode(hashlib.sha256(b"streaming-stack bench").digest()).decode()
    return dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="bench.settings",
        PYTHONPATH=str(ROOT),
        DEBUG="false",
        SECRET_KEY="bench-" + secrets.token_urlsafe(32),
        FIELD_ENCRYPTION_KEY=key,
        OME_WEBHOOK_SECRET=WEBHOOK_SECRET,
        OME_API_TOKEN="bench-ome-token",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CELERY_TASK_ALWAYS_EAGER="false",
        CONN_MAX_AGE="60",
        STATIC_MANIFEST="false",
        # Loopback HTTP, as OME calls the web service on the internal network.
        SECURE_SSL_REDIRECT="false",
        LOG_LEVEL="WARNING",
        ALLOWED_HOSTS="127.0.0.1,localhost",
    )


def ensure_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1].split("?")[0]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


@dataclass
class Fixtures:
    public_id: str
    private_id: str
    member_token: str


def seed() -> Fixtures:
    """Rooms and a member in the bench database (idempotent); runs in this process."""
    import django

    django.setup()
    from django.core.cache import cache

    from organizations.models import Membership, Organization, Role, User
    from rooms import credentials
    from rooms.models import LiveState, Room, Visibility, generate_stream_key

    organization, _ = Organization.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    user, _ = User.objects.get_or_create(email="bench@example.com")
    Membership.objects.get_or_create(user=user, organization=organization, defaults={"role": Role.STREAMER})
    rooms = {}
    for public_id, visibility in (("bench-public", Visibility.PUBLIC), ("bench-private", Visibility.PRIVATE)):
        room = Room.objects.filter(public_id=public_id).defer("stream_key").first() or Room(
            organization=organization, public_id=public_id, title=public_id
        )
        room.visibility = visibility
        room.live_state = LiveState.LIVE  # a second publisher is refused: no state changes under load
        room.set_stream_key(generate_stream_key())
        room.save()
        rooms[public_id] = room
    cache.clear()
    token = credentials.mint_playback_token(room_id=rooms["bench-private"].pk, user_id=user.pk)
    return Fixtures("bench-public", "bench-private", token)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def production_gunicorn(port: int, workers: int, threads: int) -> list[str]:
    """The web command of docker/entrypoint.sh, bound to loopback."""
    return [
        str(Path(sys.executable).parent / "gunicorn"),
        "portal.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--timeout",
        "30",
        "--graceful-timeout",
        "30",
        "--forwarded-allow-ips",
        "*",
        "--worker-tmp-dir",
        "/dev/shm",
        "--access-logfile",
        "-",
        "--access-logformat",
        '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"',
        "--logger-class",
        "portal.gunicorn_logger.Logger",
    ]


def start_gunicorn(env: dict[str, str], port: int, workers: int, threads: int) -> subprocess.Popen:
    command = production_gunicorn(port, workers, threads)
    # The access log goes where the stack's goes (stdout); here nobody reads it.
    process = subprocess.Popen(command, env=env, cwd=str(ROOT), stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not start within 30 s")


def signed(direction: str, status: str, protocol: str, url: str, port: int, new_url: str | None = None):
    request = {
        "direction": direction,
        "protocol": protocol,
        "status": status,
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "url": url,
    }
    if new_url:
        request["new_url"] = new_url
    body = json.dumps(
        {"client": {"address": "10.1.2.3", "port": port, "real_ip": "10.1.2.3"}, "request": request},
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    signature = base64.urlsafe_b64encode(hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha1).digest())
    return body, {"Content-Type": "application/json", "X-OME-Signature": signature.decode().rstrip("=")}


def scenarios(fixtures: Fixtures, count: int) -> dict[str, list[tuple[str, bytes, dict]]]:
    public_ws = f"ws://ome.internal:3333/app/{fixtures.public_id}"
    private_hls = f"http://ome.internal:3333/app/{fixtures.private_id}/llhls.m3u8?token={fixtures.member_token}"
    plays = []
    for index in range(count // 2):
        port = 20000 + index
        plays.append(("/ome/admission", *signed("outgoing", "opening", "WebRTC", public_ws, port)))
        plays.append(("/ome/admission", *signed("outgoing", "closing", "WebRTC", public_ws, port, public_ws)))
    empty = {"Content-Type": "application/json"}
    return {
        "bare Django view": [("/ome/bare", b"{}", empty)] * count,
        "bare view + 1 indexed query": [("/ome/bare-query", b"{}", empty)] * count,
        "webhook: public WebRTC play, opening+closing": plays,
        "webhook: private LL-HLS play, member token": [
            ("/ome/admission", *signed("outgoing", "opening", "LLHLS", private_hls, 30000 + i)) for i in range(count)
        ],
        "webhook: OBS publish refused (room live)": [
            ("/ome/admission", *signed("incoming", "opening", "RTMP", "rtmp://ome.internal:1935/app/sk-wrong", 40000))
        ]
        * count,
    }


async def run(base_url: str, requests: list[tuple[str, bytes, dict]], concurrency: int) -> tuple[float, list[float]]:
    import aiohttp

    queue = list(reversed(requests))
    latencies: list[float] = []
    failures: list[str] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            while queue:
                path, body, headers = queue.pop()
                started = time.perf_counter()
                async with session.post(base_url + path, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        failures.append(f"{path}: HTTP {response.status} {await response.text()}")
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return elapsed, latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="requests per scenario (default 3000)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("GUNICORN_WORKERS", 3)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("GUNICORN_THREADS", 4)))
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench")
    )
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"))
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        raise SystemExit("The benchmark runs on PostgreSQL: set DATABASE_URL=postgres://…")

    env = server_environment(args.database_url, args.redis_url)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    ensure_database(args.database_url)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], env=env, cwd=ROOT, check=True)
    fixtures = seed()

    port = free_port()
    server = start_gunicorn(env, port, args.workers, args.threads)
    base_url = f"http://127.0.0.1:{port}"
    results: dict[str, tuple[float, float, float]] = {}
    try:
        work = scenarios(fixtures, args.requests)
        asyncio.run(run(base_url, work["bare Django view"][:300], args.concurrency))  # warm up every thread
        asyncio.run(run(base_url, work["webhook: public WebRTC play, opening+closing"][:300], args.concurrency))
        for name, requests in scenarios(fixtures, args.requests).items():
            elapsed, latencies = asyncio.run(run(base_url, requests, args.concurrency))
            results[name] = (len(requests) / elapsed, statistics.median(latencies), percentile(latencies, 0.99))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(15)

    bare_rps, _, bare_p99 = results["bare Django view"]
    print(
        f"\ngunicorn {args.workers} workers x {args.threads} threads, PostgreSQL, Redis cache; "
        f"{args.requests} requests per scenario, {args.concurrency} concurrent clients, {os.cpu_count()} CPUs\n"
    )
    print(f"{'scenario':48} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'req/s vs bare':>14} {'p99 vs bare':>12}")
    for name, (rps, p50, p99) in results.items():
        print(f"{name:48} {rps:8.0f} {p50 * 1000:8.2f} {p99 * 1000:8.2f} {rps / bare_rps:14.2f} {p99 / bare_p99:12.2f}")


if __name__ == "__main__":
    main()
