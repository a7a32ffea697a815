"""`/metrics` for operators: Prometheus's text format, made by prometheus_client.

Two kinds of figures:
- counters and histograms that the code updates where things happen (admission decisions and
  their latency in rooms.webhook, OME calls in ome.client, task retries and failures
  from Celery's signals in portal.celery);
- gauges read at scrape time from the database and the broker (live rooms, viewers, pushes and
  recordings by state, queued tasks), so they are never stale and cost nothing between scrapes.

gunicorn and Celery's prefork pool run several processes: with PROMETHEUS_MULTIPROC_DIR set
(docker/entrypoint.sh sets it) each process writes its counters there and a scrape adds them
up. The web service serves `/metrics`; a worker serves its own on METRICS_PORT. Neither is
routed by Traefik; with METRICS_TOKEN set, a scrape must also present it as a Bearer token.
"""

from __future__ import annotations

import hmac
import os

from django.conf import settings
from django.db.models import Count, Sum
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily


class PortalCollector:
    """What the database and the broker say right now."""

    def collect(self):
        from broadcasts.models import Push, PushState
        from recordings.models import Recording, RecordingState
        from rooms.models import LiveState, Room

        yield _by_state("portal_rooms", "Rooms by live state.", Room.objects.all(), "live_state", LiveState)
        live = Room.objects.live().aggregate(rooms=Count("pk"), viewers=Sum("viewer_count"))
        yield GaugeMetricFamily("portal_live_rooms", "Rooms starting or live.", value=live["rooms"])
        yield GaugeMetricFamily("portal_viewers", "Viewers of live rooms, as last counted.", value=live["viewers"] or 0)
        yield _by_state("portal_pushes", "Restreams by state.", Push.objects.all(), "state", PushState)
        yield _by_state("portal_recordings", "Recordings by state.", Recording.objects.all(), "state", RecordingState)

        depth = queued_tasks()
        up = GaugeMetricFamily("portal_broker_up", "1 when the task broker answered this scrape.")
        up.add_metric([], 0 if depth is None else 1)
        yield up
        if depth is not None:
            yield GaugeMetricFamily("portal_queued_tasks", "Tasks waiting in the broker's queue.", value=depth)


def _by_state(name: str, documentation: str, queryset, field: str, states) -> GaugeMetricFamily:
    """One sample per state (zero included, so a state that empties shows 0 rather than vanishing)."""
    counts = dict(queryset.order_by().values_list(field).annotate(n=Count("pk")))
    family = GaugeMetricFamily(name, documentation, labels=["state"])
    for state in states.values:
        family.add_metric([state], counts.get(state, 0))
    return family


def queued_tasks() -> int | None:
    """Messages waiting in Celery's default queue; None when there is no broker to ask."""
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith(("redis://", "rediss://")):
        return None
    import redis

    try:
        client = redis.Redis.from_url(broker, socket_timeout=1, socket_connect_timeout=1)
        # kombu keeps one list per priority step: "celery", "celery\x06\x163", …
        names = [name for name in client.scan_iter(match="celery*", count=100) if client.type(name) == b"list"]
        return sum(client.llen(name) for name in names)
    except redis.RedisError:
        return None


def registry() -> CollectorRegistry:
    """The figures of every process of this service (multiprocess mode) or of this one."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)
        return combined
    return REGISTRY


def _authorized(request) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@never_cache
def metrics_view(request):
    if not _authorized(request):
        response = HttpResponse("A valid METRICS_TOKEN is needed as a Bearer token.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        response["Content-Type"] = "text/plain"
        return response
    scrape = CollectorRegistry()
    scrape.register(_Everything(registry()))
    scrape.register(PortalCollector())
    return HttpResponse(generate_latest(scrape), content_type=CONTENT_TYPE_LATEST)


class _Everything:
    """The process (or multiprocess) registry as one collector of a per-scrape registry."""

    def __init__(self, source: CollectorRegistry):
        self.source = source

    def collect(self):
        yield from self.source.collect()
