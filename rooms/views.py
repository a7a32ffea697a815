"""Room pages for members (list, settings, stream key, go live) and the public player pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_POST

from portal.errors import PortalError
from portal.models import Role
from portal.tenancy import get_member_object_or_404, member_required

from . import endpoints, selectors, services
from .forms import RoomForm
from .models import Room


def _room_for_member(request, public_id: str) -> Room:
    return get_member_object_or_404(request, Room.objects.select_related("organization"), public_id=public_id)


@member_required()
def room_list(request):
    rooms = Room.objects.for_organization(request.organization).order_by("title")
    return render(request, "rooms/list.html", {"rooms": rooms})


@member_required(Role.ADMIN)
def room_create(request):
    form = RoomForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            room = services.create_room(
                organization=request.organization,
                created_by=request.user,
                public_id=data.pop("public_id"),
                **data,
            )
        except PortalError as error:
            form.add_error(None, error.message)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Room “{room.title}” created. Go live from the browser or OBS.")
            return redirect("rooms:detail", public_id=room.public_id)
    return render(request, "rooms/form.html", {"form": form}, status=400 if form.errors else 200)


@member_required()
def room_detail(request, public_id: str):
    room = _room_for_member(request, public_id)
    embed_url = request.build_absolute_uri(reverse("embed", args=[room.public_id]))
    context = {
        "room": room,
        "rtmp_server_url": endpoints.rtmp_server_url(),
        "watch_url": request.build_absolute_uri(reverse("watch", args=[room.public_id])),
        "embed_code": selectors.embed_snippet(embed_url),
        "can_manage": request.membership.can_manage_rooms,
        **selectors.room_page_extras(room=room, request=request),
    }
    return render(request, "rooms/detail.html", context)


@member_required(Role.ADMIN)
def room_edit(request, public_id: str):
    room = _room_for_member(request, public_id)
    form = RoomForm(request.POST or None, instance=room)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_room(room=room, **{name: form.cleaned_data[name] for name in form.fields})
        except PortalError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Room settings saved.")
            return redirect("rooms:detail", public_id=room.public_id)
    return render(request, "rooms/form.html", {"form": form, "room": room}, status=400 if form.errors else 200)


@member_required(Role.ADMIN)
def room_delete(request, public_id: str):
    room = _room_for_member(request, public_id)
    if request.method == "POST":
        try:
            services.delete_room(room=room)
        except PortalError as error:
            messages.error(request, error.message)
            return redirect("rooms:detail", public_id=room.public_id)
        messages.success(request, f"Room “{room.title}” deleted.")
        return redirect("rooms:list")
    return render(request, "rooms/confirm_delete.html", {"room": room})


@never_cache
@require_POST
@member_required()
def stream_key(request, public_id: str):
    """The stream key, on demand (POST, never cached), for the member's OBS settings."""
    room = _room_for_member(request, public_id)
    return JsonResponse({"stream_key": room.stream_key, "srt_url": endpoints.srt_publish_url(room.stream_key)})


@require_POST
@member_required(Role.ADMIN)
def rotate_key(request, public_id: str):
    room = _room_for_member(request, public_id)
    services.rotate_stream_key(room=room)
    messages.success(request, "New stream key created. The old key no longer works: update OBS.")
    return redirect("rooms:detail", public_id=room.public_id)


@never_cache
@member_required()
def room_status(request, public_id: str):
    room = _room_for_member(request, public_id)
    return JsonResponse(selectors.room_status(room=room))


@never_cache
def publisher(request, public_id: str):
    """The browser publisher: camera/mic/screen, preview, Go live. Members only."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not request.membership:
        raise Http404("No such room.")
    room = _room_for_member(request, public_id)
    config = {
        "roomId": room.public_id,
        "webrtcUrl": endpoints.webrtc_publish_url(room.public_id),
        "statusUrl": reverse("rooms:status", args=[room.public_id]),
        **selectors.publisher_extras(room=room, request=request),
    }
    return render(request, "rooms/publish.html", {"room": room, "config": config})


# --- The player: public pages, framed only by the room's allowed origins -------------------


def _room_for_viewer(request, public_id: str) -> Room:
    room = Room.objects.filter(public_id=public_id).select_related("organization").first()
    if room is None:
        raise Http404("No such room.")
    if not selectors.can_watch(room=room, request=request):
        if not request.user.is_authenticated:
            raise _LoginRequired()
        raise Http404("No such room.")
    return room


class _LoginRequired(Exception):
    pass


def _player(request, public_id: str | None, template: str):
    if not public_id:
        raise Http404("Which room? Add ?room=ROOM_ID to the address.")
    try:
        room = _room_for_viewer(request, public_id)
    except _LoginRequired:
        return redirect_to_login(request.get_full_path())
    config = {
        "roomId": room.public_id,
        "title": room.title,
        "statusUrl": reverse("watch_status", args=[room.public_id]),
        **selectors.player_sources(room=room, request=request),
    }
    response = render(request, template, {"room": room, "config": config})
    response["Content-Security-Policy"] = f"frame-ancestors {room.frame_ancestors}"
    return response


@xframe_options_exempt
def watch(request, public_id: str):
    return _player(request, public_id, "player/watch.html")


@xframe_options_exempt
def embed(request, public_id: str):
    return _player(request, public_id, "player/embed.html")


@xframe_options_exempt
def player_html(request):
    """The original stack's player URL, /player.html?room=ID, as embedded in existing iframes."""
    return _player(request, request.GET.get("room", "").strip(), "player/embed.html")


def watch_status(request, public_id: str):
    """Live state for players. Polled by every viewer, so kept to one indexed query."""
    try:
        room = _room_for_viewer(request, public_id)
    except _LoginRequired:
        raise Http404("No such room.") from None
    response = JsonResponse(selectors.room_status(room=room, public=True))
    response["Cache-Control"] = "no-cache, max-age=0"
    return response
