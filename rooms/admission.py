"""OME's admission webhook: who may publish to a room and who may watch it.

OME (AdmissionWebhooks, see docs/access-control/admission-webhooks.md) POSTs a signed JSON
request when a publisher or a player opens a stream and again when it closes. This module
verifies and parses those requests and decides; `rooms.webhook` is the HTTP view around it.

Publishing (`incoming`):
- the browser publisher connects with `?credential=…` (minted by the publisher page for one
  member and one room, valid for minutes, usable once);
- OBS and other encoders (RTMP, SRT, WHIP) use the room's stream key as the stream name. The
  answer rewrites the URL to the room's public id (`new_url`), so the key never becomes a
  stream name that players or OME's API would show.
Playing (`outgoing`, WebRTC and LL-HLS): public and unlisted rooms play for anyone; private
rooms need a playback token (`?token=…`) minted for a member or from an embed link. LL-HLS is
protected the same way rather than with OME's SignedPolicy: OME asks the webhook when a player
requests `llhls.m3u8`, so one mechanism and one token cover both protocols. The token gates the
start of a playback session (OME does not ask again for each segment), which is why tokens are
short-lived and players get fresh ones with every status poll.

It is on the hot path of every viewer: the rooms' and memberships' facts come from the shared
cache (rooms.facts, dropped at once by every change), so an answer usually costs no query at
all and never an OME call.
State changes go to Celery after commit (rooms.tasks) and viewer counts to the cache. The one
OME call is on a rare publisher path: an encoder asking to publish to a room the database
says is live, to tell a reconnect after an OME crash from a second publisher.

While Redis (cache and queue) is down, decisions still come from the database: viewers are
admitted without being counted, OBS publishers without the one-publisher slot (the database's
live state still refuses a second one; the answer's reason says so), and go-live/offline
are left to the reconcile loop. A browser publish credential is refused then: its single use
cannot be guaranteed, and an accepted credential that could be replayed for the rest of its
lifetime would let a copied publisher URL take over the room; pressing Go live again a few
seconds later works, and OBS keys keep working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, unquote, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core.cache import cache

from core import jsonbody
from core.crypto import secret_digest
from core.outage import CACHE_ERRORS, cache_optional, warn_once_in_a_while
from core.queue import enqueue_on_commit
from ome.client import OmeClient, OmeError, OmeNotFound

from . import credentials, facts, tasks, viewers
from .models import LiveState, Visibility
from .services import STARTING_GRACE_SECONDS

logger = logging.getLogger(__name__)

INCOMING, OUTGOING = "incoming", "outgoing"
OPENING, CLOSING = "opening", "closing"
# Protocols whose players count as viewers (a thumbnail request is not somebody watching).
VIEWER_PROTOCOLS = {"webrtc", "llhls", "hls", "dash", "srt"}


class BadRequest(ValueError):
    """A request that is not a well-formed admission request (answered 400 with the reason)."""


# --- Signature -----------------------------------------------------------------------------


def sign(body: bytes, secret: str) -> str:
    """X-OME-Signature as OME sends it: base64url(HMAC-SHA1(secret, body)) without '=' padding."""
    digest = hmac.new(secret.encode(), body, hashlib.sha1).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signature_is_valid(body: bytes, signature: str | None, secret: str) -> bool:
    """Constant-time check of the raw body's signature; accepts it with or without padding."""
    if not signature or not secret:
        return False
    given = signature.strip().rstrip("=").encode()
    return hmac.compare_digest(given, sign(body, secret).encode())


def max_age_seconds() -> int:
    return settings.OME_WEBHOOK_MAX_AGE


# --- Parsing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamUrl:
    """scheme://host[:port]/app/stream[/file…][?query] as OME reports it."""

    scheme: str
    netloc: str
    app: str
    stream: str
    rest: tuple[str, ...]
    query: dict[str, str]

    @classmethod
    def parse(cls, url: str) -> StreamUrl:
        try:
            parts = urlsplit(url)
        except ValueError:  # an unclosed "[" or a bracketed host that is no IPv6 address
            raise BadRequest(f"request.url is not a stream URL: {url[:200]!r}") from None
        if not parts.scheme or not parts.netloc:
            raise BadRequest(f"request.url is not a stream URL: {url[:200]!r}")
        segments = [unquote(segment) for segment in parts.path.split("/")[1:]]
        app = segments[0] if segments else ""
        stream = segments[1] if len(segments) > 1 else ""
        query = {name: values[-1] for name, values in parse_qs(parts.query, keep_blank_values=True).items()}
        # PostgreSQL cannot hold NUL in text: such a name is no room's, key's or token's.
        if any("\x00" in text for text in (parts.netloc, *segments, *query, *query.values())):
            raise BadRequest("request.url contains a NUL byte")
        return cls(parts.scheme.lower(), parts.netloc, app, stream, tuple(segments[2:]), query)

    @property
    def is_llhls(self) -> bool:
        return bool(self.rest) and self.rest[-1].endswith(".m3u8")

    def with_stream(self, stream: str, *, keep_query: tuple[str, ...] = ()) -> str:
        """The same scheme, host, port, app and file with another stream name (OME's new_url rule)."""
        path = "/".join(["", self.app, stream, *self.rest])
        query = urlencode({name: self.query[name] for name in keep_query if name in self.query})
        return urlunsplit((self.scheme, self.netloc, path, query, ""))


