"""Room pages for members (list, settings, stream key, go live) and the public player pages."""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_cache_control, patch_vary_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_POST

from core.errors import PortalError
from organizations.models import Role
from organizations.tenancy import member_required, switch_organization

from . import credentials, endpoints, oembed, pages, playability, selectors, services, thumbnails
from .forms import EmbedLinkForm, RoomForm
from .models import LiveState, Quality, Room, Visibility

ROOM = selectors.ROOM_IN_URL


def _select_rooms_organization(request, room: Room) -> None:
    """Pages a member navigates to switch the selected organization to the room's (after the check)."""
    if request.session.get("organization_id") != room.organization_id:
        switch_organization(request, room.organization_id)


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
            form.add_error(getattr(error, "field", None), error.message)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Room “{room.title}” created. Go live from the browser or OBS.")
            return redirect("rooms:detail", public_id=room.public_id)
    return render(request, "rooms/form.html", {"form": form}, status=400 if form.errors else 200)


def _render_detail(request, room: Room, *, status: int = 200, **extra):
    embed_url = request.build_absolute_uri(reverse("embed", args=[room.public_id]))
    can_manage = request.membership.can_manage_rooms
    watch_url = request.build_absolute_uri(reverse("watch", args=[room.public_id]))
    context = {
        "room": room,
        "rtmp_server_url": endpoints.rtmp_server_url(),
        "watch_url": watch_url,
        "embed_url": embed_url,
        "embed_code": selectors.embed_snippet(embed_url),
        "player_qualities": selectors.player_qualities(room=room),
        "oembed_url": request.build_absolute_uri(reverse("oembed")) + "?" + urlencode({"url": watch_url}),
        "embed_script_url": request.build_absolute_uri(settings.STATIC_URL + "embed.js"),
        "can_manage": can_manage,
        "embed_link_form": EmbedLinkForm() if can_manage else None,
        **selectors.room_page_extras(room=room, request=request),
        **extra,
    }
    return render(request, "rooms/detail.html", context, status=status)


@member_required(of=ROOM)
def room_detail(request, room: Room):
    _select_rooms_organization(request, room)
    return _render_detail(request, room)


@never_cache
@require_POST
@member_required(Role.ADMIN, of=ROOM)
def embed_link_create(request, room: Room):
    """A signed, expiring embed link that plays this private room for anyone who has it."""
    form = EmbedLinkForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, room, status=400, embed_link_form=form)
    try:
        token, link = credentials.mint_embed_link(room=room, lifetime_seconds=form.cleaned_data["lifetime"])
    except PortalError as error:
        messages.error(request, error.message)
        return _render_detail(request, room, status=400)
    url = selectors.embed_link_url(request=request, room=room, token=token)
    return _render_detail(
        request,
        room,
        new_embed_link={
            "url": url,
            "snippet": selectors.embed_snippet(url),
            "expires": link.expires,
            "lifetime": form.lifetime_label(),
        },
    )


@require_POST
@member_required(Role.ADMIN, of=ROOM)
def embed_links_revoke(request, room: Room):
    credentials.withdraw_embed_links(room=room)
    messages.success(request, "Every embed link of this room stopped working. Sites that show it need a new link.")
    return redirect("rooms:detail", public_id=room.public_id)


@member_required(Role.ADMIN, of=ROOM)
def room_edit(request, room: Room):
    form = RoomForm(request.POST or None, instance=room)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_room(room=room, **{name: form.cleaned_data[name] for name in form.fields})
        except PortalError as error:
            form.add_error(getattr(error, "field", None), error.message)
        else:
            messages.success(request, "Room settings saved.")
            return redirect("rooms:detail", public_id=room.public_id)
    return render(request, "rooms/form.html", {"form": form, "room": room}, status=400 if form.errors else 200)


@member_required(Role.ADMIN, of=ROOM)
def room_delete(request, room: Room):
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
@member_required(of=ROOM)
def stream_key(request, room: Room):
    """The stream key, on demand (POST, never cached), for the member's OBS settings."""
    return JsonResponse({"stream_key": room.stream_key, "srt_url": endpoints.srt_publish_url(room.stream_key)})


@never_cache
@require_POST
def publish_credential(request, public_id: str):
    """A single-use credential for the browser publisher, in the WebRTC URL OvenLiveKit opens."""
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "Your session has ended: sign in again to go live."}, status=403)
    room = Room.objects.select_related("organization").filter(public_id=public_id).first()
    if room is None or not selectors.is_member(room=room, user=request.user):
        return JsonResponse({"detail": "No such room."}, status=404)
    if not room.is_enabled:
        return JsonResponse({"detail": "This room is disabled by the operators and cannot go live."}, status=403)
    if room.organization.is_suspended:
        return JsonResponse(
            {"detail": f"{room.organization.name} is suspended: nobody can go live right now."}, status=403
        )
    credential = credentials.mint_publish_credential(room_id=room.pk, user_id=request.user.pk)
    return JsonResponse({"url": endpoints.webrtc_publish_url(room.public_id, credential)})


