"""Site-wide middleware: a Redis outage met by any view becomes a 503 that says so; addresses with
a NUL byte are refused; OME's webhook and cached player pages are answered ahead of the rest."""

from __future__ import annotations

from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import render

from api.compat import error
from core.outage import OUTAGE_ERRORS, reset_unqueued, start_unqueued, warn_once_in_a_while

RETRY_AFTER_SECONDS = 10
UNAVAILABLE = "The service is briefly unavailable: part of it (its cache or its task queue) cannot be reached."


def unavailable_response(request):
    """503 with Retry-After, in the shape the caller of `request.path` understands."""
    path = request.path
    retry_after = str(RETRY_AFTER_SECONDS)
    message = f"{UNAVAILABLE} Try again in {RETRY_AFTER_SECONDS} seconds."
    if path.startswith("/v1/") or path == "/v1":
        response = error(503, f"Service Unavailable: {message}")
    elif path.startswith(("/api/", "/ome/")) or "application/json" in request.headers.get("Accept", ""):
        body = {"detail": message}
        if path.startswith("/ome/"):
            body = {"allowed": False, "reason": message}
        response = JsonResponse(body, status=503)
    else:
        response = render(request, "503.html", {"retry_after": RETRY_AFTER_SECONDS}, status=503)
    response["Retry-After"] = retry_after
    return response


NUL_IN_ADDRESS = "The address contains a NUL byte (%00), which no room, key or page of this site has."


class RefuseNulInAddress:
    """Answers 400 to an address with a NUL byte in its path or query, before any view.

    PostgreSQL text cannot hold NUL: every lookup of such a room id, token or URL would fail
    with a database error (a 500) instead of "not found". No address of the site has one.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = request.META.get("QUERY_STRING", "")
        if "\x00" not in request.path_info and "%00" not in query and "\x00" not in query:
            return self.get_response(request)
        if request.path_info.startswith("/v1/"):
            return error(400, f"Bad Request: {NUL_IN_ADDRESS}")
        if request.path_info.startswith(("/api/", "/ome/")):
            return JsonResponse({"detail": NUL_IN_ADDRESS}, status=400)
        return HttpResponseBadRequest(NUL_IN_ADDRESS, content_type="text/plain; charset=utf-8")


class OutageMiddleware:
    """Turns a Redis outage met by a view into a 503 that says so, and resets the per-request notes."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = start_unqueued()
        try:
            return self.get_response(request)
        finally:
            reset_unqueued(token)

    def process_exception(self, request, exception):
        if isinstance(exception, OUTAGE_ERRORS):
            warn_once_in_a_while("answering 503", exception)
            return unavailable_response(request)
        return None


class OmeWebhookShortcut:
    """Answers OME's admission webhook straight from its view, ahead of the rest of the stack.

    OME asks once per viewer connection, so this path is as hot as the portal gets. It is a
    signed server-to-server call that needs no session, user, organization, messages, CSRF
    token or security headers: the profile showed those middlewares as a fifth of the time of
    an answer served from the cache (docs/performance.md). The signature check is the view's
    own and stays; the URL stays in portal/urls.py too, so reversing and the isolation suites
    see it as before. A Redis outage still becomes the 503 OutageMiddleware would give.
    """

    def __init__(self, get_response):
        from rooms.webhook import admission_webhook

        self.get_response = get_response
        self.views = {"/ome/admission": admission_webhook}

    def __call__(self, request):
        view = self.views.get(request.path_info)
        if view is None:
            return self.get_response(request)
        token = start_unqueued()
        try:
            return view(request)
        except OUTAGE_ERRORS as error:
            warn_once_in_a_while("answering 503", error)
            return unavailable_response(request)
        finally:
            reset_unqueued(token)


class PlayerPageShortcut:
    """Serves a public room's cached player page to an anonymous viewer right after the security
    and static-file middleware, skipping the session, CSRF, user, tenancy and message middleware
    (such a viewer has no session, and the page is the same for all of them). A miss, a private
    room or a signed-in member goes on through the whole stack (rooms.views.cached_player_page).
    """

    def __init__(self, get_response):
        from rooms.views import cached_player_page

        self.get_response = get_response
        self.cached_page = cached_player_page

    def __call__(self, request):
        return self.cached_page(request) or self.get_response(request)
