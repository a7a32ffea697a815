"""A NUL byte in what OME reports (a stream name, an app, a query) gets a decision, never a 500.

PostgreSQL cannot hold NUL in text, so such a name must be refused (or answered as no room's)
before it reaches a query. Hypothesis found this in the admission webhook's bad-input suite.
"""

from __future__ import annotations

import pytest

from .admission_helpers import play, publish, rtmp_url
from .test_transcode_webhook import main_profile, post_transcode, transcode_body

pytestmark = pytest.mark.django_db

NUL_NAMES = ["\x00", "room\x00", "a\x00b", "%00", "room%00x"]


@pytest.mark.parametrize("name", NUL_NAMES)
def test_a_publish_with_a_nul_byte_in_the_stream_name_is_refused_with_a_reason(client, name):
    response = publish(client, rtmp_url(name))

    assert response.status_code in (200, 400, 403)
    assert response.json()["allowed"] is False
    assert response.json()["reason"]


@pytest.mark.parametrize("name", NUL_NAMES)
def test_a_play_with_a_nul_byte_in_the_stream_name_or_query_is_refused_with_a_reason(client, name):
    for url in (f"wss://ome.example.com:3334/app/{name}", f"wss://ome.example.com:3334/app/room?token={name}"):
        response = play(client, url)

        assert response.status_code in (200, 400, 403)
        assert response.json()["allowed"] is False
        assert response.json()["reason"]


@pytest.mark.parametrize("name", NUL_NAMES)
def test_a_transcode_request_for_a_nul_named_stream_gets_the_original_answer(client, name):
    response = post_transcode(client, transcode_body(name))

    assert response.status_code == 200
    assert main_profile(response.json())["encodes"]
