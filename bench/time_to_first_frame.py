"""Time to first frame: a streamer presses Go live, how long until a viewer sees video?

Runs the local quick start's setup for real — the portal (runserver, SQLite, eager tasks), the
OME emulator with its admission webhook pointed at the portal, the reconcile loop — and drives
Debian's Chromium: the demo user publishes the fake camera from the publisher page while a
viewer waits on the watch page. Each run measures from the click on Go live to the first
decoded frame in the viewer's <video> (videoWidth > 0 and currentTime > 0), then stops and
waits for the room to go offline. Prints every run and the median.

    .venv/bin/python bench/time_to_first_frame.py --runs 5

--stream-delay is how long the emulator takes to make a browser-published stream playable; by
default the emulator's own default, a real OME 0.21's ~1.2 s (0.19 took about 5 s: it waited for
the publisher's first RTCP sender report; `--stream-delay 5` shows what that cost).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ome_emulator.settings import DEFAULT_WEBRTC_STREAM_DELAY  # noqa: E402
from ome_emulator.testing import EmulatorProcess  # noqa: E402
from tests.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

FIRST_FRAME = "() => { const v = document.querySelector('#player-root video'); return v && v.videoWidth > 0 && v.currentTime > 0; }"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def portal_environment(workdir: Path, port: int, ome: EmulatorProcess) -> dict[str, str]:
    return dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="portal.settings",
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}",
        REDIS_URL="",
        CELERY_TASK_ALWAYS_EAGER="true",
        DOMAIN=f"127.0.0.1:{port}",
        OME_API_URL=ome.api_url,
        OME_API_TOKEN=ome.token,
        OME_WEBHOOK_SECRET="bench-webhook-secret",
        OME_WEBRTC_URL=ome.signalling_url,
        OME_LLHLS_URL=ome.llhls_url,
        RECORDINGS_DIR=str(ome.recordings_dir),
        RECONCILE_SECONDS="1",
        LOG_LEVEL="WARNING",
    )


def wait_until_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def room_is(base: str, state: str) -> bool:
    return requests.get(f"{base}/watch/demo/status", timeout=2).json()["state"] == state


def stream_started_at(ome: EmulatorProcess, stream: str) -> float:
    """When the emulator last started serving `stream` (its "stream-started" event), epoch seconds."""
    from datetime import datetime

    events = [e for e in ome.state()["events"] if e["event"] == "stream-started" and e.get("stream") == stream]
    return datetime.fromisoformat(events[-1]["time"]).timestamp()


def room_live_at(database: Path) -> float:
    """When the portal last changed the demo room (its move to live, once the first frame shows)."""
    import sqlite3
    from datetime import datetime

    with sqlite3.connect(database) as connection:
        (updated,) = connection.execute("SELECT updated_at FROM rooms_room WHERE public_id = 'demo'").fetchone()
    moment = datetime.fromisoformat(updated)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def measure(base: str, runs: int, ome: EmulatorProcess, database: Path) -> tuple[list[float], list[float]]:
    from playwright.sync_api import sync_playwright

    results, after_playable = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        streamer = browser.new_context(permissions=["camera", "microphone"])
        publisher = streamer.new_page()
        publisher.goto(f"{base}/accounts/login/")
        publisher.fill("input[name=username]", "demo@example.com")
        publisher.fill("input[name=password]", "demo-password")
        publisher.click("button[type=submit]")
        publisher.wait_for_url("**/rooms/")
        for run in range(1, runs + 1):
            viewer_context = browser.new_context()
            viewer = viewer_context.new_page()
            viewer.goto(f"{base}/watch/demo")
            publisher.goto(f"{base}/rooms/demo/publish")
            publisher.wait_for_selector("[data-testid=go-live-button]:not([disabled])")
            started = time.monotonic()
            publisher.click("[data-testid=go-live-button]")
            viewer.wait_for_function(FIRST_FRAME, timeout=60_000, polling="raf")
            elapsed, frame_at = time.monotonic() - started, time.time()
            results.append(elapsed)
            served_at = stream_started_at(ome, "demo")
            after_playable.append(frame_at - served_at)
            print(
                f"  run {run}: first frame {elapsed:.2f} s after Go live, "
                f"{after_playable[-1]:.2f} s after OME could serve the stream "
                f"(the room last changed in the portal {room_live_at(database) - served_at:+.2f} s from then)",
                flush=True,
            )
            publisher.click("[data-testid=stop-button]")
            deadline = time.monotonic() + 30
            while not room_is(base, "offline"):
                if time.monotonic() > deadline:
                    raise RuntimeError("the room did not go offline after Stop")
                time.sleep(0.3)
            viewer_context.close()
        browser.close()
    return results, after_playable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--stream-delay",
        type=float,
        default=DEFAULT_WEBRTC_STREAM_DELAY,
        help=f"seconds before OME serves the stream (default {DEFAULT_WEBRTC_STREAM_DELAY:g}, OME 0.21's)",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-ttff-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ome = EmulatorProcess(
        token="bench-token",
        webhook_url=f"{base}/ome/admission",
        webhook_secret="bench-webhook-secret",
        recordings_dir=workdir / "recordings",
        webrtc_stream_delay=args.stream_delay,
    ).start()
    env = portal_environment(workdir, port, ome)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([*manage, "demo"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    processes = [
        subprocess.Popen([*manage, "runserver", "--noreload", f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([*manage, "reconcile", "--loop"], cwd=ROOT, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]  # fmt: skip
    try:
        wait_until_up(f"{base}/healthz")
        print(f"Time to first frame, OME stream delay {args.stream_delay:g} s, {args.runs} runs:")
        results, after_playable = measure(base, args.runs, ome, workdir / "bench.sqlite3")
        print(
            f"median {statistics.median(results):.2f} s, min {min(results):.2f} s, max {max(results):.2f} s "
            f"(stream delay {args.stream_delay:g} s); after OME could serve it: median "
            f"{statistics.median(after_playable):.2f} s, max {max(after_playable):.2f} s (target 0.5 s)"
        )
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        ome.stop()


if __name__ == "__main__":
    main()
