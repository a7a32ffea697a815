"""Room ids, through the create form and the API: a valid id makes the room, any other gets a 400
with a message and no room — never a 500.

The rule is written here on its own (not imported from the code under test): 3–64 characters,
a-z, 0-9, '-' and '_', starting with a letter or digit, not a word of the site's URLs, not
ending with the restream suffix, not taken. The form trims and lowercases what was typed; the
API trims only. Left empty, an id is generated.
"""

from __future__ import annotations

import json
import re

from hypothesis import example, given
from hypothesis import strategies as st

from rooms.models import Room, reserved_room_ids

from . import probe
from .strategies import fuzz, odd_text

SUITE = "bad input: room ids"
RULE = re.compile(r"[a-z0-9][a-z0-9_-]{2,63}")
ROOM_ADDED = (Room._meta.label, "added", 1)

room_ids = st.one_of(
    st.sampled_from(
        [
            "",
            "   ",
            "ab",
            "abc",
            "a" * 64,
            "a" * 65,
            "-abc",
            "_abc",
            "Abc",
            " abc ",
            "ab c",
            "abc\n",
            "ab\x00c",
            "ab/c",
            "ab%2Fc",
            "ab.c",
            "\u212abc",  # KELVIN SIGN, lowercased to "k"
            "show_rtmp",
            "new",
            "admin",
            "edit",
            "api",
            "v1",
            "alpha-live",
            "bravo-private",
        ]
    ),
    st.from_regex(r"[a-z0-9][a-z0-9_-]{2,63}", fullmatch=True),
    st.text(alphabet="abcxyz019-_ABZ .\t/", max_size=70),
    odd_text,
)


def _acceptable(value: str) -> bool:
    taken = {"alpha-live", "alpha-private", "bravo-live", "bravo-private"}
    return value == "" or (
        bool(RULE.fullmatch(value))
        and value not in reserved_room_ids()
        and not value.endswith("_rtmp")
        and value not in taken
    )


def _form_accepts(typed: str) -> bool:
    stripped = typed.strip()
    return "\x00" not in typed and len(stripped) <= 64 and _acceptable(stripped.lower())


def _api_accepts(typed: str) -> bool:
    stripped = typed.strip()
    return "\x00" not in typed and len(stripped) <= 64 and _acceptable(stripped)


@fuzz(150)
@given(typed=room_ids)
@example(typed="new-year-show")
def test_the_create_form_makes_a_room_for_a_valid_id_and_says_why_not_otherwise(typed, world, unthrottled, db):
    admin = probe.session_identity("A's admin", world.a.members["admin"])
    body = {"title": "Show", "public_id": typed, "visibility": "public"}
    outcome = probe.send(world, admin, "POST", "/rooms/new/", body, suite=SUITE)
    assert outcome.status < 500, outcome
    if _form_accepts(typed):
        assert outcome.status == 302 and ROOM_ADDED in outcome.changes, f"{outcome}: {typed!r} was not created"
    else:
        assert outcome.status == 400 and not outcome.changes, f"{outcome}: {typed!r} was accepted ({outcome.changes})"
        assert probe.form_errors(outcome), f"{outcome}: no error message on the form for {typed!r}"


@fuzz(150)
@given(typed=room_ids | st.integers() | st.none() | st.lists(st.text(max_size=3), max_size=2))
@example(typed="new-year-show")
def test_the_api_makes_a_room_for_a_valid_id_and_says_why_not_otherwise(typed, world, unthrottled, db):
    token = probe.token_identity("A's admin token", world.a.tokens["admin"])
    outcome = probe.send(world, token, "POST", "/api/v1/rooms/", {"id": typed, "title": "Show"}, suite=SUITE)
    assert outcome.status < 500, outcome
    if isinstance(typed, str) and _api_accepts(typed):
        assert outcome.status == 201 and ROOM_ADDED in outcome.changes, f"{outcome}: {typed!r} was not created"
        return
    if isinstance(typed, int) and _api_accepts(str(typed)):
        return  # DRF reads a number as its digits: "123" is a fine id
    assert outcome.status in (400, 409) and not outcome.changes, f"{outcome}: {typed!r} was accepted"
    answer = json.loads(outcome.content)
    assert answer.get("id") or answer.get("detail"), f"{outcome}: no message: {answer!r}"
