"""Sending one request as someone, in a savepoint that is rolled back afterwards, and reading
what it did: status, redirect, body, and what changed in organization A meanwhile.

Every request starts from the same state, so each answer is judged on its own and a request
that wrongly changed something cannot hide (or cause) the result of the next one.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from django.db import transaction
from django.test import Client
from django.urls import reverse

from .world import World, basic

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
REFUSALS = {401, 403, 404, 405}

# How many requests each suite sent (printed at the end of the run by conftest.py).
SENT: Counter[str] = Counter()


def family(path: str) -> str:
    """Which door a path goes through: the REST API, the original stack's API, or the web UI."""
    if path.startswith("/api/"):
        return "api"
    if path.startswith("/v1"):
        return "ome"
    return "ui"


@dataclass
class Identity:
    """Someone sending requests: a signed-in member (session), an API token, or nobody."""

    label: str
    client: Client
    token: str | None = None

    def headers(self, path: str) -> dict[str, str]:
        if self.token is None:
            return {}
        if family(path) == "ome":
            return {"HTTP_AUTHORIZATION": basic(self.token)}
        return {"HTTP_AUTHORIZATION": f"Bearer {self.token}"}


def session_identity(label: str, user, *, organization_id: int | None = None) -> Identity:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    if organization_id is not None:
        session = client.session
        session["organization_id"] = organization_id
        session.save()
    return Identity(label, client)


def token_identity(label: str, token: str) -> Identity:
    return Identity(label, Client(raise_request_exception=False), token)


def anonymous() -> Identity:
    return Identity("anonymous", Client(raise_request_exception=False))


@dataclass
class Outcome:
    method: str
    path: str
    who: str
    status: int
    location: str
    content: bytes
    changes: tuple
    request_text: str

    def __str__(self) -> str:
        where = f" → {self.location}" if self.location else ""
        return f"{self.who}: {self.method} {self.path} answered {self.status}{where}"

    @property
    def is_refusal(self) -> bool:
        return self.status in REFUSALS or (self.status in (301, 302, 303) and self.redirect_path in login_paths())

    @property
    def redirect_path(self) -> str:
        return urlsplit(self.location).path

    def shows(self, text: str) -> bool:
        needle = text.encode()
        return needle in self.content or needle in self.location.encode()

    def echoes(self, text: str) -> bool:
        """The text was part of the request itself (an error message may repeat what was asked)."""
        return text in self.request_text


def form_errors(outcome: Outcome) -> list[str]:
    """The error messages a form page shows (templates/form_fields.html), in words."""
    text = outcome.content.decode(errors="replace")
    return [message.strip() for message in re.findall(r'role="alert">(?:<p>)?([^<]*)', text) if message.strip()]


def login_paths() -> set[str]:
    return {reverse("login"), reverse("admin:login")}


def encode(body: dict | None, path: str) -> tuple[str, str]:
    if body is None:
        return "", "application/octet-stream"
    if family(path) == "ui":
        flat = {name: value for name, value in body.items() if not isinstance(value, dict | list)}
        return urlencode(flat, doseq=True), "application/x-www-form-urlencoded"
    return json.dumps(body), "application/json"


def send(
    world: World,
    who: Identity,
    method: str,
    path: str,
    body: dict | None = None,
    *,
    suite: str,
    raw: bytes | None = None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Outcome:
    """`who` sends the request (`body` encoded for the path's door, or `raw` bytes as they are);
    everything it changed is rolled back; the outcome says what it did."""
    if raw is not None:
        data = raw
    else:
        data, content_type = encode(body if method in ("POST", "PUT", "PATCH", "DELETE") else None, path)
    cookies = copy.deepcopy(who.client.cookies)
    with transaction.atomic():
        response = who.client.generic(method, path, data, content_type, **{**who.headers(path), **(headers or {})})
        if getattr(response, "streaming", False):
            content = b"".join(response.streaming_content)
        else:
            content = response.content
        # (The test client closes the response itself; closing it again here would fire
        # request_finished, which closes the database connection in the middle of the savepoint.)
        changes = world.holdings.changes()
        transaction.set_rollback(True)
    who.client.cookies = cookies  # a sign-out or an organization switch ends with the request too
    world.restore_files()
    SENT[suite] += 1
    return Outcome(
        method=method,
        path=path,
        who=who.label,
        status=response.status_code,
        location=response.get("Location", ""),
        content=content,
        changes=changes,
        request_text=path + " " + (data.decode(errors="replace") if isinstance(data, bytes) else data),
    )