@require_POST
@member_required(Role.ADMIN, of=ROOM)
def rotate_key(request, room: Room):
    services.rotate_stream_key(room=room)
    messages.success(request, "New stream key created. The old key no longer works: update OBS.")
    return redirect("rooms:detail", public_id=room.public_id)


@never_cache
@member_required(of=ROOM)
def room_status(request, room: Room):
    return JsonResponse(selectors.room_status(room=room))


@never_cache
@member_required(of=ROOM)
def publisher(request, room: Room):
    """The browser publisher: camera/mic/screen, preview, Go live. Members only."""
    _select_rooms_organization(request, room)
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
        if room.visibility == Visibility.PRIVATE and request.GET.get("link"):
            try:
                selectors.embed_link_of(room=room, request=request)
            except credentials.CredentialError as error:
                raise _LinkRefused(room, error.message) from None
        if not request.user.is_authenticated:
            raise _LoginRequired()
        raise Http404("No such room.")
    return room


class _LoginRequired(Exception):
    pass


class _LinkRefused(Exception):
    def __init__(self, room: Room, message: str):
        super().__init__(message)
        self.room = room
        self.message = message


def _framable(response, room: Room):
    response["Content-Security-Policy"] = f"frame-ancestors {room.frame_ancestors}"
    return response


def _player(request, public_id: str | None, template: str, *, allowed_query: frozenset[str] = frozenset()):
    if not public_id:
        raise Http404("Which room? Add ?room=ROOM_ID to the address.")
    try:
        room = _room_for_viewer(request, public_id)
    except _LoginRequired:
        return redirect_to_login(request.get_full_path())
    except _LinkRefused as refused:
        # Shown inside the embedding site's iframe: a short page in words, never a trace.
        page = render(
            request, "player/unavailable.html", {"room": refused.room, "message": refused.message}, status=403
        )
        return _framable(page, refused.room)
    status_url = reverse("watch_status", args=[room.public_id])
    if room.visibility == Visibility.PRIVATE and request.GET.get("link"):
        status_url += "?" + urlencode({"link": request.GET["link"]})
    config = {
        "roomId": room.public_id,
        "title": room.title,
        "statusUrl": status_url,
        "delivery": room.delivered_quality,
        # Where the player may report its events (postMessage): the sites allowed to embed it.
        "embedOrigins": room.embed_origins,
        "roomAdaptive": room.quality == Quality.ADAPTIVE,
        **selectors.player_sources(room=room, request=request),
    }
    thumbnail_url = reverse("watch_thumbnail", args=[room.public_id])
    query = {"placeholder": "1"}
    if room.visibility == Visibility.PRIVATE and request.GET.get("link"):
        query["link"] = request.GET["link"]
    context = {
        "room": room,
        "config": config,
        "thumbnail_url": f"{thumbnail_url}?{urlencode(query)}",
        "card": selectors.link_card(room=room, request=request),
    }
    if room.is_live and room.visibility != Visibility.PRIVATE:
        # Link cards show the live picture; a private room's is for members only.
        context["og_image"] = request.build_absolute_uri(thumbnail_url)
    response = _framable(render(request, template, context), room)
    if room.visibility == Visibility.PRIVATE:
        # The page holds a playback token: never in a shared cache, never reused.
        add_never_cache_headers(response)
        patch_cache_control(response, private=True)
        return response
    if pages.cacheable(request, allowed_query=allowed_query):
        pages.remember(request, response, public_id=room.public_id, template=template)
    return pages.revalidated(request, response)


# The embed URL's options are read by the page's script: the page itself is the same with or without them.
PLAYER_OPTIONS = frozenset(oembed.PLAYER_OPTIONS)
# url name -> template, and the query parameters an anonymous viewer's cached page may have.
_PLAYER_PAGES = {
    "watch": ("player/watch.html", frozenset()),
    "embed": ("player/embed.html", PLAYER_OPTIONS),
    "player_html": ("player/embed.html", PLAYER_OPTIONS | {"room"}),
}


# The player pages' paths, matched without resolving the whole URLconf (a fifth of a cached
# page's time): /watch/ID, /embed/ID (see portal/urls.py) and /player.html.
_PLAYER_PATH = re.compile(r"^/(?:(?P<page>watch|embed)/(?P<public_id>[^/]+)|(?P<player_html>player\.html))$")


def cached_player_page(request):
    """The cached page of a public or unlisted room for an anonymous viewer, or None.

    Called by portal.middleware.PlayerPageShortcut ahead of the session, user, tenancy and
    message middleware, which have nothing to do for such a viewer."""
    if request.method not in ("GET", "HEAD"):
        return None
    match = _PLAYER_PATH.match(request.path_info)
    if match is None:
        return None
    url_name = "player_html" if match["player_html"] else match["page"]
    template, allowed_query = _PLAYER_PAGES[url_name]
    if not pages.cacheable(request, allowed_query=allowed_query):
        return None
    public_id = match["public_id"] or request.GET.get("room", "").strip()
    return pages.cached(request, public_id=public_id, template=template) if public_id else None


@xframe_options_exempt
def watch(request, public_id: str):
    return _player(request, public_id, _PLAYER_PAGES["watch"][0])


