"""Signed outgoing webhooks, against a real HTTP receiver on loopback: what arrives, its
signature, retries after errors and timeouts, disabling an endpoint that keeps failing, and
that an organization's events reach only its own endpoints."""

from __future__ import annotations

import json
import time

import pytest
from django.core import mail
from django.utils import timezone

from broadcasts import outcomes as push_outcomes
from broadcasts.models import Destination, Platform, Push, PushState
from recordings import outcomes as recording_outcomes
from recordings.models import Recording, RecordingState
from rooms import services as room_services
from webhooks import delivery, services
from webhooks.models import Delivery, DeliveryState, Endpoint, Event
from webhooks.signing import verify
from webhooks.tasks import send_due_deliveries


@pytest.fixture(autouse=True)
def _quick_webhooks(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBHOOK_TIMEOUT_SECONDS = 1.0
    settings.WEBHOOK_RETRY_BASE_SECONDS = 60.0  # tests move time on by making deliveries due


def _endpoint(organization, url, events=(Event.ROOM_LIVE, Event.ROOM_OFFLINE)) -> tuple[Endpoint, str]:
    return services.create_endpoint(organization=organization, url=url, events=list(events))


def _go_live(room, capture):
    with capture(execute=True):
        room_services.go_live(room_id=room.pk, protocol="rtmp", confirmed=True)


def _make_due() -> None:
    """Time passes: every pending delivery's next try has come."""
    Delivery.objects.filter(state=DeliveryState.PENDING).update(next_attempt_at=timezone.now())


def test_a_room_going_live_is_posted_signed_with_the_endpoints_secret(
    room, receiver, django_capture_on_commit_callbacks
):
    endpoint, secret = _endpoint(room.organization, receiver.url)
    _go_live(room, django_capture_on_commit_callbacks)

    [request] = receiver.wait_for(1)
    assert verify(
        secret=secret, header=request.headers["x-streamingstack-signature"], body=request.body, now=int(time.time())
    )
    assert not verify(
        secret="whsec_someone-else",
        header=request.headers["x-streamingstack-signature"],
        body=request.body,
        now=int(time.time()),
    )
    assert not verify(
        secret=secret,
        header=request.headers["x-streamingstack-signature"],
        body=request.body,
        now=int(time.time()) + 3600,
    ), "an old delivery replayed later must be refused"
    event = json.loads(request.body)
    assert event["type"] == "room.live"
    assert event["organization"] == room.organization.slug
    # the room as the API shows it
    assert event["data"]["id"] == "acme-live" and event["data"]["state"] == "live"
    assert event["data"]["watch_url"].endswith("/watch/acme-live")
    assert request.headers["x-streamingstack-event"] == "room.live"
    assert request.headers["x-streamingstack-delivery"] == event["id"]
    sent = Delivery.objects.get()
    assert (sent.state, sent.attempts, sent.last_status_code) == (DeliveryState.SUCCEEDED, 1, 200)
    assert sent.last_latency_ms is not None and str(sent.event_id) == event["id"]
    assert endpoint.signing_secret == secret


def test_the_signing_secret_is_stored_encrypted(room, receiver):
    from django.db import connection

    endpoint, secret = _endpoint(room.organization, receiver.url)
    with connection.cursor() as cursor:
        cursor.execute("SELECT signing_secret FROM webhooks_endpoint WHERE id = %s", [endpoint.pk])
        stored = cursor.fetchone()[0]
    assert secret not in stored


def test_a_delivery_answered_500_is_tried_again_with_the_same_event_and_body(
    room, receiver, django_capture_on_commit_callbacks
):
    _endpoint(room.organization, receiver.url)
    receiver.answer(500)
    _go_live(room, django_capture_on_commit_callbacks)

    failed_once = Delivery.objects.get()
    assert (failed_once.state, failed_once.attempts, failed_once.last_status_code) == (DeliveryState.PENDING, 1, 500)
    assert failed_once.next_attempt_at > timezone.now() + timezone.timedelta(seconds=30), "backoff before the next try"
    assert send_due_deliveries() == 0, "nothing is sent again before its time"

    _make_due()
    send_due_deliveries()
    first, second = receiver.wait_for(2)
    assert first.body == second.body
    delivered = Delivery.objects.get()
    assert (delivered.state, delivered.attempts, delivered.last_status_code) == (DeliveryState.SUCCEEDED, 2, 200)


def test_an_endpoint_that_does_not_answer_in_time_is_tried_again(
    settings, room, receiver, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    _endpoint(room.organization, receiver.url)
    receiver.answer(("sleep", 2))
    _go_live(room, django_capture_on_commit_callbacks)

    timed_out = Delivery.objects.get()
    assert timed_out.state == DeliveryState.PENDING and timed_out.last_status_code is None
    assert "No answer within 0.5 seconds" in timed_out.last_error
    _make_due()
    send_due_deliveries()
    assert Delivery.objects.get().state == DeliveryState.SUCCEEDED


def test_the_backoff_doubles_and_lasts_about_a_day(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30.0
    waits = [delivery.retry_delay(n) / 0.95 for n in range(1, settings.WEBHOOK_MAX_ATTEMPTS)]
    assert waits[0] == pytest.approx(30, rel=0.06) and waits[1] == pytest.approx(60, rel=0.06)
    assert 20 * 3600 < sum(waits) < 30 * 3600


def test_a_delivery_gives_up_after_the_last_try(settings, room, receiver, django_capture_on_commit_callbacks):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    _endpoint(room.organization, receiver.url)
    receiver.default = 503
    _go_live(room, django_capture_on_commit_callbacks)
    _make_due()
    send_due_deliveries()
    given_up = Delivery.objects.get()
    assert (given_up.state, given_up.attempts, given_up.last_status_code) == (DeliveryState.FAILED, 2, 503)


def test_an_endpoint_that_keeps_failing_is_disabled_and_the_owners_are_emailed(
    settings, team, room, receiver, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    settings.WEBHOOK_DISABLE_AFTER_SECONDS = 0
    endpoint, _secret = _endpoint(room.organization, receiver.url)
    receiver.default = 500
    _go_live(room, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        room_services.go_offline(room_id=room.pk)
    assert len(receiver.received) == 2
    _make_due()
    with django_capture_on_commit_callbacks(execute=True):
        send_due_deliveries()  # the third failed try in a row

    endpoint.refresh_from_db()
    assert not endpoint.enabled and "3 failed tries in a row" in endpoint.disabled_reason
    assert not Delivery.objects.filter(state=DeliveryState.PENDING).exists(), "nothing waits for a disabled endpoint"
    [email] = mail.outbox
    assert email.to == [team.owner.email]
    assert endpoint.url in email.body and f"/webhooks/{endpoint.pk}/" in email.body
    sent_before = len(receiver.received)
    room_services.go_live(room_id=room.pk, confirmed=True)
    assert len(receiver.received) == sent_before, "a disabled endpoint gets nothing"

    services.update_endpoint(endpoint=endpoint, enabled=True)
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.failure_streak == 0 and not endpoint.disabled_reason


def test_one_success_ends_a_failure_streak(settings, room, receiver, django_capture_on_commit_callbacks):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 2
    settings.WEBHOOK_DISABLE_AFTER_SECONDS = 0
    endpoint, _secret = _endpoint(room.organization, receiver.url)
    receiver.answer(500, 200, 500)
    _go_live(room, django_capture_on_commit_callbacks)
    _make_due()
    send_due_deliveries()
    with django_capture_on_commit_callbacks(execute=True):
        room_services.go_offline(room_id=room.pk)
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.failure_streak == 1


def test_another_organizations_events_never_reach_an_endpoint(
    room, other_room, receiver, second_receiver, django_capture_on_commit_callbacks
):
    _endpoint(room.organization, receiver.url)
    _endpoint(other_room.organization, second_receiver.url)
    _go_live(other_room, django_capture_on_commit_callbacks)
    second_receiver.wait_for(1)
    assert receiver.received == []
    assert json.loads(second_receiver.received[0].body)["data"]["id"] == "globex-live"


def test_an_endpoint_gets_only_the_events_it_asked_for(room, receiver, django_capture_on_commit_callbacks):
    _endpoint(room.organization, receiver.url, events=[Event.ROOM_OFFLINE])
    _go_live(room, django_capture_on_commit_callbacks)
    assert receiver.received == []
    with django_capture_on_commit_callbacks(execute=True):
        room_services.go_offline(room_id=room.pk)
    [request] = receiver.wait_for(1)
    assert json.loads(request.body)["type"] == "room.offline"


def test_a_publish_that_never_became_watchable_sends_neither_live_nor_offline(
    room, receiver, django_capture_on_commit_callbacks
):
    _endpoint(room.organization, receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        room_services.go_live(room_id=room.pk, protocol="webrtc")  # starting: OME never listed it
        room_services.go_offline(room_id=room.pk)
    assert receiver.received == []


def test_a_room_back_from_reconnecting_is_not_announced_live_twice(room, receiver, django_capture_on_commit_callbacks):
    _endpoint(room.organization, receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        room_services.go_live(room_id=room.pk, confirmed=True)
        room_services.stream_lost(room_id=room.pk)
        room_services.go_live(room_id=room.pk, confirmed=True)
    assert [json.loads(r.body)["type"] for r in receiver.received] == ["room.live"]


def test_push_and_recording_changes_are_events(room, receiver, django_capture_on_commit_callbacks):
    _endpoint(
        room.organization,
        receiver.url,
        events=[
            Event.PUSH_STARTED,
            Event.PUSH_FAILED,
            Event.PUSH_STOPPED,
            Event.RECORDING_READY,
            Event.RECORDING_FAILED,
        ],
    )
    destination = Destination.objects.create(
        room=room, name="Sink", platform=Platform.CUSTOM, url="rtmp://127.0.0.1:19352/live", stream_key="k-123456"
    )
    failing = Push.objects.create(
        room=room, destination=destination, stream_name="x", url=destination.url, state=PushState.STARTING
    )
    stopping = Push.objects.create(
        room=room, stream_name="y", url=destination.url, stream_key="k-123456", state=PushState.STOPPING
    )
    recording = Recording.objects.create(room=room, state=RecordingState.RECORDING)
    uploaded = Recording.objects.create(room=room, state=RecordingState.UPLOADING, file_path="/org/r/rec.mp4")
    with django_capture_on_commit_callbacks(execute=True):
        push_outcomes.push_failed(push_id=failing.pk, message="refused")
        push_outcomes.push_failed(push_id=failing.pk, message="refused again")  # failed already: no second event
        push_outcomes.push_stopped(push_id=stopping.pk)
        recording_outcomes.recording_failed(recording_id=recording.pk, message="no disk")
        recording_outcomes.recording_uploaded(
            recording_id=uploaded.pk, storage_key="k", size_bytes=10, checksum_sha256=""
        )
    events = [json.loads(r.body) for r in receiver.received]
    assert [(e["type"], e["data"]["id"]) for e in events] == [
        ("push.failed", failing.pk),
        ("push.stopped", stopping.pk),
        ("recording.failed", recording.pk),
        ("recording.ready", uploaded.pk),
    ]
    assert events[1]["data"]["stream_key_masked"].startswith("••"), "the push as the API shows it: its key masked"
    assert all("k-123456" not in r.body.decode() for r in receiver.received)
    assert events[3]["data"]["state"] == "finished"


def test_a_private_address_is_refused_when_saving_and_again_before_sending(
    settings, room, receiver, django_capture_on_commit_callbacks
):
    from django.core.exceptions import ValidationError

    settings.OUTBOUND_ALLOWED_HOSTS = []
    with pytest.raises(ValidationError) as refused:
        _endpoint(room.organization, receiver.url)
    assert "private network" in str(refused.value)
    assert not Endpoint.objects.exists()

    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    _endpoint(room.organization, receiver.url)
    settings.OUTBOUND_ALLOWED_HOSTS = []  # the operator withdrew the exception
    _go_live(room, django_capture_on_commit_callbacks)
    assert receiver.received == []
    refused_delivery = Delivery.objects.get()
    assert refused_delivery.last_error.startswith("Not sent:") and refused_delivery.state == DeliveryState.PENDING


def test_a_delivery_whose_message_was_lost_is_sent_by_the_sweep(room, receiver):
    endpoint, _secret = _endpoint(room.organization, receiver.url)
    # Stored in the transaction of the change, but its message never reached a worker (Redis was down).
    services.record_event(organization_id=room.organization_id, event_type=Event.ROOM_LIVE, obj=room)
    assert receiver.received == []
    assert send_due_deliveries() == 1
    receiver.wait_for(1)
    assert Delivery.objects.get(endpoint=endpoint).state == DeliveryState.SUCCEEDED


def test_sending_a_delivery_twice_posts_it_once(room, receiver):
    _endpoint(room.organization, receiver.url)
    [pending] = services.record_event(organization_id=room.organization_id, event_type=Event.ROOM_LIVE, obj=room)
    delivery.send(pending.pk)
    delivery.send(pending.pk)
    assert len(receiver.received) == 1


def test_a_resend_posts_the_same_event_again(room, receiver, django_capture_on_commit_callbacks):
    _endpoint(room.organization, receiver.url)
    _go_live(room, django_capture_on_commit_callbacks)
    sent = Delivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        services.resend_delivery(delivery=sent)
    first, second = receiver.wait_for(2)
    assert first.body == second.body
    assert Delivery.objects.get().attempts == 2


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_and_retries_after_an_error(celery_worker, settings, receiver):
    """Through Redis and a real worker: the row is stored first, the worker posts it, retries it
    after a 500 (a short backoff is queued with a countdown) and records the outcome."""
    from .conftest import make_team
    from .factories import RoomFactory

    team = make_team("Queue")
    room = RoomFactory(organization=team.organization, public_id="queue-room")
    # the worker reads its settings from the environment: a quick backoff there too
    celery_worker.stop()
    celery_worker.env.update(
        OUTBOUND_ALLOWED_HOSTS="127.0.0.1", WEBHOOK_RETRY_BASE_SECONDS="0.3", WEBHOOK_TIMEOUT_SECONDS="2"
    )
    celery_worker.start()
    _endpoint(team.organization, receiver.url)
    receiver.answer(500)
    room_services.go_live(room_id=room.pk, confirmed=True)
    receiver.wait_for(2, timeout=20)
    deadline = time.monotonic() + 10
    while Delivery.objects.get().state != DeliveryState.SUCCEEDED:
        assert time.monotonic() < deadline, celery_worker.log_tail()
        time.sleep(0.1)
    assert Delivery.objects.get().attempts == 2


def test_the_readmes_verification_example_accepts_our_deliveries_and_refuses_tampered_ones(
    room, receiver, django_capture_on_commit_callbacks
):
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("#### Webhooks") :]
    example = section[
        section.index("```python") + len("```python") : section.index("```", section.index("```python") + 9)
    ]
    namespace: dict = {}
    exec(example, namespace)
    _endpoint_and_secret = _endpoint(room.organization, receiver.url)
    _go_live(room, django_capture_on_commit_callbacks)
    [request] = receiver.wait_for(1)
    header = request.headers["x-streamingstack-signature"]
    secret = _endpoint_and_secret[1]
    assert namespace["verify"](secret, header, request.body)
    assert not namespace["verify"](secret, header, request.body.replace(b"live", b"gone"))
    assert not namespace["verify"]("whsec_wrong", header, request.body)


def test_a_push_ome_reports_pushing_is_announced_started_once(room, receiver, django_capture_on_commit_callbacks):
    from ome.client import PushInfo

    _endpoint(room.organization, receiver.url, events=[Event.PUSH_STARTED])
    push = Push.objects.create(room=room, stream_name="x", url="rtmp://127.0.0.1:1/live", state=PushState.REQUESTED)
    pushing = PushInfo.from_json({"id": push.ome_id, "state": "pushing", "stream": {"name": "x"}})
    with django_capture_on_commit_callbacks(execute=True):
        push_outcomes.push_registered(push_id=push.pk, info=pushing)
        push_outcomes.push_registered(push_id=push.pk, info=pushing)  # OME says it again: no second event
    [request] = receiver.wait_for(1)
    event = json.loads(request.body)
    assert (event["type"], event["data"]["id"], event["data"]["state"]) == ("push.started", push.pk, "pushing")


def test_deliveries_are_kept_a_month(settings, room, receiver):
    from webhooks.tasks import delete_old_deliveries

    endpoint, _secret = _endpoint(room.organization, receiver.url)
    old = Delivery.objects.create(
        endpoint=endpoint, event_type=Event.ROOM_LIVE, body="{}", state=DeliveryState.SUCCEEDED,
        created_at=timezone.now() - timezone.timedelta(days=31),
    )  # fmt: skip
    recent = Delivery.objects.create(
        endpoint=endpoint, event_type=Event.ROOM_LIVE, body="{}", state=DeliveryState.FAILED,
        created_at=timezone.now() - timezone.timedelta(days=29),
    )  # fmt: skip
    assert delete_old_deliveries() == 1
    assert list(Delivery.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not Delivery.objects.filter(pk=old.pk).exists()


def test_a_change_that_is_rolled_back_leaves_no_delivery(room, receiver, django_capture_on_commit_callbacks):
    from django.db import transaction

    _endpoint(room.organization, receiver.url)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        with transaction.atomic():
            room_services.go_live(room_id=room.pk, confirmed=True)
            assert Delivery.objects.count() == 1, "stored with the change, before anything is sent"
            raise RuntimeError("the change fails after the event")
    assert not Delivery.objects.exists()
    assert receiver.received == []


def test_an_interrupted_recording_is_ready_with_its_file_and_failed_without_one(
    room, receiver, django_capture_on_commit_callbacks
):
    from recordings.signals import announce_state_changes

    _endpoint(room.organization, receiver.url, events=[Event.RECORDING_READY, Event.RECORDING_FAILED])
    with_file = Recording.objects.create(
        room=room, state=RecordingState.UPLOADING, interrupted=True, file_path="/org/r/rec_interrupted.mp4"
    )
    without_file = Recording.objects.create(room=room, state=RecordingState.RECORDING)
    with django_capture_on_commit_callbacks(execute=True):
        recording_outcomes.recording_uploaded(
            recording_id=with_file.pk, storage_key="k", size_bytes=10, checksum_sha256=""
        )
        # what the reconcile loop announces for a record OME lost without leaving a file
        Recording.objects.filter(pk=without_file.pk).update(state=RecordingState.INTERRUPTED)
        announce_state_changes([(without_file.pk, RecordingState.RECORDING, RecordingState.INTERRUPTED)])
    events = [(json.loads(r.body)["type"], json.loads(r.body)["data"]["id"]) for r in receiver.received]
    assert events == [("recording.ready", with_file.pk), ("recording.failed", without_file.pk)]
