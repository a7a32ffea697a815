"""The site's URLs plus a page a later version might add (`/rooms/schedule/`, `/calendar/<id>`)."""

from django.http import HttpResponse
from django.urls import path

from portal.urls import handler404, handler500  # noqa: F401
from portal.urls import urlpatterns as site_urlpatterns


def _page(request, **kwargs):
    return HttpResponse("a page")


urlpatterns = [
    path("rooms/schedule/", _page),
    path("calendar/<str:public_id>", _page),
    *site_urlpatterns,
]