@xframe_options_exempt
def embed(request, public_id: str):
    template, allowed_query = _PLAYER_PAGES["embed"]
    return _player(request, public_id, template, allowed_query=allowed_query)


@xframe_options_exempt
def player_html(request):
    """The original stack's player URL, /player.html?room=ID, as embedded in existing iframes."""
    template, allowed_query = _PLAYER_PAGES["player_html"]
    return _player(request, request.GET.get("room", "").strip(), template, allowed_query=allowed_query)


def oembed_view(request):
    """oEmbed for watch and embed links (rooms.oembed): JSON, or XML if asked; 404 for anything else."""
    answer_format = request.GET.get("format", "json")
    if answer_format not in ("json", "xml"):
        return HttpResponse("Only the json and xml formats are available.", status=501, content_type="text/plain")
    try:
        maxwidth, maxheight = (_positive(request.GET.get(name)) for name in ("maxwidth", "maxheight"))
    except ValueError:
        return JsonResponse({"detail": "maxwidth and maxheight are whole numbers of pixels."}, status=400)
    url = request.GET.get("url", "")
    link_base = oembed.link_base(url)
    hosts = {request.get_host().lower(), settings.DOMAIN.lower(), urlsplit(settings.PUBLIC_URL).netloc.lower()}
    link = oembed.read_link(url, hosts=hosts, base_url=link_base) if link_base else None
    if link is None:
        return JsonResponse({"detail": "No player for this URL."}, status=404)
    answer = oembed.describe(
        link,
        maxwidth=maxwidth,
        maxheight=maxheight,
        base_url=link_base,
        thumbnail_url=selectors.live_thumbnail_url(room=link.room, base_url=link_base, link=link.link_token),
    )
    if answer_format == "xml":
        response = HttpResponse(oembed.as_xml(answer), content_type="text/xml; charset=utf-8")
    else:
        response = JsonResponse(answer)
    if link.room.visibility == Visibility.PRIVATE:
        add_never_cache_headers(response)
        patch_cache_control(response, private=True)
    else:
        patch_cache_control(response, public=True, max_age=60)
    return response


def _positive(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    number = int(value)
    if number <= 0:
        raise ValueError(value)
    return number


def watch_status(request, public_id: str):
    """Live state for players. Polled by every viewer, so kept to one indexed query (two for a
    member of a private room, whose player also gets fresh tokenized sources with each poll).

    `?known=STATE` (the state the player shows) makes it a long poll: the answer comes as soon
    as the room's state is another (a room starting becomes playable: rooms.playability), or
    after WATCH_STATUS_WAIT_SECONDS with the same state."""
    try:
        room = _room_for_viewer(request, public_id)
    except (_LoginRequired, _LinkRefused):
        raise Http404("No such room.") from None
    known = request.GET.get("known", "")
    # A live room's next change (its end) is no hurry: only players waiting for it to start wait,
    # including those of a room the reconcile loop marked live before OME serves its stream.
    waits = known == room.live_state != LiveState.LIVE or (
        known and known != LiveState.LIVE and room.live_state == LiveState.LIVE
    )
    if waits and playability.wait_for_change(
        public_id=room.public_id, known=known, seconds=settings.WATCH_STATUS_WAIT_SECONDS
    ):
        try:
            room = _room_for_viewer(request, public_id)  # fresh, and still the viewer's to watch
        except (_LoginRequired, _LinkRefused):
            raise Http404("No such room.") from None
    status = selectors.room_status(room=room, public=True)
    if room.visibility == Visibility.PRIVATE:
        status["sources"] = selectors.player_sources(room=room, request=request)
    response = JsonResponse(status)
    if room.visibility == Visibility.PRIVATE:
        add_never_cache_headers(response)
        patch_cache_control(response, private=True)
    else:
        response["Cache-Control"] = "no-cache, max-age=0"
    return response


# A transparent 1x1 GIF: what the portal's own pages get (`?placeholder=1`) while a room has no
# image, so that a room going live needs no reload and browsers log no failed request meanwhile.
NO_THUMBNAIL_GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"


def watch_thumbnail(request, public_id: str):
    """The live room's current thumbnail, for whoever may watch it (the player page's rules:
    anyone for public and unlisted rooms; members and valid embed links for private ones).
    404 while the room is offline or OME has no image yet (the placeholder with `?placeholder=1`)."""
    try:
        room = _room_for_viewer(request, public_id)
    except (_LoginRequired, _LinkRefused):
        raise Http404("No such room.") from None
    image = thumbnails.live_thumbnail(room) if room.is_live else None
    if image is None:
        if request.GET.get("placeholder"):
            response = HttpResponse(NO_THUMBNAIL_GIF, content_type="image/gif")
            add_never_cache_headers(response)
            return response
        raise Http404("This room has no live thumbnail now.")
    response = HttpResponse(image, content_type="image/jpeg")
    seconds = settings.THUMBNAIL_CACHE_SECONDS
    if room.visibility == Visibility.PRIVATE:
        patch_cache_control(response, private=True, max_age=seconds)
        patch_vary_headers(response, ["Cookie"])
    else:
        patch_cache_control(response, public=True, max_age=seconds)
    return response
