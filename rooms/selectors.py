"""Reads about rooms: what members and viewers may see and what the pages need."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from organizations.tenancy import TenantObject

from . import credentials, endpoints, panels, quality
from .models import LiveSession, Quality, Room, Visibility


def is_member(*, room: Room, user) -> bool:
    return user.is_authenticated and room.organization.memberships.filter(user=user).exists()


def _viewer_is_member(*, room: Room, request) -> bool:
    # Asked several times while one player page or status poll is built: one query per request.
    memo = request.__dict__.setdefault("_room_memberships", {})
    if room.pk not in memo:
        memo[room.pk] = is_member(room=room, user=request.user)
    return memo[room.pk]


def embed_link_of(*, room: Room, request) -> credentials.EmbedLink | None:
    """The embed link the page was opened with (`?link=…`), if any.

    Raises credentials.CredentialError for a link that is tampered with, withdrawn or expired.
    """
    token = request.GET.get("link", "").strip()
    if not token:
        return None
    return credentials.read_embed_link(token, room=room)


def _valid_embed_link(*, room: Room, request) -> credentials.EmbedLink | None:
    try:
        return embed_link_of(room=room, request=request)
    except credentials.CredentialError:
        return None


def can_watch(*, room: Room, request) -> bool:
    """Public and unlisted rooms play for anyone; private ones for members and embed links."""
    if room.visibility != Visibility.PRIVATE:
        return True
    return _viewer_is_member(room=room, request=request) or _valid_embed_link(room=room, request=request) is not None


def room_status(*, room: Room, public: bool = False) -> dict:
    status = {
        "room": room.public_id,
        "state": room.live_state,
        "live": room.is_live,
        "viewers": room.viewer_count,
        "since": room.live_since.isoformat() if room.live_since else None,
    }
    if not public:
        status["protocol"] = room.ingest_protocol
    else:
        # Which of the player's sources the current stream has: the adaptive playlists or not.
        status["delivery"] = room.delivered_quality
    return status


def playback_token(*, room: Room, request) -> str | None:
    """A signed playback token for a private room's player; None for public and unlisted rooms.

    Members get one of their own; anyone else only through a valid embed link, and then the
    token never outlives the link. Call only after can_watch() said yes.
    """
    if room.visibility != Visibility.PRIVATE:
        return None
    if _viewer_is_member(room=room, request=request):
        return credentials.mint_playback_token(room_id=room.pk, user_id=request.user.pk)
    link = _valid_embed_link(room=room, request=request)
    if link is None:
        return None
    return credentials.mint_playback_token(room_id=room.pk, link=link)


def player_sources(*, room: Room, request) -> dict:
    token = playback_token(room=room, request=request)
    sources = {
        "webrtcUrl": endpoints.webrtc_play_url(room.public_id, token),
        # For viewers whose network lets neither UDP nor direct TCP through to OME.
        "webrtcRelayUrl": endpoints.webrtc_play_url(room.public_id, token, transport=endpoints.TRANSPORT_RELAY),
        "llhlsUrl": endpoints.llhls_play_url(room.public_id, token),
    }
    if Quality.ADAPTIVE in (room.quality, room.delivered_quality):
        # The same through the adaptive playlists (a quality menu), for streams that have them.
        webrtc, llhls = quality.WEBRTC_PLAYLIST, quality.LLHLS_PLAYLIST
        sources["adaptive"] = {
            "webrtcUrl": endpoints.webrtc_play_url(room.public_id, token, playlist=webrtc),
            "webrtcRelayUrl": endpoints.webrtc_play_url(
                room.public_id, token, transport=endpoints.TRANSPORT_RELAY, playlist=webrtc
            ),
            "llhlsUrl": endpoints.llhls_play_url(room.public_id, token, playlist=llhls),
        }
    return sources


def publisher_extras(*, room: Room, request) -> dict:
    # The page asks for a fresh single-use credential each time the member presses Go live.
    return {"credentialUrl": reverse("rooms:publish_credential", args=[room.public_id])}


def embed_snippet(embed_url: str) -> str:
    return (
        f'<iframe src="{embed_url}" width="640" height="360" '
        'allow="autoplay; fullscreen; picture-in-picture" allowfullscreen style="border:0"></iframe>'
    )


def recent_sessions(*, room: Room, limit: int = 10):
    return LiveSession.objects.filter(room=room).order_by("-started_at")[:limit]


def room_page_extras(*, room: Room, request) -> dict:
    return {
        "sessions": recent_sessions(room=room),
        "panels": panels.render_panels(room=room, request=request),
    }


def embed_link_url(*, request, room: Room, token: str) -> str:
    """The absolute /embed/ID URL carrying a signed embed link."""
    return request.build_absolute_uri(f"{reverse('embed', args=[room.public_id])}?{urlencode({'link': token})}")


# The room a member view's URL names (`<public_id>`): `member_required(of=ROOM_IN_URL)` finds it
# among the member's organizations and checks the role in the room's own organization.
ROOM_IN_URL = TenantObject(
    Room.objects.select_related("organization"), field="public_id", url_kwarg="public_id", arg="room"
)


def live_thumbnail_url(*, room: Room, base_url: str, link: str = "") -> str | None:
    """The absolute URL of a live room's thumbnail (rooms.thumbnails); None while it is offline."""
    if not room.is_live:
        return None
    url = base_url + reverse("watch_thumbnail", args=[room.public_id])
    return url + "?" + urlencode({"link": link}) if link else url


def link_card(*, room: Room, request) -> dict | None:
    """What the watch page tells link unfurlers (oEmbed discovery, Open Graph, Twitter player
    card); None for a private room, whose page says nothing about it to anyone but its viewers."""
    if room.visibility == Visibility.PRIVATE:
        return None
    base_url = f"{request.scheme}://{request.get_host()}"
    watch_url = base_url + reverse("watch", args=[room.public_id])
    return {
        "watch_url": watch_url,
        "embed_url": base_url + reverse("embed", args=[room.public_id]),
        "oembed_json": base_url + reverse("oembed") + "?" + urlencode({"url": watch_url, "format": "json"}),
        "oembed_xml": base_url + reverse("oembed") + "?" + urlencode({"url": watch_url, "format": "xml"}),
        "description": room.description or f"Watch {room.title} live.",
        "thumbnail_url": live_thumbnail_url(room=room, base_url=base_url),
        "width": 640,
        "height": 360,
    }


def player_qualities(*, room: Room) -> list[str]:
    """What the embed URL's `quality` option can ask of an adaptive room ("" for automatic)."""
    if room.quality != Quality.ADAPTIVE:
        return []
    return ["source", *(f"{height}p" for height, _bitrate in settings.ADAPTIVE_RENDITIONS)]
