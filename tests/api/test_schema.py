"""The OpenAPI schema and its docs, and schemathesis against the running API: no input a program
can send makes the server fail (5xx), and every refusal (4xx) says what was wrong."""

from __future__ import annotations

import os
import re
from collections import Counter

import pytest
import requests
import schemathesis
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings

from broadcasts.models import Destination, Platform, Push, PushState
from organizations.models import Membership, Role
from rooms.models import LiveSession
from webhooks import services as webhook_services

from .conftest import finished_recording, make_token

SCHEMA = "/api/schema/"


def test_the_schema_is_openapi_3_with_bearer_auth_and_examples(client):
    response = client.get(SCHEMA, HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    operations = [op for path in schema["paths"].values() for op in path.values()]
    assert all(op["security"] == [{"bearerAuth": []}] for op in operations)
    assert len(operations) >= 30
    create_room = schema["paths"]["/api/v1/rooms/"]["post"]
    assert "examples" in create_room["requestBody"]["content"]["application/json"]
    start_push = schema["paths"]["/api/v1/rooms/{id}/pushes/"]["post"]
    assert "examples" in start_push["requestBody"]["content"]["application/json"]
    assert "Authorization: Bearer TOKEN" in schema["info"]["description"]


def test_the_docs_are_served_from_the_portal_without_a_cdn(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(asset.startswith("/static/drf_spectacular_sidecar/") for asset in assets), assets
    for asset in assets:
        assert client.get(asset).status_code == 200, f"{asset} is not served"


# --- schemathesis -----------------------------------------------------------------------------

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "10"))


@pytest.fixture
def unthrottled(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_token": None}}


def _real_ids(team, room) -> dict[str, str]:
    """An existing object for each kind of `{id}`, so cases also reach past the 404."""
    destination = Destination.objects.create(
        room=room, name="Twitch", platform=Platform.TWITCH, url="rtmp://live.twitch.tv/app", stream_key="tw"
    )
    push = Push.objects.create(room=room, stream_name="acme-live_rtmp", url="rtmp://x.example/a", state=PushState.ERROR)
    session = LiveSession.objects.create(room=room, started_at=timezone.now(), ended_at=timezone.now())
    # Nothing listens on port 9: deliveries fail at once.
    endpoint, _secret = webhook_services.create_endpoint(
        organization=team.organization, url="http://127.0.0.1:9/hooks", events=["room.live"]
    )
    [delivery] = webhook_services.record_event(organization_id=team.organization.pk, event_type="room.live", obj=room)
    return {
        "webhooks": str(endpoint.pk),
        "webhook-deliveries": str(delivery.pk),
        "rooms": room.public_id,
        "destinations": str(destination.pk),
        "pushes": str(push.pk),
        "recordings": str(finished_recording(room).pk),
        "sessions": str(session.pk),
        "members": str(Membership.objects.filter(organization=team.organization)[0].pk),
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", [Role.STREAMER, Role.OWNER])
def test_schemathesis_finds_no_server_error(live_server, team, room, unthrottled, role):
    token = make_token(team.organization, role).value
    auth = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(live_server.url + SCHEMA)
    real_ids = _real_ids(team, room)
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    silent: list[str] = []
    session = requests.Session()

    def exercise(operation, mode, path_parameters) -> None:
        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
        def run(case):
            try:
                response = case.call(base_url=live_server.url, session=session, headers=auth, timeout=30)
            except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, UnicodeError):
                return  # the client itself refuses to send it: it never reaches a server
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {case.query} {case.body!r} → {response.status_code}"
                )
            elif response.status_code >= 400 and not says_why(response):
                silent.append(
                    f"{case.method} {case.formatted_path} {case.query} {case.body!r} → {response.status_code} "
                    f"{response.text[:200]!r}"
                )

        run()

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        resource = operation.path.removeprefix("/api/v1/").split("/")[0]
        variants = [None] + ([{"id": real_ids[resource]}] if "{id}" in operation.path else [])
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            for path_parameters in variants:
                exercise(operation, mode, path_parameters)

    total = sum(statuses.values())
    print(
        f"\nschemathesis ({role} token): {len(operations)} operations, {total} requests, statuses {dict(sorted(statuses.items()))}"
    )
    assert total > len(operations) * 2
    assert not failures, "server errors:\n" + "\n".join(failures[:20])
    assert not silent, "4xx answers that do not say what was wrong:\n" + "\n".join(silent[:20])


def says_why(response) -> bool:
    """A 4xx body a program can show: {"detail": …}, {"message": …} or DRF's field errors."""
    try:
        body = response.json()
    except ValueError:
        return False
    if isinstance(body, dict):
        if any(isinstance(body.get(key), str) and body[key].strip() for key in ("detail", "message")):
            return True
        return bool(body) and all(_messages(value) for value in body.values())
    return _messages(body)


def _messages(value) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list):
        return bool(value) and all(_messages(item) for item in value)
    if isinstance(value, dict):
        return bool(value) and all(_messages(item) for item in value.values())
    return False
