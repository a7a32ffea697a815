"""The URLs streamers and viewers use to reach OME's media ports for a room.

This is the only place that knows the shape of OME's ingest and playback URLs (the REST API's
URLs live in ome.client). A publish URL can carry a credential and a playback URL a
signed token; OME hands both to the portal's admission webhook.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from django.conf import settings


def _join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


# OME 0.21's `?transport=` (0.19's `tcp` meant TURN; 0.21's is direct TCP ICE):
# none = the server's DefaultTransport (the stack's: UDP then direct TCP ICE), `relay` = only
# OME's TURN relay over TCP, `all` = UDP, direct TCP and the TURN relay in one ICE session.
TRANSPORT_RELAY = "relay"
TRANSPORT_ALL = "all"


def webrtc_publish_url(room_id: str, credential: str | None = None) -> str:
    """OvenLiveKit's URL. A publisher gets one try (single-use credential), so every ICE path."""
    query = {"direction": "send"}
    if credential:
        query["credential"] = credential
    query["transport"] = TRANSPORT_ALL
    return f"{_join(settings.OME_WEBRTC_URL, settings.OME_APP, room_id)}?{urlencode(query)}"


def webrtc_play_url(
    room_id: str, token: str | None = None, *, transport: str | None = None, playlist: str | None = None
) -> str:
    """The WebRTC player's URL; `playlist` names an adaptive playlist (`/app/ROOM/abr`)."""
    url = _join(settings.OME_WEBRTC_URL, settings.OME_APP, room_id, *([playlist] if playlist else []))
    query = {name: value for name, value in (("token", token), ("transport", transport)) if value}
    return f"{url}?{urlencode(query)}" if query else url


def llhls_play_url(room_id: str, token: str | None = None, *, playlist: str = "llhls", internal: bool = False) -> str:
    """The room's LL-HLS playlist as browsers reach it, or (internal) as the portal reaches OME."""
    base = settings.OME_LLHLS_INTERNAL_URL if internal else settings.OME_LLHLS_URL
    url = _join(base, settings.OME_APP, room_id, f"{playlist}.m3u8")
    return f"{url}?{urlencode({'token': token})}" if token else url


def rtmp_server_url() -> str:
    """What OBS calls 'Server'; the room's stream key goes in 'Stream Key'."""
    return _join(settings.OME_RTMP_URL, settings.OME_APP)


def srt_publish_url(stream_key: str) -> str:
    """What OBS calls 'Server' for SRT (its 'Stream Key' stays empty).

    OME 0.21 reads the target from the streamid as `{vhost}/{app}/{stream}`, percent-encoded
    (the older `srt://host:port/app/stream` form is deprecated). Vhost, app and key are URL-safe,
    so the stream id needs no escapes: encoders pass it to OME as written, whether they
    percent-decode the URL's query or not."""
    stream_id = "/".join(quote(part, safe="") for part in (settings.OME_VHOST, settings.OME_APP, stream_key))
    return f"{settings.OME_SRT_URL.rstrip('/')}?streamid={stream_id}"
