"""JSON nested deeper than Python's parser can follow gets a 400 with a message, not a 500.

About a thousand `[` (2 KB) make `json.loads` raise RecursionError, which is not the ValueError
parsers usually catch.
"""

from __future__ import annotations

import base64
import json

from ..admission_helpers import ome_signature
from . import probe

SUITE = "bad input: deep JSON"
DEEP = b"[" * 5000 + b"]" * 5000


def _message(outcome: probe.Outcome) -> str:
    answer = json.loads(outcome.content)
    return answer.get("detail") or answer.get("message") or answer.get("reason") or ""


def test_the_rest_api_refuses_deep_json_with_a_message(world, unthrottled, db):
    token = probe.token_identity("A's owner token", world.a.tokens["owner"])
    outcome = probe.send(world, token, "POST", "/api/v1/rooms/", suite=SUITE, raw=DEEP)
    assert outcome.status == 400 and _message(outcome), outcome


def test_the_original_api_refuses_deep_json_with_a_message(world, unthrottled, db):
    token = base64.b64encode(world.a.tokens["streamer"].encode()).decode()
    outcome = probe.send(
        world,
        probe.anonymous(),
        "POST",
        "/v1/vhosts/default/apps/app:startPush",
        suite=SUITE,
        raw=DEEP,
        headers={"HTTP_AUTHORIZATION": f"Basic {token}"},
    )
    assert outcome.status == 400 and _message(outcome), outcome


def test_the_admission_webhook_refuses_signed_deep_json_with_a_reason(world, unthrottled, db):
    headers = {"HTTP_X_OME_SIGNATURE": ome_signature(DEEP), "REMOTE_ADDR": "10.0.0.2"}
    outcome = probe.send(world, probe.anonymous(), "POST", "/ome/admission", suite=SUITE, raw=DEEP, headers=headers)
    assert outcome.status == 400 and _message(outcome), outcome
