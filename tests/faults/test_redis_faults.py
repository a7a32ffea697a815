"""Redis (cache and queue) stopped under the running portal: the user pressing Start gets a clear
answer and the restream still happens; OME's webhook keeps admitting from the database; the API
answers JSON 503; /healthz says degraded; the worker and beat are still there afterwards."""

from __future__ import annotations

import subprocess
import sys
import time

import requests

from ..deploy.stackfile import REPO
from .processes import FAST_TIMINGS, wait_until

BOUND = float(FAST_TIMINGS["REQUEST_REQUEUE_SECONDS"])


def test_start_pressed_while_redis_is_down_is_answered_in_words_and_carried_out_once_redis_is_back(
    stack, figures, request
):
    team = stack.seed("redis-down-start", destinations=2)
    browser = stack.browser(team["email"])  # signed in before the outage
    page_destination, api_destination = team["destinations"]
    stack.redis.stop()
    try:
        pressed = stack.post_form(browser, f"/rooms/{team['public_id']}/restream/destinations/{page_destination}/start")
        assert pressed.status_code == 302, f"the page answered {pressed.status_code}:\n{pressed.text[:500]}"
        room_page = browser.get(stack.web_url + pressed.headers["Location"], timeout=15)
        assert room_page.status_code == 200
        assert "The task queue is unavailable right now, so this waits" in room_page.text
        # The API refuses instead (its rate limit lives in Redis): nothing is stored, try again later.
        refused = stack.api(team["token"]).post(
            f"{stack.web_url}/api/v1/destinations/{api_destination}/start-push/", timeout=15
        )
        assert refused.status_code == 503 and int(refused.headers["Retry-After"]) > 0
        assert "detail" in refused.json()
        stored = stack.push_states(team["room"])
        assert list(stored.values()) == ["requested"], f"exactly the page's request is stored: {stored}"
        time.sleep(2)
    finally:
        stack.redis.start()  # empty: whatever was queued before is gone
    back = time.monotonic()
    (push,) = stored
    ome_id = stack.push_ome_ids([push])[push]
    wait_until(
        lambda: ome_id in stack.ome_push_ids(),
        timeout=BOUND + 10,
        what=lambda: f"the stored start to reach OME once Redis is back:\n{stack.worker.output()}",
    )
    took = time.monotonic() - back
    time.sleep(2)  # a second copy of the start would show now
    duplicated = len(stack.ome_push_ids(f"{team['public_id']}-yt-")) - 1
    retried = stack.api(team["token"]).post(
        f"{stack.web_url}/api/v1/destinations/{api_destination}/start-push/", timeout=15
    )
    assert retried.status_code == 201, retried.text[:300]
    figures.record(
        request,
        fault="Redis down when Start is pressed",
        injected=1,
        tried=2,
        lost=0,
        duplicated=duplicated,
        notes=f"page: stored, in OME {took:.1f} s after Redis was back (bound {BOUND:.0f} s); API: 503, retried: 201",
    )
    assert took <= BOUND + 2 and duplicated == 0


def test_redis_stopped_and_restarted_under_web_worker_and_beat(stack, figures, request):
    live = stack.seed("redis-down-live")
    late = stack.seed("redis-down-late", destinations=1)
    stack.ome.publish(f"rtmp://127.0.0.1:1935/app/{live['stream_key']}")
    wait_until(
        lambda: stack.sql("SELECT live_state FROM rooms_room WHERE id = %s", [live["room"]])[0][0] == "live",
        timeout=20,
        what="the first room to be live",
    )
    # A task waits for its retry in the worker, as while OME is down: Redis going away must not kill it.
    stack.manage_python(
        "import django; django.setup(); from broadcasts.tasks import start_push_task; "
        "start_push_task.apply_async((0,), countdown=30)"
    )
    wait_until(lambda: "received" in stack.worker.output(5000), timeout=15, what="the worker to hold the task")
    stack.redis.stop()
    viewers_tried = viewers_admitted = 0
    try:
        for port in range(40000, 40010):
            viewers_tried += 1
            answer = stack.ome.play(
                f"ws://127.0.0.1:3333/app/{live['public_id']}", client={"address": "203.0.113.9", "port": port},
                expect=None,
            )  # fmt: skip
            viewers_admitted += bool(answer.get("allowed")) if isinstance(answer, dict) else 0
        publisher = stack.ome.publish(f"rtmp://127.0.0.1:1935/app/{late['stream_key']}", expect=None)
        assert not (isinstance(publisher, dict) and publisher.get("allowed") is False), (
            f"OBS was refused while Redis was down: {publisher}"
        )
        assert late["public_id"] in [stream["name"] for stream in stack.ome.state()["streams"]]

        api = stack.api(live["token"]).get(f"{stack.web_url}/api/v1/rooms/", timeout=15)
        assert api.status_code == 503 and api.headers["Content-Type"].startswith("application/json")
        assert int(api.headers["Retry-After"]) > 0
        compat = requests.get(
            f"{stack.web_url}/v1/vhosts/default/apps/app/streams", headers=stack.compat_auth(live["token"]), timeout=15
        )
        assert compat.status_code == 503 and compat.json()["statusCode"] == 503
        health = requests.get(f"{stack.web_url}/healthz", timeout=15)
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "degraded" and body["checks"]["database"] == "ok"
        assert body["checks"]["cache"].startswith("unavailable") and body["checks"]["broker"].startswith("unavailable")
        # The container health check keeps web in service, and says why it is degraded.
        check = subprocess.run(
            [sys.executable, str(REPO / "docker" / "healthcheck.py"), "web"],
            env={**stack.env, "PORT": str(stack.web_port)}, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert check.returncode == 0 and "degraded" in check.stdout and "cache" in check.stdout, check.stdout
        time.sleep(3)
    finally:
        stack.redis.start()
    assert viewers_admitted == viewers_tried, f"{viewers_tried - viewers_admitted} viewer(s) refused"
    time.sleep(3)
    for process in (stack.web, stack.worker, stack.beat):
        assert process.alive, f"{process.role} did not survive the Redis outage:\n{process.output()}"
    # Carrying on: beat's reconcile pass takes the room published during the outage live (its
    # go-live could not be queued), and a new start goes through the worker to OME.
    wait_until(
        lambda: stack.sql("SELECT live_state FROM rooms_room WHERE id = %s", [late["room"]])[0][0] == "live",
        timeout=20,
        what=lambda: f"beat and the worker to take the late room live:\n{stack.beat.output()}\n{stack.worker.output()}",
    )
    started = stack.api(late["token"]).post(
        f"{stack.web_url}/api/v1/destinations/{late['destinations'][0]}/start-push/", timeout=15
    )
    assert started.status_code == 201
    push = started.json()["id"]
    ome_id = stack.push_ome_ids([push])[push]
    wait_until(lambda: ome_id in stack.ome_push_ids(), timeout=20, what="a new start to reach OME")
    health = requests.get(f"{stack.web_url}/healthz", timeout=15).json()
    assert health["status"] == "ok", health
    figures.record(
        request,
        fault="Redis stopped and restarted under web, worker, beat",
        injected=1,
        tried=viewers_tried + 1 + 1,
        lost=viewers_tried - viewers_admitted,
        duplicated=0,
        notes=f"{viewers_admitted}/{viewers_tried} viewers and 1/1 OBS publisher admitted during the outage; "
        "API 503 + Retry-After; healthz 200 degraded; worker and beat alive",
    )
