"""Owners and admins manage webhook endpoints on their pages and through the API: the secret is
shown once, each endpoint lists its deliveries with a Resend button, streamers see nothing."""

from __future__ import annotations

import pytest

from api.models import ApiToken
from webhooks import services
from webhooks.models import Delivery, DeliveryState, Endpoint

from .conftest import client_for


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]


def test_an_admin_adds_an_endpoint_and_sees_its_secret_once(team, receiver):
    admin = client_for(team.admin)
    page = admin.post("/webhooks/", {"url": receiver.url, "events": ["room.live", "recording.ready"]})
    assert page.status_code == 200
    endpoint = Endpoint.objects.get()
    assert endpoint.organization == team.organization and endpoint.events == ["room.live", "recording.ready"]
    assert endpoint.signing_secret in page.content.decode(), "the secret is shown on creation"
    again = admin.get(f"/webhooks/{endpoint.pk}/")
    assert endpoint.signing_secret not in again.content.decode() and endpoint.masked_secret in again.content.decode()


def test_a_private_address_is_refused_with_a_form_error(settings, team):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    page = client_for(team.owner).post("/webhooks/", {"url": "http://10.0.0.5/hook", "events": ["room.live"]})
    assert page.status_code == 400
    assert "private network" in page.content.decode()
    assert not Endpoint.objects.exists()


def test_no_event_chosen_is_a_form_error(team, receiver):
    page = client_for(team.owner).post("/webhooks/", {"url": receiver.url})
    assert page.status_code == 400 and "Choose at least one event." in page.content.decode()


def test_streamers_cannot_manage_webhooks(team, receiver):
    endpoint, _secret = services.create_endpoint(organization=team.organization, url=receiver.url, events=["room.live"])
    streamer = client_for(team.streamer)
    assert streamer.get("/webhooks/").status_code == 403
    assert streamer.get(f"/webhooks/{endpoint.pk}/").status_code == 403


def test_the_endpoint_page_lists_deliveries_and_resends_one(team, room, receiver, django_capture_on_commit_callbacks):
    endpoint, _secret = services.create_endpoint(organization=team.organization, url=receiver.url, events=["room.live"])
    receiver.answer(500)
    with django_capture_on_commit_callbacks(execute=True):
        [delivery] = services.record_event(organization_id=room.organization_id, event_type="room.live", obj=room)
    owner = client_for(team.owner)
    page = owner.get(f"/webhooks/{endpoint.pk}/").content.decode()
    assert "room.live" in page and "500" in page and "Resend" in page and " ms" in page
    with django_capture_on_commit_callbacks(execute=True):
        assert owner.post(f"/webhooks/deliveries/{delivery.pk}/resend").status_code == 302
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == (DeliveryState.SUCCEEDED, 2, 200)


def test_a_ping_checks_the_endpoint(team, receiver, django_capture_on_commit_callbacks):
    endpoint, _secret = services.create_endpoint(organization=team.organization, url=receiver.url, events=["room.live"])
    with django_capture_on_commit_callbacks(execute=True):
        client_for(team.owner).post(f"/webhooks/{endpoint.pk}/ping")
    assert Delivery.objects.get().event_type == "ping"
    receiver.wait_for(1)


def test_the_api_creates_an_endpoint_and_shows_the_secret_only_in_that_answer(team, receiver):
    _row, token = _token(team)
    from django.test import Client

    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    created = api.post(
        "/api/v1/webhooks/", {"url": receiver.url, "events": ["room.live"]}, content_type="application/json"
    )
    assert created.status_code == 201, created.content
    secret = created.json()["signing_secret"]
    assert secret.startswith("whsec_")
    listed = api.get("/api/v1/webhooks/")
    assert secret not in listed.content.decode() and listed.json()["results"][0]["url"] == receiver.url
    refused = api.post(
        "/api/v1/webhooks/", {"url": "http://10.1.1.1/x", "events": ["room.live"]}, content_type="application/json"
    )
    assert refused.status_code == 400 and "url" in refused.json()
    unknown = api.post(
        "/api/v1/webhooks/", {"url": receiver.url, "events": ["room.exploded"]}, content_type="application/json"
    )
    assert unknown.status_code == 400


def _token(team):
    from api import services as api_services
    from organizations.models import Membership

    owner = Membership.objects.get(user=team.owner, organization=team.organization)
    row, token = api_services.create_api_token(actor=owner, name="hooks", role="admin")
    assert isinstance(row, ApiToken)
    return row, token


def test_the_api_lists_deliveries_resends_one_and_manages_the_endpoint(
    team, room, receiver, django_capture_on_commit_callbacks
):
    from django.test import Client

    _row, token = _token(team)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    endpoint, secret = services.create_endpoint(organization=team.organization, url=receiver.url, events=["room.live"])
    receiver.answer(503)
    with django_capture_on_commit_callbacks(execute=True):
        [delivery] = services.record_event(organization_id=room.organization_id, event_type="room.live", obj=room)
    listed = api.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/").json()["results"]
    assert [(d["id"], d["event_type"], d["last_status_code"], d["attempts"]) for d in listed] == [
        (delivery.pk, "room.live", 503, 1)
    ]
    assert listed[0]["payload"]["data"]["id"] == room.public_id
    with django_capture_on_commit_callbacks(execute=True):
        resent = api.post(f"/api/v1/webhook-deliveries/{delivery.pk}/resend/")
    assert resent.status_code == 200
    assert api.get(f"/api/v1/webhook-deliveries/{delivery.pk}/").json()["state"] == "succeeded"

    rotated = api.post(f"/api/v1/webhooks/{endpoint.pk}/rotate-secret/").json()["signing_secret"]
    assert rotated != secret and rotated.startswith("whsec_")
    assert rotated not in api.get(f"/api/v1/webhooks/{endpoint.pk}/").content.decode()
    changed = api.patch(f"/api/v1/webhooks/{endpoint.pk}/", {"enabled": False}, content_type="application/json")
    assert changed.status_code == 200 and changed.json()["enabled"] is False
    assert api.delete(f"/api/v1/webhooks/{endpoint.pk}/").status_code == 204
    assert not Endpoint.objects.exists()


def test_a_streamer_token_cannot_see_or_manage_webhooks(team, receiver):
    from django.test import Client

    from api import services as api_services
    from organizations.models import Membership

    owner = Membership.objects.get(user=team.owner, organization=team.organization)
    _row, token = api_services.create_api_token(actor=owner, name="streamer", role="streamer")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    services.create_endpoint(organization=team.organization, url=receiver.url, events=["room.live"])
    assert api.get("/api/v1/webhooks/").status_code == 403
    assert (
        api.post(
            "/api/v1/webhooks/", {"url": receiver.url, "events": ["room.live"]}, content_type="application/json"
        ).status_code
        == 403
    )