@dataclass(frozen=True)
class AdmissionRequest:
    direction: str
    status: str
    protocol: str
    url: StreamUrl
    new_url: StreamUrl | None
    time: datetime
    client_address: str
    client_port: int
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def client(self) -> str:
        return f"{self.client_address}:{self.client_port}"

    @property
    def final_url(self) -> StreamUrl:
        """The URL OME actually served: the rewritten one when the portal sent a new_url."""
        return self.new_url or self.url


def _field(container: dict, name: str, kind: type, where: str):
    value = container.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        wanted = {str: "a string", int: "a number", dict: "an object"}[kind]
        raise BadRequest(f"{where}.{name} must be {wanted}")
    return value


def _parse_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"request.time is not an ISO 8601 time: {value[:40]!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse(body: bytes) -> AdmissionRequest:
    """The admission request in `body`; unknown fields (newer OME versions add some) are ignored."""
    try:
        data = jsonbody.loads(body)
    except ValueError as error:
        raise BadRequest(f"the body is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object with 'client' and 'request'")
    client = _field(data, "client", dict, "body")
    request = _field(data, "request", dict, "body")
    address = _field(client, "address", str, "client")
    port = _field(client, "port", int, "client")
    direction = _field(request, "direction", str, "request").lower()
    if direction not in (INCOMING, OUTGOING):
        raise BadRequest("request.direction must be 'incoming' or 'outgoing'")
    status = _field(request, "status", str, "request").lower()
    if status not in (OPENING, CLOSING):
        raise BadRequest("request.status must be 'opening' or 'closing'")
    protocol = _field(request, "protocol", str, "request").lower()
    url = StreamUrl.parse(_field(request, "url", str, "request"))
    new_url = request.get("new_url")
    if new_url is not None and not isinstance(new_url, str):
        raise BadRequest("request.new_url must be a string")
    return AdmissionRequest(
        direction=direction,
        status=status,
        protocol=protocol,
        url=url,
        new_url=StreamUrl.parse(new_url) if new_url else None,
        time=_parse_time(_field(request, "time", str, "request")),
        client_address=address,
        client_port=port,
        extra={"real_ip": client.get("real_ip"), "user_agent": client.get("user_agent")},
    )


def is_stale(request: AdmissionRequest, *, now: float | None = None) -> bool:
    """True when the request was signed too long ago (or too far ahead) to be a live request."""
    limit = max_age_seconds()
    if limit <= 0:
        return False
    now = time.time() if now is None else now
    return abs(now - request.time.timestamp()) > limit


# --- Decisions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    allowed: bool
    reason: str = ""
    new_url: str | None = None
    lifetime_ms: int | None = None

    def as_json(self) -> dict:
        data: dict = {"allowed": self.allowed}
        if self.new_url:
            data["new_url"] = self.new_url
        if self.lifetime_ms is not None:
            data["lifetime"] = self.lifetime_ms
        if self.reason:
            data["reason"] = self.reason
        return data


def refuse(reason: str) -> Answer:
    return Answer(False, reason)


def answer(request: AdmissionRequest) -> dict:
    """The JSON answer OME expects for `request`, after its side effects are queued."""
    if request.status == CLOSING:
        if request.direction == INCOMING:
            _publisher_closed(request)
        else:
            _viewer_closed(request)
        return {}
    if request.direction == INCOMING:
        result = _admit_publisher(request)
    else:
        result = _admit_viewer(request)
    if not result.allowed:
        # Never the URL: it can hold a stream key or a credential.
        logger.info(
            "admission refused: %s %s of %s/%s from %s: %s",
            request.protocol,
            "publish" if request.direction == INCOMING else "play",
            request.url.app,
            "<key>" if request.direction == INCOMING else request.url.stream,
            request.client_address,
            result.reason,
        )
    return result.as_json()


# Publishers ---------------------------------------------------------------------------------

