"""The player pages of public and unlisted rooms, rendered once and served from the shared cache.

Every viewer loads a player page (/watch/ID, /embed/ID, /player.html?room=ID), thousands within
seconds when a popular stream starts. For a public or unlisted room the page is the same for
every anonymous visitor, so its rendered HTML is kept in the cache (a Redis hash per room, one
field per page, scheme and host) and served without a query or a template. It is dropped with
the room's facts on every change to the room (rooms.facts), and its entry carries a version of
the templates and the static manifest, so a deploy never serves a page naming old assets.

Never cached: private rooms (their pages hold a playback token), pages opened with an embed
link, and requests with a session or messages cookie (a signed-in member's page shows their
menu). Every page of a room that is not private carries an ETag and `Cache-Control: no-cache`,
so a browser's second view is one conditional request answered 304, with `Vary: Cookie`.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.cache import cache
from django.http import HttpResponse, HttpResponseNotModified
from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers

from core.outage import CACHE_ERRORS, warn_once_in_a_while
from core.sharedredis import shared_client

from .facts import FACTS_SECONDS, pages_key

PAGE_SECONDS = 5 * FACTS_SECONDS


def cacheable(request, *, allowed_query: frozenset[str] = frozenset()) -> bool:
    """Whether this request gets the page every anonymous visitor gets."""
    return (
        request.method in ("GET", "HEAD")
        and set(request.GET) <= allowed_query
        and settings.SESSION_COOKIE_NAME not in request.COOKIES
        and CookieStorage.cookie_name not in request.COOKIES
    )


@lru_cache(maxsize=1)
def _code_version() -> str:
    """Changes with any template or static file: a page cached by the previous deploy is not used."""
    digest = hashlib.sha256(getattr(staticfiles_storage, "manifest_hash", "").encode())
    for directory in settings.TEMPLATES[0]["DIRS"]:
        for path in sorted(Path(directory).rglob("*.html")):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _field(request, template: str) -> str:
    return f"{template}|{request.scheme}://{request.get_host()}|{_code_version()}"


def cached(request, *, public_id: str, template: str) -> HttpResponse | None:
    """The cached page for this request, or None (then render it and `remember` it)."""
    key, field = pages_key(public_id), _field(request, template)
    try:
        client = shared_client()
        if client is None:
            stored = (cache.get(key) or {}).get(field)
        else:
            raw = client.hget(cache.make_key(key), field)
            stored = json.loads(raw) if raw is not None else None
    except CACHE_ERRORS as error:
        warn_once_in_a_while("player pages", error)
        return None
    if stored is None:
        return None
    if stored.get("etag") and request.headers.get("If-None-Match") == stored["etag"]:
        response = HttpResponseNotModified()  # the browser has it: no body, no hashing
    else:
        response = HttpResponse(stored["body"], content_type="text/html; charset=utf-8")
        response["Content-Security-Policy"] = stored["csp"]
    response["ETag"] = stored.get("etag") or _etag(response.content)
    response["Cache-Control"] = "no-cache"
    response["Vary"] = "Cookie"
    return response


def remember(request, response: HttpResponse, *, public_id: str, template: str) -> None:
    key, field = pages_key(public_id), _field(request, template)
    stored = {
        "body": response.content.decode(),
        "csp": response["Content-Security-Policy"],
        "etag": _etag(response.content),
    }
    try:
        client = shared_client()
        if client is None:
            pages = cache.get(key) or {}
            pages[field] = stored
            cache.set(key, pages, timeout=PAGE_SECONDS)
        else:
            redis_key = cache.make_key(key)
            with client.pipeline(transaction=False) as pipe:
                pipe.hset(redis_key, field, json.dumps(stored))
                pipe.expire(redis_key, PAGE_SECONDS)
                pipe.execute()
    except CACHE_ERRORS as error:
        warn_once_in_a_while("player pages", error)


def _etag(content: bytes) -> str:
    return '"' + hashlib.sha256(content).hexdigest()[:32] + '"'


def revalidated(request, response: HttpResponse) -> HttpResponse:
    """The page with its ETag, revalidated on every view; 304 when the browser has it already."""
    response["ETag"] = _etag(response.content)
    patch_cache_control(response, no_cache=True)
    patch_vary_headers(response, ["Cookie"])
    return get_conditional_response(request, etag=response["ETag"], response=response) or response
