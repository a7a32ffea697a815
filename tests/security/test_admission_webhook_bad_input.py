"""OME's admission webhook decides or refuses with a reason, whatever the body — never a 500.

Bodies are signed with the test secret, as OME signs them (tests/admission_helpers.py), so they
get past the signature to the parser and the decisions: random and malformed JSON, wrong types,
odd and huge values, unicode, and stream URLs of every shape (rooms.admission.StreamUrl.parse),
pointing at A's rooms, keys, credentials and tokens or at nothing. Every answer is 200 with an
`allowed` decision (a closing gets `{}`), or 400/403 with `allowed: false` and a reason.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ..admission_helpers import ome_signature
from . import probe
from .strategies import BROKEN_HOSTS, any_json, fuzz, odd_text, odd_urls

SUITE = "bad input: admission webhook"
PATH = "/ome/admission"


def post(world, raw: bytes, *, signature: str | None = "sign") -> probe.Outcome:
    headers = {"REMOTE_ADDR": "10.0.0.2"}
    if signature == "sign":
        signature = ome_signature(raw)
    if signature is not None:
        headers["HTTP_X_OME_SIGNATURE"] = signature
    return probe.send(world, probe.anonymous(), "POST", PATH, suite=SUITE, raw=raw, headers=headers)


def check_decision(outcome: probe.Outcome, sent: object) -> None:
    assert outcome.status in (200, 400, 403), f"{outcome}: {outcome.content[:300]!r}"
    answer = json.loads(outcome.content)
    assert isinstance(answer, dict), f"{outcome}: {answer!r}"
    if outcome.status == 200:
        closing = isinstance(sent, dict) and str((sent.get("request") or {}).get("status", "")).lower() == "closing"
        if closing and answer == {}:
            return
        assert isinstance(answer.get("allowed"), bool), f"{outcome}: no decision: {answer!r}"
        if answer["allowed"]:
            return
    assert answer.get("allowed") is False, f"{outcome}: {answer!r}"
    assert isinstance(answer.get("reason"), str) and answer["reason"].strip(), f"{outcome}: no reason: {answer!r}"


def _now(offset_seconds: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_seconds)).isoformat(timespec="milliseconds")


@st.composite
def stream_urls(draw, world) -> str:
    """URLs OME could report: A's room ids, keys, credentials and tokens, and everything odd."""
    a = world.a
    stream = draw(
        st.sampled_from(
            [a.room.public_id, a.private_room.public_id, a.room.stream_key, f"{a.room.public_id}_rtmp", "", "nope"]
        )
        | odd_text
    )
    scheme = draw(st.sampled_from(["rtmp", "srt", "ws", "wss", "http", "https", "RTMP"]))
    host = draw(st.sampled_from(["ome.example.com:1935", "127.0.0.1:3333", "[2001:db8::1]:3333", "ome"]))
    app = draw(st.sampled_from(["app", "app", "live", "", "%61pp"]) | odd_text)
    rest = draw(st.sampled_from(["", "/llhls.m3u8", "/chunklist_0_video_llhls.m3u8", "/a/b/c", "/../.."]))
    query = draw(
        st.sampled_from(
            [
                "",
                "direction=whip",
                "token=forged",
                "credential=forged.cred",
                f"link={a.embed_link}",
                "token=&token=x",
                "%zz=%zz",
            ]
        )
        | odd_text
    )
    url = f"{scheme}://{host}/{app}/{stream}{rest}" + (f"?{query}" if query else "")
    return draw(st.sampled_from([url, url, url.upper()]) | odd_urls)


@st.composite
def admission_bodies(draw, world) -> object:
    def field(plausible):
        return draw(st.one_of(plausible, plausible, plausible, any_json))

    client = {
        "address": field(st.sampled_from(["203.0.113.7", "::1", "", "999.1.1.1"]) | odd_text),
        "port": field(st.integers(min_value=-(2**64), max_value=2**64)),
        "real_ip": field(st.just("203.0.113.7")),
        "user_agent": field(odd_text),
    }
    request = {
        "direction": field(st.sampled_from(["incoming", "outgoing", "INCOMING", "sideways"])),
        "protocol": field(st.sampled_from(["RTMP", "WebRTC", "srt", "LLHLS", "thumbnail", ""])),
        "status": field(st.sampled_from(["opening", "closing", "OPENING", "open"])),
        "time": field(
            st.sampled_from([_now(), _now(-10), _now(-3600), _now(86400 * 365), "9999-12-31T23:59:59Z"]) | odd_text
        ),
        "url": field(stream_urls(world)),
    }
    if draw(st.booleans()):
        request["new_url"] = field(stream_urls(world))
    body = {
        "client": draw(st.sampled_from([client, client, client, {}]) | any_json),
        "request": draw(st.sampled_from([request, request, request, {}]) | any_json),
    }
    return draw(st.sampled_from([body, body, body]) | any_json)


def test_a_body_without_a_valid_signature_is_refused_with_a_reason(world, unthrottled, db):
    raw = json.dumps({"client": {}, "request": {}}).encode()
    for signature in (None, "", "forged", ome_signature(raw, secret="another-secret"), ome_signature(raw + b" ")):
        outcome = post(world, raw, signature=signature)
        assert outcome.status == 403, outcome
        check_decision(outcome, None)


@fuzz(250)
@given(data=st.data())
def test_every_signed_body_gets_a_decision_or_a_reason(data, world, unthrottled, db):
    body = data.draw(admission_bodies(world))
    raw = json.dumps(body).encode()
    check_decision(post(world, raw), body)


@fuzz(60)
@given(raw=st.one_of(st.binary(max_size=200), st.sampled_from([b"", b"{", b"null", b"\xff", b'{"client":'])))
@example(raw=b"x" * (64 * 1024 + 1))
@example(raw=json.dumps({"client": {"address": "a" * 60_000, "port": 1}, "request": {}}).encode())
def test_signed_bytes_that_are_not_an_admission_request_get_a_400_with_a_reason(raw, world, unthrottled, db):
    outcome = post(world, raw)
    check_decision(outcome, None)


@fuzz(150)
@given(data=st.data())
def test_every_stream_url_gets_a_decision_or_a_reason(data, world, unthrottled, db):
    """StreamUrl.parse through the webhook: publish and play, opening and closing, any URL."""
    request = {
        "direction": data.draw(st.sampled_from(["incoming", "outgoing"])),
        "protocol": data.draw(st.sampled_from(["RTMP", "WebRTC", "SRT", "LLHLS"])),
        "status": data.draw(st.sampled_from(["opening", "opening", "closing"])),
        "time": _now(),
        "url": data.draw(stream_urls(world)),
    }
    if data.draw(st.booleans()):
        request["new_url"] = data.draw(stream_urls(world))
    body = {"client": {"address": "203.0.113.7", "port": 40000}, "request": request}
    check_decision(post(world, json.dumps(body).encode()), body)


@pytest.mark.parametrize("host", BROKEN_HOSTS)
def test_a_stream_url_with_a_broken_ipv6_host_gets_a_reason(host, world, unthrottled, db):
    request = {"direction": "incoming", "protocol": "RTMP", "status": "opening", "time": _now()}
    body = {"client": {"address": "203.0.113.7", "port": 1}, "request": {**request, "url": f"rtmp://{host}/app/k"}}
    check_decision(post(world, json.dumps(body).encode()), body)
