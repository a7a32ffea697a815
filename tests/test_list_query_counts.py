"""Every list, in the API and in the pages, costs the same number of queries for 3 rows as for 9:
an organization with a thousand rooms or a room with a long history must not make a list slow."""

import base64
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from broadcasts.models import Destination, Platform, Push, PushState
from organizations.models import Membership, Role
from recordings.models import Recording, RecordingState
from rooms.models import LiveSession

from .api.conftest import make_token
from .factories import MembershipFactory, RoomFactory

FEW, MANY = 3, 9


def _add_rows(team, room, count: int) -> None:
    """`count` more of everything a list shows: rooms, members, and the room's destinations,
    pushes, recordings and past sessions."""
    now = timezone.now()
    start = Membership.objects.filter(organization=team.organization).count()
    for index in range(start, start + count):
        RoomFactory(organization=team.organization, public_id=f"acme-extra-{index}")
        MembershipFactory(organization=team.organization, role=Role.STREAMER)
        destination = Destination.objects.create(
            room=room, name=f"sink {index}", platform=Platform.CUSTOM, url=f"rtmp://127.0.0.1:1/live{index}"
        )
        Push.objects.create(
            room=room,
            destination=destination,
            stream_name=destination.stream_name,
            url=destination.url,
            state=PushState.STOPPED,
        )
        Recording.objects.create(room=room, state=RecordingState.ERROR, error_message="a past failure")
        LiveSession.objects.create(
            room=room, started_at=now - timedelta(hours=index + 2), ended_at=now - timedelta(hours=index + 1)
        )


def _queries(get, url: str) -> int:
    get(url)  # once first: what a first request does once (a token's last use, a session) is not a row's cost
    with CaptureQueriesContext(connection) as captured:
        response = get(url)
    assert response.status_code == 200, f"{url}: HTTP {response.status_code}"
    return len(captured)


API_LISTS = [
    "/api/v1/rooms/",
    "/api/v1/destinations/",
    "/api/v1/pushes/",
    "/api/v1/recordings/",
    "/api/v1/sessions/",
    "/api/v1/members/",
]

PAGE_LISTS = [
    "/rooms/",
    "/members/",
    "/rooms/{room}/",
    "/rooms/{room}/recordings/panel",
    "/rooms/{room}/restream/status",
]


@pytest.mark.parametrize("url", API_LISTS)
def test_an_api_list_costs_the_same_queries_for_many_rows_as_for_few(team, room, url):
    api = make_token(team.organization, Role.OWNER).client()
    url = url.format(room=room.public_id)
    _add_rows(team, room, FEW)
    few = _queries(api.get, url)
    _add_rows(team, room, MANY - FEW)
    assert len(api.get(url).json()["results"]) >= MANY
    assert _queries(api.get, url) == few, f"{url} costs more queries with {MANY} rows than with {FEW}"


@pytest.mark.parametrize("url", PAGE_LISTS)
def test_a_page_list_costs_the_same_queries_for_many_rows_as_for_few(team, room, owner_client, url):
    url = url.format(room=room.public_id)
    _add_rows(team, room, FEW)
    few = _queries(owner_client.get, url)
    _add_rows(team, room, MANY - FEW)
    assert _queries(owner_client.get, url) == few, f"{url} costs more queries with {MANY} rows than with {FEW}"


def test_the_original_apis_stream_list_costs_the_same_queries_for_many_rooms(team, room, client):
    from api import services

    actor = Membership.objects.get(organization=team.organization, user=team.owner)
    _, token = services.create_api_token(actor=actor, name="compat", role=Role.OWNER)
    url = "/v1/vhosts/default/apps/app/streams"
    headers = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(token.encode()).decode()}  # as OME's API takes it
    _add_rows(team, room, FEW)
    few = _queries(lambda u: client.get(u, **headers), url)
    _add_rows(team, room, MANY - FEW)
    assert _queries(lambda u: client.get(u, **headers), url) == few
