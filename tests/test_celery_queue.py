"""Pushes through a real Celery worker on Redis: queued on commit, carried out by the worker,
and not lost when OME is down for a while."""

import pytest

from broadcasts import services
from broadcasts.models import Destination, Platform, Push, PushState
from ome.reconcile import reconcile

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def destination(room):
    return Destination.objects.create(
        room=room, name="Sink", platform=Platform.CUSTOM, url="rtmp://127.0.0.1:19352/live", stream_key="k"
    )


@pytest.fixture
def patient_retries(settings):
    """Keep retrying for about half a minute (set before the worker starts: it reads them once)."""
    settings.OME_RETRY_MAX_ATTEMPTS = 40
    settings.OME_RETRY_MAX_SECONDS = 1


def _state(push) -> str:
    push.refresh_from_db()
    return push.state


def test_a_push_request_is_carried_out_by_the_worker(portal_ome, destination, celery_worker):
    push = services.start_push(destination=destination)
    assert push.state == PushState.REQUESTED, "the request is stored first; the worker tells OME"
    portal_ome.wait_for(lambda: portal_ome.pushes(), timeout=20, what=f"the worker:\n{celery_worker.log_tail()}")
    assert portal_ome.pushes()[0]["id"] == push.ome_id
    portal_ome.wait_for(lambda: _state(push) == PushState.STARTING, what="the worker to record OME's answer")


def test_a_push_requested_while_ome_is_down_ends_pushing_when_it_is_back(
    portal_ome, destination, patient_retries, celery_worker
):
    portal_ome.stop()
    push = services.start_push(destination=destination)
    portal_ome.wait_for(lambda: "Retry in" in celery_worker.log.read_text(), timeout=20, what="the worker to back off")
    assert _state(push) == PushState.REQUESTED, "still wanted while OME is away"
    portal_ome.start()  # same ports, empty memory: like an OME restart
    portal_ome.publish("rtmp://127.0.0.1:1935/app/acme-live")

    def pushing():
        reconcile()
        return _state(push) == PushState.PUSHING

    portal_ome.wait_for(pushing, timeout=30, interval=0.5, what=f"pushing:\n{celery_worker.log_tail()}")
    assert [p["id"] for p in portal_ome.pushes()] == [push.ome_id]
    assert Push.objects.count() == 1
