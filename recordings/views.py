"""Recording pages and actions of a room: start, stop, play, download (with Range), delete."""

from __future__ import annotations

from django.http import JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.errors import PortalError
from core.responses import action_answer
from organizations.tenancy import get_for_organization_or_404, member_required
from rooms.models import Room
from rooms.selectors import ROOM_IN_URL as ROOM

from . import files, selectors, services
from .models import Recording
from .ranges import serve_recording


def _recording(room: Room, recording_id: int) -> Recording:
    return get_for_organization_or_404(
        Recording.objects.filter(room=room).select_related("room__organization"), room.organization, pk=recording_id
    )


def _answer(request, room: Room, *, error: PortalError | None = None, done: str = ""):
    return action_answer(request, back_to=room.get_absolute_url(), error=error, done=done)


@never_cache
@member_required(of=ROOM)
def recordings_panel(request, room: Room):
    """The room page's Recordings panel, re-fetched by the page to stay current."""
    html = render_to_string(
        "recordings/panel.html",
        {"room": room, "embedded": True, **selectors.panel_context(room=room, request=request)},
        request=request,
    )
    return JsonResponse({"html": html})


@require_POST
@member_required(of=ROOM)
def recording_start(request, room: Room):
    try:
        services.start_recording(room=room, requested_by=request.user)
    except PortalError as error:
        return _answer(request, room, error=error)
    done = "Recording started." if room.is_live else "Recording armed: it starts when the room goes live."
    return _answer(request, room, done=done)


@require_POST
@member_required(of=ROOM)
def recording_stop(request, room: Room, recording_id: int):
    services.stop_recording(recording=_recording(room, recording_id))
    return _answer(request, room, done="Stopping the recording; it appears in the list when the file is ready.")


@member_required(of=ROOM)
def recording_delete(request, room: Room, recording_id: int):
    recording = _recording(room, recording_id)
    if request.method != "POST":
        return render(request, "recordings/confirm_delete.html", {"room": room, "recording": recording})
    try:
        files.delete_recording(recording=recording)
    except PortalError as error:
        return _answer(request, room, error=error)
    return _answer(request, room, done="Recording deleted.")


@member_required(of=ROOM)
def recording_detail(request, room: Room, recording_id: int):
    recording = _recording(room, recording_id)
    return render(request, "recordings/detail.html", {"room": room, "recording": recording})


@member_required(of=ROOM)
def recording_file(request, room: Room, recording_id: int):
    recording = _recording(room, recording_id)
    return serve_recording(request, recording, as_attachment=request.GET.get("download") == "1")
