"""Signed, expiring tokens that travel in OME URLs and embed links.

- A **publish credential** lets one member publish to one room from the browser. It is minted
  by the publisher page right before connecting, expires within minutes and works once (its
  nonce is burned in the cache when OME's admission webhook accepts it).
- A **playback token** lets a player open a private room's WebRTC or LL-HLS stream. Members
  get one on the player pages; viewers of an embed link get one that never outlives the link.
- An **embed link** is what an owner hands to a site that embeds a private room's player. It
  carries the room's `embed_link_generation`, so raising that number withdraws every link.

All of them are Django signatures (HMAC-SHA256 with SECRET_KEY and a purpose-specific salt),
checked in constant time by `django.core.signing`; nothing here is home-made cryptography.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core import signing
from django.core.cache import cache

from core.errors import PortalError

PUBLISH_SALT = "rooms.publish-credential"
PLAYBACK_SALT = "rooms.playback-token"
EMBED_LINK_SALT = "rooms.embed-link"

# An embed link works between an hour and a year; the room page offers presets in that range.
EMBED_LINK_MIN_SECONDS = 3600
EMBED_LINK_MAX_SECONDS = 366 * 24 * 3600


def publish_credential_seconds() -> int:
    return settings.PUBLISH_CREDENTIAL_SECONDS


def playback_token_seconds() -> int:
    # Players refresh their token with every status poll, so this only needs to cover the gap
    # between a poll and the connection OME checks.
    return settings.PLAYBACK_TOKEN_SECONDS


class CredentialError(Exception):
    """A credential, token or link that is refused; the message says why, in words."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


# --- Publish credentials -------------------------------------------------------------------


@dataclass(frozen=True)
class PublishCredential:
    room_id: int
    user_id: int
    nonce: str


def mint_publish_credential(*, room_id: int, user_id: int) -> str:
    payload = {"r": room_id, "u": user_id, "n": secrets.token_urlsafe(12)}
    return signing.dumps(payload, salt=PUBLISH_SALT)


def read_publish_credential(token: str) -> PublishCredential:
    try:
        payload = signing.loads(token, salt=PUBLISH_SALT, max_age=publish_credential_seconds())
    except signing.SignatureExpired:
        raise CredentialError("the publish credential expired: press Go live again", code="expired") from None
    except signing.BadSignature:
        raise CredentialError("the publish credential is not valid", code="invalid") from None
    try:
        return PublishCredential(room_id=int(payload["r"]), user_id=int(payload["u"]), nonce=str(payload["n"]))
    except (KeyError, TypeError, ValueError):
        raise CredentialError("the publish credential is not valid", code="invalid") from None


def burn_publish_credential(credential: PublishCredential) -> bool:
    """Mark the credential used; False when it was used before (a replay)."""
    # Kept a little longer than the credential lives, so it can never be accepted twice.
    return cache.add(f"publish-credential:{credential.nonce}", 1, timeout=publish_credential_seconds() + 60)


# --- Embed links ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EmbedLink:
    room_id: int
    generation: int
    expires_at: int  # epoch seconds

    @property
    def expires(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, tz=UTC)


def mint_embed_link(*, room, lifetime_seconds: int) -> tuple[str, EmbedLink]:
    from .models import Visibility

    if room.visibility != Visibility.PRIVATE:
        raise PortalError("This room is not private: its watch link and embed code work without a signed link.")
    if not EMBED_LINK_MIN_SECONDS <= lifetime_seconds <= EMBED_LINK_MAX_SECONDS:
        raise ValueError("an embed link lives between an hour and a year")
    link = EmbedLink(room.pk, room.embed_link_generation, int(time.time()) + lifetime_seconds)
    token = signing.dumps({"r": link.room_id, "g": link.generation, "x": link.expires_at}, salt=EMBED_LINK_SALT)
    return token, link


def withdraw_embed_links(*, room) -> None:
    """Make every embed link issued so far for the room stop working, at once."""
    from django.db.models import F

    from .facts import forget_room

    type(room).objects.filter(pk=room.pk).update(embed_link_generation=F("embed_link_generation") + 1)
    room.refresh_from_db(fields=["embed_link_generation"])
    forget_room(public_id=room.public_id)  # a queryset update sends no post_save


def read_embed_link(token: str, *, room) -> EmbedLink:
    """The link, if it is genuine, for this room, not withdrawn and not expired."""
    invalid = CredentialError(
        "This embed link is not valid. It may have been cut off when it was copied: "
        "ask the site that shows this player for the complete link.",
        code="invalid",
    )
    try:
        payload = signing.loads(token, salt=EMBED_LINK_SALT)
        link = EmbedLink(int(payload["r"]), int(payload["g"]), int(payload["x"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise invalid from None
    if link.room_id != room.pk:
        raise invalid
    if link.generation != room.embed_link_generation:
        raise CredentialError("This embed link was withdrawn by the stream's owners.", code="revoked")
    if link.expires_at <= time.time():
        raise CredentialError(
            f"This embed link expired on {link.expires:%Y-%m-%d at %H:%M} UTC. "
            "Ask the site that shows this player for a new one.",
            code="expired",
        )
    return link


# --- Playback tokens -----------------------------------------------------------------------


@dataclass(frozen=True)
class PlaybackToken:
    room_id: int
    expires_at: int  # epoch seconds: when the token stops opening new playbacks
    user_id: int | None = None  # a member's token
    generation: int | None = None  # an embed link's token: the link's generation ...
    link_expires_at: int | None = None  # ... and the link's expiry, which ends the playback

    @property
    def from_link(self) -> bool:
        return self.generation is not None


def mint_playback_token(*, room_id: int, user_id: int | None = None, link: EmbedLink | None = None) -> str:
    if (user_id is None) == (link is None):
        raise ValueError("a playback token is for a member or for an embed link")
    expires_at = int(time.time()) + playback_token_seconds()
    payload: dict = {"r": room_id}
    if link is not None:
        payload.update(g=link.generation, l=link.expires_at)
        expires_at = min(expires_at, link.expires_at)
    else:
        payload["u"] = user_id
    payload["x"] = expires_at
    return signing.dumps(payload, salt=PLAYBACK_SALT)


def read_playback_token(token: str) -> PlaybackToken:
    try:
        payload = signing.loads(token, salt=PLAYBACK_SALT)
        parsed = PlaybackToken(
            room_id=int(payload["r"]),
            expires_at=int(payload["x"]),
            user_id=int(payload["u"]) if "u" in payload else None,
            generation=int(payload["g"]) if "g" in payload else None,
            link_expires_at=int(payload["l"]) if "l" in payload else None,
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise CredentialError("the playback token is not valid", code="invalid") from None
    if (parsed.user_id is None) == (parsed.generation is None):
        raise CredentialError("the playback token is not valid", code="invalid")
    if parsed.expires_at <= time.time():
        raise CredentialError("the playback token expired: reload the player", code="expired")
    return parsed
