"""Restream pages and actions on a room: destinations, start/stop/retry, live status."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.errors import PortalError
from core.responses import action_answer
from organizations.tenancy import get_for_organization_or_404, member_required
from rooms.models import Room
from rooms.selectors import ROOM_IN_URL as ROOM

from . import selectors, services
from .forms import DestinationForm
from .models import Destination, Push


def _destination(room: Room, destination_id: int) -> Destination:
    return get_for_organization_or_404(
        Destination.objects.filter(room=room).select_related("room__organization"),
        room.organization,
        pk=destination_id,
    )


def _push(room: Room, push_id: int) -> Push:
    return get_for_organization_or_404(
        Push.objects.filter(room=room).select_related("room__organization", "destination"),
        room.organization,
        pk=push_id,
    )


def _answer(request, room: Room, *, push: Push | None = None, error: PortalError | None = None, done: str = ""):
    data = None
    if push is not None and error is None:
        push.refresh_from_db()  # with eager tasks (local runs) OME has already answered
        data = selectors.push_status(push)
    return action_answer(request, back_to=room.get_absolute_url(), data=data, error=error, done=done)


@never_cache
@member_required(of=ROOM)
def restream_status(request, room: Room):
    return JsonResponse(selectors.restream_status(room=room))


def _destination_form(request, room: Room, destination: Destination | None):
    form = DestinationForm(request.POST or None, instance=destination)
    if request.method == "POST" and form.is_valid():
        fields = {name: form.cleaned_data[name] for name in services.DESTINATION_FIELDS}
        try:
            if destination is None:
                services.add_destination(room=room, **fields)
            else:
                services.update_destination(destination=destination, **fields)
        except PortalError as error:
            form.add_error(None, error.message)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Destination saved." if destination else "Destination added.")
            return redirect("rooms:detail", public_id=room.public_id)
    status = 400 if form.errors else 200
    context = {"form": form, "room": room, "destination": destination}
    return render(request, "broadcasts/destination_form.html", context, status=status)


@member_required(of=ROOM)
def destination_create(request, room: Room):
    return _destination_form(request, room, None)


@member_required(of=ROOM)
def destination_edit(request, room: Room, destination_id: int):
    return _destination_form(request, room, _destination(room, destination_id))


@member_required(of=ROOM)
def destination_delete(request, room: Room, destination_id: int):
    destination = _destination(room, destination_id)
    if request.method != "POST":
        return render(request, "broadcasts/destination_delete.html", {"room": room, "destination": destination})
    try:
        services.delete_destination(destination=destination)
    except PortalError as error:
        return _answer(request, room, error=error)
    return _answer(request, room, done=f"Destination “{destination.name}” deleted.")


@require_POST
@member_required(of=ROOM)
def push_start(request, room: Room, destination_id: int):
    destination = _destination(room, destination_id)
    try:
        push = services.start_push(destination=destination, requested_by=request.user)
    except PortalError as error:
        return _answer(request, room, error=error)
    return _answer(request, room, push=push, done=f"Restream to “{destination.name}” requested.")


@require_POST
@member_required(of=ROOM)
def push_stop(request, room: Room, push_id: int):
    push = services.stop_push(push=_push(room, push_id))
    return _answer(request, room, push=push, done="Stopping the restream.")


@require_POST
@member_required(of=ROOM)
def push_retry(request, room: Room, push_id: int):
    try:
        push = services.retry_push(push=_push(room, push_id), requested_by=request.user)
    except PortalError as error:
        return _answer(request, room, error=error)
    return _answer(request, room, push=push, done="Restream requested again.")
