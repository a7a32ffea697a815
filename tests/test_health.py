"""/healthz: each dependency in the body; 503 only when the database is down (web then leaves
the load balancer), 200 "degraded" while the cache or the broker is down (web keeps serving)."""

import socket
from unittest import mock

from django.db.utils import OperationalError


def test_healthz_reports_every_dependency_ok(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["cache"] == "ok"
    assert body["checks"]["broker"].startswith("ok")
    assert "no-cache" in response["Cache-Control"]


def test_healthz_answers_503_when_the_database_is_down(client, db):
    with mock.patch("django.db.backends.utils.CursorWrapper.execute", side_effect=OperationalError("down")):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("unavailable: OperationalError: down")


def test_healthz_stays_200_but_says_degraded_when_the_cache_is_down(client, db, settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": f"redis://127.0.0.1:{port}/0"}
    }
    response = client.get("/healthz")
    assert response.status_code == 200, "web must stay in the load balancer while the database answers"
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["cache"].startswith("unavailable: ConnectionError")