# One admitted publisher per room, remembered by its connection so that its closing (and no
# other, such as the closing OME sends after a refused second publisher) ends the live.
PUBLISHER_MEMORY_SECONDS = 7 * 24 * 3600
# An encoder reconnecting to a room whose stream OME lost: how long OME may take to answer
# whether it still has the stream (its own webhook timeout is 3 s), and how long the slot of a
# reconnecting encoder is kept from others while its stream appears (a browser's takes ~5 s).
RECONNECT_CHECK_TIMEOUT_SECONDS = 1.0
RECONNECT_CLAIM_SECONDS = 10


CREDENTIAL_UNCHECKABLE = (
    "the portal cannot make sure this publish credential is used only once right now "
    "(its cache is unavailable): press Go live again in a few seconds"
)
SLOT_UNAVAILABLE = "admitted from the database alone: the cache that holds the room's one-publisher slot is unavailable"


def _publisher_key(public_id: str) -> str:
    return f"publisher:{public_id}"


def _ingest_protocol(request: AdmissionRequest) -> str:
    if request.protocol == "webrtc" and request.url.query.get("direction") == "whip":
        return "whip"
    return request.protocol


def _admit_publisher(request: AdmissionRequest) -> Answer:
    url = request.url
    if url.app != settings.OME_APP:
        return refuse(f"unknown application '{url.app}'")
    if not url.stream:
        return refuse("the URL names no stream key")
    credential_token = url.query.get("credential")
    credential = None
    if credential_token:
        try:
            credential = credentials.read_publish_credential(credential_token)
        except credentials.CredentialError as error:
            return refuse(error.message)
        room = facts.room(url.stream)
        if room is None or room.pk != credential.room_id:
            return refuse("the publish credential is for another room")
    else:
        room = facts.room_of_key(secret_digest(url.stream))
        if room is None:
            return refuse("unknown stream key: it may have been replaced by a new one")

    if not room.is_enabled:
        return refuse("this room is disabled and cannot go live")
    if room.organization_suspended:
        return refuse("this organization is suspended and cannot go live")
    reconnecting = room.live_state != LiveState.OFFLINE
    if reconnecting and (room.live_state == LiveState.STARTING or _ome_has_stream(room.public_id)):
        return refuse("this room is already live: stop the other stream first")
    if credential is not None:
        if not facts.is_active_member(user_id=credential.user_id, organization_id=room.organization_id):
            return refuse("you are no longer a member of this room's organization")
        try:
            burned = credentials.burn_publish_credential(credential)
        except CACHE_ERRORS as error:
            warn_once_in_a_while("publish credential check", error)
            return refuse(CREDENTIAL_UNCHECKABLE)
        if not burned:
            return refuse("this publish credential was already used: press Go live again")
    note = ""
    try:
        claimed = _claim_publisher_slot(room, request, reconnecting=reconnecting)
    except CACHE_ERRORS as error:
        warn_once_in_a_while("publisher slot", error)
        claimed, note = True, SLOT_UNAVAILABLE
    if not claimed:
        return refuse("this room is already live: stop the other stream first")

    room_id, user_id, protocol = room.pk, credential.user_id if credential else None, _ingest_protocol(request)
    enqueue_on_commit(tasks.publish_opened, room_id, protocol, user_id)
    if credential is not None:
        return Answer(True, reason=note)
    # The key is the stream name in the URL: OME must serve the stream under the room's id.
    return Answer(True, reason=note, new_url=url.with_stream(room.public_id, keep_query=("direction", "transport")))


def _ome_has_stream(public_id: str) -> bool:
    """Whether OME still has the room's stream: asked only when the database says live.

    The database says live, yet an encoder asks to publish: either a second publisher (OME has
    the stream: refuse) or the same encoder reconnecting after OME crashed or restarted (OME
    forgot the stream, and the old publisher with it: admit). OME is the truth; one call on this
    rare path, short enough to answer within OME's webhook timeout. When OME cannot say, refuse:
    the encoder retries, and the reconcile loop catches up.
    """
    client = OmeClient.from_settings(timeout=RECONNECT_CHECK_TIMEOUT_SECONDS)
    try:
        client.stream_info(public_id)
    except OmeNotFound:
        return False
    except OmeError as error:
        logger.warning("could not ask OME whether %s is still live: %s", public_id, error.message)
    return True


def _claim_publisher_slot(room: facts.RoomFacts, request: AdmissionRequest, *, reconnecting: bool = False) -> bool:
    key = _publisher_key(room.public_id)
    holder = {"client": request.client, "room": room.pk, "at": time.time()}
    if reconnecting:
        # OME lost the stream: the old publisher is gone, this one takes its place. Only one
        # reconnecting encoder at a time, until its stream has had time to appear in OME.
        if not cache.add(f"publisher-reconnect:{room.public_id}", request.client, timeout=RECONNECT_CLAIM_SECONDS):
            return False
        cache.set(key, holder, timeout=PUBLISHER_MEMORY_SECONDS)
        return True
    if cache.add(key, holder, timeout=PUBLISHER_MEMORY_SECONDS):
        return True
    # The database says offline (checked by the caller). A slot younger than the start-up grace
    # belongs to a publisher admitted a moment ago whose go-live is still queued; an older one was
    # left behind by a closing OME never sent, and the reconcile loop has since taken the room offline.
    current = cache.get(key)
    if current and time.time() - current.get("at", 0) < STARTING_GRACE_SECONDS:
        return False
    cache.set(key, holder, timeout=PUBLISHER_MEMORY_SECONDS)
    return True


