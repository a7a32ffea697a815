"""Webhooks under faults, on the real stack: an event whose queue message is lost (Redis restarted
empty before a worker took it) was stored with the change and is delivered, once, when Redis is
back: beat's sweep queues it again."""

from __future__ import annotations

import json
import time

# beat sends due deliveries every WEBHOOK_SWEEP_SECONDS (the stack's default)
SWEEP = 15.0

_ENDPOINT = """
import django
django.setup()
from django.conf import settings
settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
from organizations.models import Organization
from webhooks.services import create_endpoint
create_endpoint(organization=Organization.objects.get(slug=%r), url=%r, events=["room.live"])
"""

_GO_LIVE = """
import django
django.setup()
from rooms.models import Room
from rooms.services import go_live
go_live(room_id=Room.objects.get(public_id=%r).pk, protocol="rtmp", confirmed=True)
"""


def test_an_event_whose_message_redis_lost_is_delivered_once_redis_is_back(stack, figures, request, receiver):
    team = stack.seed("webhook-redis-lost", destinations=0)
    try:
        stack.manage_python(_ENDPOINT % (team["public_id"], receiver.url))
        stack.worker.stop()  # nobody takes the message: it waits in Redis
        stack.manage_python(_GO_LIVE % team["public_id"])
        stored = stack.sql(_DELIVERIES, [team["public_id"]])
        assert stored == [("pending", 0)], f"the event is stored with the change, not sent yet: {stored}"
        stack.redis.stop()
        stack.redis.start()  # empty: the queued message is gone
        back = time.monotonic()
        # The worker connects to the receiver on loopback: the operator's exception.
        stack.new_worker(OUTBOUND_ALLOWED_HOSTS="127.0.0.1")
        receiver.wait_for(1, timeout=SWEEP + 30)
        took = time.monotonic() - back
        time.sleep(SWEEP + 2)  # a second copy would come with the next sweep
        duplicated = len(receiver.received) - 1
        event = json.loads(receiver.received[0].body)
        assert event["type"] == "room.live" and event["data"]["id"] == team["public_id"]
        figures.record(
            request,
            fault="Redis restarted empty before a webhook was sent",
            injected=1,
            tried=1,
            lost=0,
            duplicated=duplicated,
            notes=f"delivered {took:.1f} s after Redis was back (beat's sweep every {SWEEP:.0f} s)",
        )
        assert duplicated == 0
        assert stack.sql(_DELIVERIES, [team["public_id"]]) == [("succeeded", 1)]
    finally:
        stack.new_worker()


_DELIVERIES = (
    "SELECT d.state, d.attempts FROM webhooks_delivery d JOIN webhooks_endpoint e ON e.id = d.endpoint_id "
    "JOIN organizations_organization o ON o.id = e.organization_id WHERE o.slug = %s"
)
