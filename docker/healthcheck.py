"""Container health checks of the portal image (`python docker/healthcheck.py web|worker|beat`).

Exit 0 when healthy, 1 otherwise, with one line saying why: Docker shows it in
`docker inspect` and swarm replaces a task whose checks keep failing.

- web: GET /healthz on the local gunicorn. 200 means the database answers: healthy, even when the
  cache or the broker is down (the body says "degraded", printed here for `docker inspect`); web
  keeps serving what does not need Redis, and replacing it would not bring Redis back.
- worker: the local Celery worker answers a ping through the broker.
- beat: the beat schedule file was written recently (beat rewrites it every few minutes
  while it keeps sending the reconcile task).
"""

from __future__ import annotations

import glob
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def check_web() -> str | None:
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            if response.status != 200:
                return f"{url} answered {response.status}"
            body = response.read(2000).decode(errors="replace")
    except urllib.error.HTTPError as error:
        return f"{url} answered {error.code}: {error.read(300).decode(errors='replace').strip()}"
    except OSError as error:
        return f"{url} is unreachable: {error}"
    try:
        report = json.loads(body)
    except ValueError:
        return None
    if report.get("status") == "degraded":
        failing = {name: state for name, state in report.get("checks", {}).items() if state != "ok"}
        print(f"degraded: {failing}")
    return None


def check_worker() -> str | None:
    node = f"celery@{socket.gethostname()}"
    result = subprocess.run(
        ["celery", "-A", "portal", "inspect", "ping", "--destination", node, "--timeout", "10"],
        capture_output=True,
        text=True,
        timeout=25,
    )
    if result.returncode == 0 and "pong" in result.stdout:
        return None
    return f"{node} did not answer a ping: {(result.stdout + result.stderr).strip()[-300:]}"


def check_beat(max_age: float = 600.0) -> str | None:
    schedule = os.environ.get("CELERY_BEAT_SCHEDULE_FILE", "/tmp/celerybeat-schedule")
    files = glob.glob(glob.escape(schedule) + "*")
    if not files:
        return f"no beat schedule file at {schedule}* yet"
    age = time.time() - max(os.path.getmtime(path) for path in files)
    if age > max_age:
        return f"the beat schedule was last written {age:.0f} s ago"
    return None


CHECKS = {"web": check_web, "worker": check_worker, "beat": check_beat}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in CHECKS:
        print(f"usage: healthcheck.py {'|'.join(CHECKS)}", file=sys.stderr)
        return 2
    problem = CHECKS[argv[1]]()
    if problem:
        print(f"unhealthy: {problem}")
        return 1
    print("healthy")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
