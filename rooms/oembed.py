"""oEmbed (https://oembed.com) for the room player: what a CMS, forum or chat app gets when it
asks `/oembed?url=…` about a watch or embed link, so that a pasted link becomes the player.

Answers for public and unlisted rooms' watch and embed links (`/watch/ID`, `/embed/ID`,
`/player.html?room=ID`) and for a private room's signed embed link (`/embed/ID?link=…`, the
player keeps the link); anything else — another site's URL, an unknown room, a private room
without a valid link — is "not found", so oEmbed never tells anyone that a private room exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.sax.saxutils import escape as xml_escape

from django.urls import Resolver404, resolve, reverse

from . import credentials
from .models import Room, Visibility

PROVIDER_NAME = "Streaming Stack"
# The player's frame by default, and the box of the live thumbnail (rooms.quality's THUMBNAIL_BOX).
DEFAULT_SIZE = (640, 360)
THUMBNAIL_SIZE = (640, 360)
# The embed URL options the player understands (static/js/player.js), kept in the iframe's src.
PLAYER_OPTIONS = ("autoplay", "muted", "controls", "quality")


@dataclass(frozen=True)
class PlayerLink:
    room: Room
    embed_url: str  # absolute, with the private room's link and the player options
    link_token: str = ""  # a private room's embed link


def link_base(url: str) -> str:
    """'scheme://host' of a URL (answers point at the address the consumer was given), or ''."""
    try:
        parts = urlsplit((url or "").strip())
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc.lower()}"


def read_link(url: str, *, hosts: set[str], base_url: str) -> PlayerLink | None:
    """The room a watch or embed link of this portal plays, if oEmbed may describe it."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or (parts.netloc or "").lower() not in hosts:
        return None
    try:
        match = resolve(parts.path or "/")
    except Resolver404:
        return None
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    if match.url_name in ("watch", "embed"):
        public_id = match.kwargs.get("public_id", "")
    elif match.url_name == "player_html":
        public_id = query.get("room", "")
    else:
        return None
    room = Room.objects.filter(public_id=public_id).select_related("organization").first()
    if room is None:
        return None
    kept = {name: query[name] for name in PLAYER_OPTIONS if name in query}
    if room.visibility == Visibility.PRIVATE:
        token = query.get("link", "")
        if match.url_name != "embed" or not token:
            return None
        try:
            credentials.read_embed_link(token, room=room)
        except credentials.CredentialError:
            return None
        kept["link"] = token
    embed_url = base_url + reverse("embed", args=[room.public_id])
    if kept:
        embed_url += "?" + urlencode(kept)
    return PlayerLink(room=room, embed_url=embed_url, link_token=kept.get("link", ""))


def fitted_size(maxwidth: int | None, maxheight: int | None) -> tuple[int, int]:
    """The player's 16:9 frame, as large as the default and within the consumer's limits."""
    width, height = DEFAULT_SIZE
    if maxwidth and maxwidth < width:
        width, height = maxwidth, round(maxwidth * 9 / 16)
    if maxheight and maxheight < height:
        width, height = round(maxheight * 16 / 9), maxheight
    return max(width, 1), max(height, 1)


def iframe_html(embed_url: str, *, title: str, width: int, height: int) -> str:
    return (
        f'<iframe src="{escape(embed_url)}" width="{width}" height="{height}" title="{escape(title)}" '
        'allow="autoplay; fullscreen; picture-in-picture" allowfullscreen style="border:0"></iframe>'
    )


def describe(
    link: PlayerLink, *, maxwidth: int | None, maxheight: int | None, base_url: str, thumbnail_url: str | None
) -> dict:
    width, height = fitted_size(maxwidth, maxheight)
    answer = {
        "version": "1.0",
        "type": "video",
        "provider_name": PROVIDER_NAME,
        "provider_url": base_url + "/",
        "title": link.room.title,
        "author_name": link.room.organization.name,
        "html": iframe_html(link.embed_url, title=link.room.title, width=width, height=height),
        "width": width,
        "height": height,
        "cache_age": 300,
    }
    if thumbnail_url:
        thumb_width, thumb_height = THUMBNAIL_SIZE
        if (maxwidth and maxwidth < thumb_width) or (maxheight and maxheight < thumb_height):
            return answer  # the spec: no thumbnail rather than one larger than asked
        answer.update(thumbnail_url=thumbnail_url, thumbnail_width=thumb_width, thumbnail_height=thumb_height)
    return answer


def as_xml(answer: dict) -> str:
    fields = "".join(f"<{name}>{xml_escape(str(value))}</{name}>" for name, value in answer.items())
    return f'<?xml version="1.0" encoding="utf-8" standalone="yes"?><oembed>{fields}</oembed>'
