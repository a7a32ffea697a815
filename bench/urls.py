"""The portal's URLs plus the baselines of bench/admission.py, served by the same gunicorn.

Both baselines live under /ome/ like the webhook, so the same middleware and settings apply.
"""

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from portal.urls import urlpatterns as portal_urlpatterns
from rooms.models import Room


@csrf_exempt
@require_POST
def bare(request):
    """The least a Django view can do with a webhook: read the body, answer JSON."""
    _ = request.body
    return JsonResponse({"allowed": True})


@csrf_exempt
@require_POST
def bare_query(request):
    """The same plus one indexed query, the floor of any answer that looks at a room."""
    _ = request.body
    Room.objects.filter(public_id="bench-public").only("pk").first()
    return JsonResponse({"allowed": True})


@csrf_exempt
def bare_any(request):
    """The baseline of `python -m bench`: a bare Django view returning a fixed JSON body, GET or
    POST, outside /ome/ so that it goes through the site's whole middleware stack."""
    _ = request.body
    return JsonResponse({"allowed": True})


urlpatterns = [
    path("bench/bare", bare_any),
    path("ome/bare", bare),
    path("ome/bare-query", bare_query),
    *portal_urlpatterns,
]
