"""/metrics: what an operator's Prometheus scrapes, in its text format, and who may scrape it."""

from __future__ import annotations

import os
import socket
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from broadcasts.models import Destination, Push, PushState
from ome.client import OmeClient, OmeUnavailable
from rooms.models import LiveState

from .admission_helpers import play, publish, rtmp_url
from .factories import RoomFactory


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=")
    return samples(response.content.decode())


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_need_the_token_when_one_is_configured(client, db, settings):
    settings.METRICS_TOKEN = "scrape-secret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200


def test_live_rooms_viewers_pushes_and_recordings_are_reported_by_state(client, room, team):
    other = RoomFactory(organization=team.organization, live_state=LiveState.LIVE, viewer_count=7)
    room.live_state, room.viewer_count = LiveState.STARTING, 0
    room.save()
    destination = Destination.objects.create(room=room, name="YT", platform="youtube", stream_key="k")
    Push.objects.create(room=room, destination=destination, stream_name="x_rtmp", url="rtmp://a/b", state="pushing")
    Push.objects.create(room=other, stream_name="y_rtmp", url="rtmp://a/b", state=PushState.ERROR)

    found = scrape(client)
    assert value(found, "portal_live_rooms") == 2
    assert value(found, "portal_viewers") == 7
    assert value(found, "portal_rooms", state="live") == 1
    assert value(found, "portal_rooms", state="starting") == 1
    assert value(found, "portal_pushes", state="pushing") == 1
    assert value(found, "portal_pushes", state="error") == 1
    assert value(found, "portal_pushes", state="stopped") == 0, "every state is listed, zero included"
    assert value(found, "portal_recordings", state="recording") == 0
    assert value(found, "portal_broker_up") == 1, "the test Redis answers"


def test_admission_decisions_are_counted_by_outcome_with_their_latency(client, room):
    before = scrape(client)
    assert play(client, f"ws://ome:3333/app/{room.public_id}").json()["allowed"] is True
    assert play(client, "ws://ome:3333/app/no-such-room").json()["allowed"] is False
    publish(client, rtmp_url("not-a-key"))
    client.post("/ome/admission", data=b"{}", content_type="application/json", HTTP_X_OME_SIGNATURE="forged")
    after = scrape(client)

    def delta(**labels):
        return value(after, "portal_admission_decisions_total", **labels) - value(
            before, "portal_admission_decisions_total", **labels
        )

    assert delta(direction="outgoing", outcome="allowed") == 1
    assert delta(direction="outgoing", outcome="refused") == 1
    assert delta(direction="incoming", outcome="refused") == 1
    assert delta(direction="unknown", outcome="bad_signature") == 1
    assert value(after, "portal_admission_seconds_count") - value(before, "portal_admission_seconds_count") == 4


def test_failed_ome_calls_are_counted_by_operation_and_kind(client, db):
    before = scrape(client)
    with pytest.raises(OmeUnavailable):
        OmeClient("http://127.0.0.1:9", "token", timeout=0.5).list_streams()
    after = scrape(client)
    errors = dict(operation="list_streams", kind="unavailable")
    assert (
        value(after, "portal_ome_call_errors_total", **errors) - value(before, "portal_ome_call_errors_total", **errors)
        == 1
    )
    calls = dict(operation="list_streams")
    assert (
        value(after, "portal_ome_call_seconds_count", **calls) - value(before, "portal_ome_call_seconds_count", **calls)
        == 1
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def worker_with_metrics(request, monkeypatch, tmp_path):
    port = _free_port()
    monkeypatch.setenv("METRICS_PORT", str(port))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    worker = request.getfixturevalue("celery_worker")
    worker.metrics_url = f"http://127.0.0.1:{port}/metrics"
    return worker


@pytest.mark.django_db(transaction=True)
def test_a_worker_serves_its_task_retries_and_ome_errors(worker_with_metrics, room, team):
    """OME is down (nothing listens at the test's OME_API_URL): the start task retries."""
    from broadcasts import services

    destination = services.add_destination(room=room, name="YT", platform="youtube", stream_key="k")
    services.start_push(destination=destination)
    deadline = time.monotonic() + 30
    found: dict = {}
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(worker_with_metrics.metrics_url, timeout=5) as response:
                found = samples(response.read().decode())
        except OSError:
            found = {}
        if value(found, "portal_task_retries_total", task="broadcasts.tasks.start_push_task") >= 1:
            break
        time.sleep(0.3)
    assert value(found, "portal_task_retries_total", task="broadcasts.tasks.start_push_task") >= 1, (
        f"no retry counted by the worker:\n{worker_with_metrics.log_tail()}"
    )
    assert value(found, "portal_ome_call_errors_total", operation="startPush", kind="unavailable") >= 1
    assert os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]), "the worker's processes share their counters"