@cache_optional(default=None, what="publisher closing")  # the reconcile loop takes the room offline
def _publisher_closed(request: AdmissionRequest) -> None:
    public_id = request.final_url.stream
    key = _publisher_key(public_id)
    holder = cache.get(key)
    if not holder or holder.get("client") != request.client:
        return  # a refused publisher (or one the portal never admitted) leaves the live alone
    cache.delete(key)
    room_id = holder["room"]  # going offline also clears the room's viewer count
    enqueue_on_commit(tasks.publish_closed, room_id)


# Players ------------------------------------------------------------------------------------


def _room_id_of_stream(stream: str) -> str:
    """The room id of a playback stream name: the room's id itself, or its restream variant."""
    suffix = settings.OME_RTMP_VARIANT_SUFFIX
    return stream[: -len(suffix)] if suffix and stream.endswith(suffix) else stream


def _room_for_stream(stream: str) -> facts.RoomFacts | None:
    return facts.room(_room_id_of_stream(stream))


def _token_for_the_cache(token: credentials.PlaybackToken | None) -> tuple[str, int, int] | None:
    """What the cache's opening script checks of a playback token (rooms.facts.play)."""
    if token is None:
        return None
    if token.from_link:
        return ("link", token.room_id, token.generation)
    return ("member", token.room_id, token.user_id)


def _admit_viewer(request: AdmissionRequest) -> Answer:
    url = request.url
    if url.app != settings.OME_APP:
        return refuse(f"unknown application '{url.app}'")
    protocol = "llhls" if url.is_llhls else request.protocol
    counts = protocol in VIEWER_PROTOCOLS
    # The token is read (its signature and expiry) before the room is looked up, so that a private
    # room's play is decided and counted in the same single round trip to the cache as a public one's.
    token_text = url.query.get("token")
    token, token_error = None, None
    if token_text:
        try:
            token = credentials.read_playback_token(token_text)
        except credentials.CredentialError as error:
            token_error = error
    if not url.stream:
        play = facts.Play(None)
    elif counts:
        play = facts.play(
            _room_id_of_stream(url.stream),
            protocol=protocol,
            address=request.client_address,
            port=request.client_port,
            token=_token_for_the_cache(token),
        )
    else:
        play = facts.Play(_room_for_stream(url.stream))
    room = play.room
    if room is None:
        return refuse("no such room")
    lifetime_ms = None
    if room.visibility == Visibility.PRIVATE:
        if not token_text:
            return refuse("this room is private: open it from the portal or an embed link")
        if token_error is not None:
            return refuse(token_error.message)
        if token.room_id != room.pk:
            return refuse("the playback token is for another room")
        if token.from_link:
            if token.generation != room.embed_link_generation:
                return refuse("the embed link was withdrawn by the stream's owners")
            # Playback ends when the link expires (WebRTC; OME ignores it for HTTP streams).
            lifetime_ms = max(1, int((token.link_expires_at - time.time()) * 1000))
        else:
            active = play.active_member
            if active is None:
                active = facts.is_active_member(user_id=token.user_id, organization_id=room.organization_id)
            if not active:
                return refuse("you are no longer a member of this room's organization")
    # Only while OME lists the stream: before that OME refuses the play after this answer and
    # never reports a closing, so players retrying while a room starts would count forever.
    if counts and not play.counted and room.live_state == LiveState.LIVE:
        viewers.joined(
            room_id=room.pk,
            public_id=room.public_id,
            protocol=protocol,
            address=request.client_address,
            port=request.client_port,
        )
    return Answer(True, lifetime_ms=lifetime_ms)


def _viewer_closed(request: AdmissionRequest) -> None:
    url = request.final_url
    protocol = "llhls" if url.is_llhls else request.protocol
    if protocol == "llhls":
        # OME (0.21) reports an LL-HLS session closing when the playlist request's connection
        # closes, right after its opening, while the player goes on watching: that says nothing
        # about the viewer leaving. OME's statistics count LL-HLS viewers out (rooms.viewers).
        return
    if protocol in VIEWER_PROTOCOLS:
        viewers.left(
            public_id=_room_id_of_stream(url.stream),
            protocol=protocol,
            address=request.client_address,
            port=request.client_port,
        )
