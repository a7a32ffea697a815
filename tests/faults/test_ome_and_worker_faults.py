"""OME down while pushes and recordings are started and stopped; the worker killed while a start
waits for its retry. Every request reaches OME once OME (or a new worker) is back, exactly once."""

from __future__ import annotations

import time

from .processes import FAST_TIMINGS, wait_until

BOUND = float(FAST_TIMINGS["REQUEST_REQUEUE_SECONDS"])


def _start_pushes(stack, team) -> list[int]:
    api = stack.api(team["token"])
    pushes = []
    for destination in team["destinations"]:
        response = api.post(f"{stack.web_url}/api/v1/destinations/{destination}/start-push/", timeout=15)
        assert response.status_code == 201, response.text[:300]
        pushes.append(response.json()["id"])
    return pushes


def _reached_ome(stack, team, pushes: list[int]) -> tuple[int, int]:
    """(requests that OME has, extra pushes OME has to the same destinations: duplicates)."""
    ome_ids = stack.push_ome_ids(pushes)
    listed = stack.ome_push_ids(f"{team['public_id']}-yt-")
    reached = sum(1 for push in pushes if ome_ids[push] in listed)
    return reached, len(listed) - reached


def test_pushes_and_a_recording_started_while_ome_is_down_reach_ome_once_it_is_back(stack, figures, request):
    team = stack.seed("ome-down-start", destinations=3)
    stack.ome.stop()
    pushes = _start_pushes(stack, team)
    recording = stack.api(team["token"]).post(
        f"{stack.web_url}/api/v1/rooms/{team['public_id']}/recordings/", json={}, timeout=15
    )
    assert recording.status_code == 201, recording.text[:300]
    time.sleep(3)  # the tasks retry meanwhile
    stack.ome.start()
    back = time.monotonic()
    wait_until(
        lambda: (
            _reached_ome(stack, team, pushes)[0] == len(pushes)
            and [r for r in stack.ome.records() if r["stream"]["name"] == team["public_id"]]
        ),
        timeout=BOUND + 10,
        what=lambda: f"the pushes and the recording to reach OME:\n{stack.worker.output()}",
    )
    took = time.monotonic() - back
    reached, extra = _reached_ome(stack, team, pushes)
    records = [r for r in stack.ome.records() if r["stream"]["name"] == team["public_id"]]
    states = stack.push_states(team["room"])
    assert set(states.values()) == {"starting"}, states
    assert len(records) == 1
    figures.record(
        request,
        fault="OME down during starts",
        injected=1,
        tried=len(pushes) + 1,
        lost=len(pushes) - reached,
        duplicated=extra,
        notes=f"all in OME {took:.1f} s after it was back",
    )
    assert extra == 0


def test_a_push_and_a_recording_stopped_while_ome_hangs_are_stopped_once_it_answers_again(stack, figures, request):
    team = stack.seed("ome-down-stop", destinations=1)
    stack.ome.publish(f"rtmp://127.0.0.1:1935/app/{team['stream_key']}")
    api = stack.api(team["token"])
    (push,) = _start_pushes(stack, team)
    recording = api.post(f"{stack.web_url}/api/v1/rooms/{team['public_id']}/recordings/", json={}, timeout=15).json()
    wait_until(
        lambda: (
            stack.ome.push_state(stack.push_ome_ids([push])[push]) == "pushing"
            and [r for r in stack.ome.records() if r["state"] == "recording"]
        ),
        timeout=20,
        what="the push and the recording to run",
    )
    # Retries wait longer than a reconcile pass, as in production (seconds to a minute vs 5 s).
    stack.new_worker(OME_RETRY_BASE_SECONDS="6", OME_RETRY_MAX_SECONDS="6", CELERY_VISIBILITY_TIMEOUT="10")
    stack.freeze_ome()  # OME hangs: its API times out, its media (the push, the record) goes on
    try:
        assert api.post(f"{stack.web_url}/api/v1/pushes/{push}/stop/", timeout=15).status_code == 200
        assert api.post(f"{stack.web_url}/api/v1/recordings/{recording['id']}/stop/", timeout=15).status_code == 200
        time.sleep(5)  # the stop tasks retry, the reconcile loop skips its passes
    finally:
        stack.thaw_ome()  # back, still pushing and recording: the stops must still reach it

    ome_push = stack.push_ome_ids([push])[push]
    ome_record = stack.sql("SELECT ome_id FROM recordings_recording WHERE id = %s", [recording["id"]])[0][0]

    def stopped():
        push_state = stack.sql("SELECT state FROM broadcasts_push WHERE id = %s", [push])[0][0]
        recording_state = stack.sql("SELECT state FROM recordings_recording WHERE id = %s", [recording["id"]])[0][0]
        ome_running = [p for p in stack.ome.pushes() if p["id"] == ome_push and p["state"] != "stopped"] + [
            r for r in stack.ome.records() if r["id"] == ome_record and r["state"] == "recording"
        ]
        return push_state == "stopped" and recording_state in ("finished", "error") and not ome_running

    def seen() -> str:
        rows = stack.sql("SELECT 'push', state FROM broadcasts_push WHERE id = %s", [push]) + stack.sql(
            "SELECT 'recording', state FROM recordings_recording WHERE id = %s", [recording["id"]]
        )
        return f"both stops to reach OME: portal {rows}, OME {stack.ome.pushes()} {stack.ome.records()}"

    wait_until(stopped, timeout=BOUND + 15, what=seen)
    # Stay stopped: no later pass of the loop brings either back.
    time.sleep(3)
    assert stopped(), "a stopped push or recording came back"
    figures.record(request, fault="OME hanging during stops", injected=1, tried=2, lost=0, duplicated=0)
    stack.new_worker()  # back to the stack's timings


def test_a_start_waiting_for_its_retry_when_the_worker_is_killed_reaches_ome_after_a_new_worker_starts(
    stack, figures, request
):
    team = stack.seed("worker-killed", destinations=2)
    stack.ome.stop()
    pushes = _start_pushes(stack, team)
    wait_until(
        lambda: stack.worker.output(20_000).count("Retry in") >= len(pushes),
        timeout=20,
        what="the start tasks to wait for their retry",
    )
    stack.worker.kill()  # SIGKILL to the worker's process group, its retries held in memory
    stack.ome.start()
    stack.new_worker()
    started = time.monotonic()
    wait_until(
        lambda: _reached_ome(stack, team, pushes)[0] == len(pushes),
        timeout=BOUND + 10,
        what=lambda: f"the pushes to reach OME within the bound:\n{stack.worker.output()}",
    )
    took = time.monotonic() - started
    time.sleep(float(FAST_TIMINGS["CELERY_VISIBILITY_TIMEOUT"]) + 2)  # a late redelivery would show now
    reached, extra = _reached_ome(stack, team, pushes)
    assert set(stack.push_states(team["room"]).values()) == {"starting"}
    figures.record(
        request,
        fault="worker SIGKILLed during a retry wait",
        injected=1,
        tried=len(pushes),
        lost=len(pushes) - reached,
        duplicated=extra,
        notes=f"in OME {took:.1f} s after the new worker started (bound {BOUND:.0f} s)",
    )
    assert took <= BOUND and extra == 0
