"""The original stack's API (/v1/…, OME's shapes) never fails on bad input, and every refusal says why.

Hypothesis sends any vhost, app and action, any method, any Authorization header (A's tokens as
Basic base64(token), wrong schemes, garbage) and any body (any JSON, wrong types, odd URLs and
ids, raw bytes). Every answer is OME's envelope: below 500, `statusCode` equal to the HTTP
status and, for a 4xx, a non-empty `message`.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from . import probe
from .strategies import any_json, fuzz, odd_text, odd_urls
from .world import ROLES

SUITE = "bad input: original API"
ACTIONS = ["startPush", "stopPush", "pushes", "startRecord", "stopRecord", "records", "", "startpush", "stopPush:x"]


@st.composite
def requests(draw):
    vhost = draw(st.sampled_from(["default", "default", "other"]) | odd_text)
    app = draw(st.sampled_from(["app", "app", "live"]) | odd_text)
    action = draw(st.sampled_from(ACTIONS) | odd_text)
    shape = draw(st.sampled_from(["action", "action", "streams", "other"]))
    if shape == "action":
        path = f"/v1/vhosts/{quote(vhost, safe='')}/apps/{quote(app, safe='')}" + (
            f":{quote(action)}" if action else ""
        )
    elif shape == "streams":
        path = f"/v1/vhosts/{quote(vhost, safe='')}/apps/{quote(app, safe='')}/streams"
    else:
        path = "/v1/" + quote(draw(odd_text), safe="/:")
    method = draw(st.sampled_from(["GET", "POST", "POST", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]))
    auth = draw(st.sampled_from(["token", "token", "token", "bearer", "garbage", "none", "not-base64"]))
    fields = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "id": st.sampled_from(["alpha-push-1", "alpha-rec-2", "x"]) | any_json,
                "stream": st.fixed_dictionaries({}, optional={"name": st.sampled_from(["alpha-live"]) | any_json})
                | any_json,
                "url": odd_urls | any_json,
                "protocol": st.sampled_from(["rtmp", "srt", "mpegts", "RTMP"]) | any_json,
                "streamKey": odd_text | any_json,
            },
        )
    )
    raw = draw(
        st.one_of(
            st.just(json.dumps(fields).encode()),
            any_json.map(lambda value: json.dumps(value).encode()),
            st.binary(max_size=64),
            st.sampled_from([b"", b"{", b"[1,", b'{"id":', b"\xff\xfe", b"null"]),
        )
    )
    return path, method, auth, raw, draw(st.sampled_from(ROLES))


def _authorization(kind: str, token: str) -> dict[str, str]:
    if kind == "token":
        return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(token.encode()).decode()}
    if kind == "bearer":
        return {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if kind == "garbage":
        return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"sst_not-a-token").decode()}
    if kind == "not-base64":
        return {"HTTP_AUTHORIZATION": "Basic ***"}
    return {}


def check_envelope(outcome: probe.Outcome) -> None:
    assert outcome.status < 500, f"{outcome}: the server failed"
    if outcome.method == "HEAD":
        return
    body = json.loads(outcome.content)
    assert isinstance(body, dict), f"{outcome}: {body!r}"
    if "statusCode" in body:
        assert body["statusCode"] == outcome.status, f"{outcome}: statusCode {body['statusCode']}"
    else:  # a path Django itself cannot route (a newline in it): the site's JSON 404
        assert outcome.status == 404, f"{outcome}: not OME's envelope: {body!r}"
    if outcome.status >= 400:
        message = body.get("message", body.get("detail"))
        assert isinstance(message, str) and message.strip(), f"{outcome}: no message: {body!r}"


@fuzz(200)
@given(request=requests())
@example(
    request=("/v1/vhosts/default/apps/app:startPush", "POST", "token", b'{"id": 5, "stream": [], "url": {}}', "owner")
)
@example(request=("/v1/vhosts/default/apps/app:stopRecord", "POST", "token", b'{"id": {"$gt": ""}}', "streamer"))
@example(
    request=(
        "/v1/vhosts/default/apps/app:startPush",
        "POST",
        "token",
        b'{"id":"x","stream":{"name":"alpha-live"},"url":"rtmp://h:99999/a","protocol":"rtmp"}',
        "owner",
    )
)
def test_the_original_api_answers_every_request_in_omes_envelope_without_failing(request, world, unthrottled, db):
    path, method, auth, raw, role = request
    who = probe.anonymous()
    outcome = probe.send(
        world, who, method, path, suite=SUITE, raw=raw, headers=_authorization(auth, world.a.tokens[role])
    )
    check_envelope(outcome)


@pytest.mark.parametrize("url", ["rtmp://[::1/app", "rtmp://[not-an-ip]/app"])
def test_a_push_url_with_a_broken_ipv6_host_is_refused_with_a_message(url, world, unthrottled, db):
    body = json.dumps({"id": "p", "stream": {"name": "alpha-live"}, "url": url, "protocol": "rtmp"}).encode()
    token = world.a.tokens["streamer"]
    outcome = probe.send(
        world,
        probe.anonymous(),
        "POST",
        "/v1/vhosts/default/apps/app:startPush",
        suite=SUITE,
        raw=body,
        headers=_authorization("token", token),
    )
    check_envelope(outcome)
