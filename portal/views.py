"""Site-wide pages: the start page (and the original stack's `/?room=ID` publisher URL) and the
health check."""

from __future__ import annotations

from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from rooms.models import Room
from rooms.views import publisher

from . import health


@never_cache
def healthz(request):
    """Each dependency's state; 503 only when the database is down (see portal.health)."""
    status, body = health.report()
    return JsonResponse(body, status=status)


def home(request):
    """The landing page; `/?room=ID` is the original stack's publisher URL."""
    if "room" in request.GET:
        return publisher(request, public_id=request.GET["room"])
    live_rooms = Room.objects.listed().live().select_related("organization").order_by("-live_since")[:24]
    return render(request, "home.html", {"live_rooms": live_rooms})
