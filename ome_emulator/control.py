"""The control API (/emulator/..., not part of OME): what tests and the local demo use to play
encoders, players and broken destinations, change settings, and see or forget the emulator's
state. rest.py serves it over HTTP; this module checks its input (bad input: a `ControlError`, a
4xx with a message) and acts like a real client of OME would: a simulated encoder or player
passes the admission webhooks first and is refused, or counted, as OME would refuse or count it.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, replace
from typing import Any

from .clock import iso
from .core import Emulator
from .errors import ControlError
from .streams import LiveStream
from .webhooks import Client, webhook_url_of

PROTOCOL_BY_SCHEME = {
    "rtmp": "RTMP",
    "rtmps": "RTMP",
    "srt": "SRT",
    "ws": "WebRTC",
    "wss": "WebRTC",
    "http": "LLHLS",
    "https": "LLHLS",
}


@dataclass
class Publisher:
    """A publisher simulated through the control API (RTMP, SRT or a WebRTC stand-in)."""

    id: str
    stream: str
    protocol: str
    url: str
    new_url: str
    client: Client
    lifetime_task: asyncio.Task[None] | None = None


def client_from(data: Any, *, default_port: int | None = None) -> Client:
    """The simulated peer: the request's "client" object, a loopback peer where it says nothing."""
    data = data if isinstance(data, dict) else {}
    address = data.get("address") if isinstance(data.get("address"), str) else "127.0.0.1"
    port = data.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        port = default_port or random.randint(32768, 60999)
    user_agent = data.get("user_agent") if isinstance(data.get("user_agent"), str) else None
    real_ip = data.get("real_ip") if isinstance(data.get("real_ip"), str) else None
    return Client(address, port, user_agent, real_ip)


class Control:
    """The control API's calls, one method each."""

    def __init__(self, emulator: Emulator):
        self.emulator = emulator
        self.publishers: dict[str, Publisher] = {}

    # --- encoders -----------------------------------------------------------------------------

    async def publish(self, url: Any, client_data: Any = None, delay: Any = 0) -> dict[str, Any]:
        """Simulate an encoder connecting and publishing (RTMP, SRT or a WebRTC stand-in)."""
        emulator = self.emulator
        if not isinstance(url, str) or "://" not in url:
            raise ControlError(400, "'url' must be an rtmp://, srt:// or ws:// URL")
        scheme = url.split("://", 1)[0].lower()
        protocol = PROTOCOL_BY_SCHEME.get(scheme)
        if protocol not in ("RTMP", "SRT", "WebRTC"):
            raise ControlError(400, f"cannot publish with {scheme}://: use rtmp://, srt:// or ws://")
        if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
            raise ControlError(400, "'delay' must be a number of seconds >= 0")
        hook_url = webhook_url_of(url)
        app, name = emulator.stream_name_of(hook_url)
        if not name:
            raise ControlError(400, f"no stream name in {url}")
        client = client_from(client_data)
        if protocol == "WebRTC" and client.user_agent is None:
            client = replace(client, user_agent="OME-emulator")
        admission = await emulator.admit(direction="incoming", protocol=protocol, url=hook_url, client=client)
        final_url = admission.new_url or hook_url

        def disconnected() -> None:
            emulator.spawn(
                emulator.closing(
                    direction="incoming", protocol=protocol, url=hook_url, new_url=final_url, client=client
                )
            )

        if not admission.allowed:
            emulator.event("publish-refused", url=hook_url, reason=admission.reason)
            if protocol in ("RTMP", "SRT"):
                # The refused encoder is disconnected and OME reports the session closing (golden).
                disconnected()
            raise ControlError(
                403, admission.reason or "refused by the admission webhook", allowed=False, reason=admission.reason
            )
        app, name = emulator.stream_name_of(final_url)
        if app != emulator.app or not name:
            if protocol in ("RTMP", "SRT"):
                disconnected()
            raise ControlError(404, f"Could not find the application: [{emulator.vhost}/{app}]", allowed=True)
        if emulator.has_stream(name):
            disconnected()
            raise ControlError(
                409, f"stream {name} is already live: OME refuses a second publisher", allowed=True, stream=name
            )
        publisher = Publisher(f"p{emulator.next_id()}", name, protocol, hook_url, final_url, client)
        source_type = {"RTMP": "Rtmp", "SRT": "Srt", "WebRTC": "WebRTC"}[protocol]
        transport = {"RTMP": "TCP", "SRT": "SRT", "WebRTC": "UDP"}[protocol]
        audio = "AAC" if protocol in ("RTMP", "SRT") else "Opus"

        async def on_remove() -> None:
            self.publishers.pop(publisher.id, None)
            if publisher.lifetime_task is not None and publisher.lifetime_task is not asyncio.current_task():
                publisher.lifetime_task.cancel()
            await emulator.closing(
                direction="incoming", protocol=protocol, url=hook_url, new_url=final_url, client=client
            )

        # Listed at once; with a delay it starts (plays, pushes, records) only after it, like a
        # browser's stream that OME serves once the first RTCP sender report arrived.
        emulator.add_stream(
            name,
            source_type=source_type,
            # OME 0.21 appends the socket type: TCP://203.0.113.7:49434/tcp (golden).
            source_url=f"{transport}://{client.address}:{client.port}/{transport.lower()}",
            video_codec="H264",
            audio_codec=audio,
            on_remove=on_remove,
            playable=False,
        )
        self.publishers[publisher.id] = publisher
        stream = emulator.streams.by_name[name]
        stream.transcoding = asyncio.ensure_future(emulator.transcode(name))
        if not delay and await emulator.transcoded(name):
            emulator.start_stream(name)
        if delay:
            stream = emulator.streams.by_name[name]
            stream.start_task = asyncio.create_task(self._start_later(stream, float(delay)))
        if admission.lifetime_ms > 0:
            publisher.lifetime_task = asyncio.create_task(self._expire_stream(name, admission.lifetime_ms / 1000))
        emulator.event("published", stream=name, protocol=protocol, publisher=publisher.id)
        return {"allowed": True, "stream": name, "publisher": publisher.id, "lifetime": admission.lifetime_ms}

    async def _start_later(self, stream: LiveStream, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if self.emulator.streams.by_name.get(stream.name) is stream and await self.emulator.transcoded(stream.name):
            self.emulator.start_stream(stream.name)

    async def _expire_stream(self, name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.emulator.event("lifetime-expired", stream=name)
        await self.emulator.remove_stream(name)

    async def unpublish(self, name: Any) -> dict[str, Any]:
        if not isinstance(name, str) or not name:
            raise ControlError(400, "'stream' is required")
        if not self.emulator.has_stream(name):
            raise ControlError(404, f"stream {name} is not live")
        await self.emulator.remove_stream(name)
        return {"stream": name, "live": False}

    # --- players ------------------------------------------------------------------------------

    async def play(self, url: Any, client_data: Any = None) -> dict[str, Any]:
        """Simulate a player: webhook `outgoing`, then a viewer counted in the stats."""
        emulator = self.emulator
        if not isinstance(url, str) or "://" not in url:
            raise ControlError(400, "'url' must be a ws:// (WebRTC) or http:// (LL-HLS) URL")
        scheme = url.split("://", 1)[0].lower()
        protocol = PROTOCOL_BY_SCHEME.get(scheme)
        if protocol not in ("WebRTC", "LLHLS"):
            raise ControlError(400, f"cannot play with {scheme}://: use ws:// or http://")
        client = client_from(client_data)
        if client.user_agent is None:
            client = replace(client, user_agent="OME-emulator")
        admission = await emulator.admit(direction="outgoing", protocol=protocol, url=url, client=client)
        if not admission.allowed:
            emulator.event("play-refused", url=url, reason=admission.reason)
            raise ControlError(
                403, admission.reason or "refused by the admission webhook", allowed=False, reason=admission.reason
            )
        final_url = admission.new_url or url
        app, name = emulator.stream_name_of(final_url)
        if app != emulator.app or emulator.input_of(name) is None:
            # Refused after the opening webhook, so OME never reports this session closing (and
            # never counts it): a player retrying while a stream starts leaves one opening a try.
            why = "has been created but not started yet" if emulator.has_stream(name) else "does not exist"
            raise ControlError(404, f"stream {name} {why}", allowed=True)
        viewer_id = emulator.add_viewer(name, "webrtc" if protocol == "WebRTC" else "llhls")
        viewer = emulator.streams.viewers[viewer_id]
        if protocol == "LLHLS":
            # OME 0.21 reports an LL-HLS session closing as soon as its playlist request's connection
            # closes (golden: at once, same client port), while the player goes on watching and
            # counting in the stats: nothing more is reported when it really leaves.
            await emulator.closing(direction="outgoing", protocol=protocol, url=url, new_url=final_url, client=client)
        else:
            viewer.url, viewer.new_url, viewer.webhook_protocol, viewer.client = url, final_url, protocol, client
        if admission.lifetime_ms > 0:
            viewer.lifetime_task = asyncio.create_task(self._expire_viewer(viewer_id, admission.lifetime_ms / 1000))
        emulator.event("play", stream=name, viewer=viewer_id, protocol=protocol)
        return {"allowed": True, "stream": name, "viewer": viewer_id, "lifetime": admission.lifetime_ms}

    async def _expire_viewer(self, viewer_id: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        viewer = self.emulator.streams.viewers.get(viewer_id)
        if viewer is not None:
            self.emulator.event("lifetime-expired", viewer=viewer_id)
            self.emulator.drop_viewer(viewer)

    async def stop_play(self, viewer_id: Any) -> dict[str, Any]:
        if not isinstance(viewer_id, str) or not viewer_id:
            raise ControlError(400, "'viewer' is required")
        viewer = self.emulator.streams.viewers.get(viewer_id)
        if viewer is None:
            raise ControlError(404, f"no such viewer: {viewer_id}")
        self.emulator.drop_viewer(viewer)
        return {"viewer": viewer_id, "playing": False}

    # --- push destinations --------------------------------------------------------------------

    def fail_destination(self, url: Any, message: Any = None) -> dict[str, Any]:
        if not isinstance(url, str) or "://" not in url:
            raise ControlError(400, "'url' must be the destination URL (with or without the stream key)")
        text = message if isinstance(message, str) and message else "Connection refused"
        self.emulator.pushes.fail_destination(url, text)
        return {"url": url, "failing": True, "message": text}

    def heal_destination(self, url: Any) -> dict[str, Any]:
        if not isinstance(url, str) or not url:
            raise ControlError(400, "'url' is required")
        self.emulator.pushes.heal_destination(url)
        return {"url": url, "failing": False}

    # --- settings and state -------------------------------------------------------------------

    def configure(self, data: Any) -> dict[str, Any]:
        settings = self.emulator.settings
        if not isinstance(data, dict):
            raise ControlError(400, "expected a JSON object")
        known = {
            "webhook_url",
            "webhook_secret",
            "webhook_timeout_ms",
            "webrtc_stream_delay",
            "transcode_webhook_url",
            "transcode_webhook_secret",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise ControlError(400, f"unknown settings: {', '.join(unknown)}")
        if "webhook_url" in data:
            value = data["webhook_url"]
            if value is not None and (not isinstance(value, str) or not value.startswith(("http://", "https://"))):
                raise ControlError(400, "'webhook_url' must be an http(s) URL or null")
            settings.webhook_url = value or None
        if "transcode_webhook_url" in data:
            value = data["transcode_webhook_url"]
            if value is not None and (not isinstance(value, str) or not value.startswith(("http://", "https://"))):
                raise ControlError(400, "'transcode_webhook_url' must be an http(s) URL or null")
            settings.transcode_webhook_url = value or None
        if "transcode_webhook_secret" in data:
            if not isinstance(data["transcode_webhook_secret"], str):
                raise ControlError(400, "'transcode_webhook_secret' must be a string")
            settings.transcode_webhook_secret = data["transcode_webhook_secret"]
        if "webhook_secret" in data:
            if not isinstance(data["webhook_secret"], str):
                raise ControlError(400, "'webhook_secret' must be a string")
            settings.webhook_secret = data["webhook_secret"]
        if "webhook_timeout_ms" in data:
            value = data["webhook_timeout_ms"]
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ControlError(400, "'webhook_timeout_ms' must be a positive integer")
            settings.webhook_timeout_ms = value
        if "webrtc_stream_delay" in data:
            value = data["webrtc_stream_delay"]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ControlError(400, "'webrtc_stream_delay' must be a number of seconds >= 0")
            settings.webrtc_stream_delay = float(value)
        return self.public_settings()

    def public_settings(self) -> dict[str, Any]:
        settings = self.emulator.settings
        return {
            "vhost": settings.vhost,
            "app": settings.app,
            "webhook_url": settings.webhook_url,
            "webhook_secret_set": bool(settings.webhook_secret),
            "webhook_timeout_ms": settings.webhook_timeout_ms,
            "transcode_webhook_url": settings.transcode_webhook_url,
            "transcode_webhook_secret_set": bool(settings.transcode_webhook_secret),
            "webrtc_stream_delay": settings.webrtc_stream_delay,
            "rtmp_variant_suffix": settings.rtmp_variant_suffix,
            "recordings_dir": str(settings.recordings_dir),
            "file_path": settings.file_path,
            "info_path": settings.info_path,
        }

    async def reset(self) -> dict[str, Any]:
        """Forget everything (streams end first, so their files are finished) and go back to
        the settings the process was started with."""
        emulator = self.emulator
        emulator.pushes.remove_all()
        # Records are dropped before the streams end: no files are written for them.
        await emulator.records.abandon_all()
        emulator.pushes.forget()
        for name in list(emulator.streams.by_name):
            await emulator.remove_stream(name)
        for viewer in list(emulator.streams.viewers.values()):
            emulator.remove_viewer(viewer.id)
        await emulator.drain(timeout=10)
        self.publishers.clear()
        emulator.webhooks.log.clear()
        emulator.transcode_webhooks.log.clear()
        emulator.events.clear()
        initial, settings = emulator.initial_settings, emulator.settings
        settings.webhook_url = initial.webhook_url
        settings.webhook_secret = initial.webhook_secret
        settings.webhook_timeout_ms = initial.webhook_timeout_ms
        settings.webrtc_stream_delay = initial.webrtc_stream_delay
        settings.transcode_webhook_url = initial.transcode_webhook_url
        settings.transcode_webhook_secret = initial.transcode_webhook_secret
        return {"reset": True}

    def state(self) -> dict[str, Any]:
        emulator = self.emulator
        return {
            "settings": self.public_settings(),
            "streams": [
                {
                    "name": stream.name,
                    "source_type": stream.source_type,
                    "source_url": stream.source_url,
                    "created": iso(stream.created),
                    "outputs": emulator.streams.outputs(stream.name),
                    "playable": stream.playable,
                    "connections": emulator.connections(stream),
                }
                for stream in emulator.streams.by_name.values()
            ],
            "pushes": [
                push.to_json(emulator.vhost, emulator.app) | {"error": push.last_error}
                for push in emulator.pushes.by_id.values()
            ],
            "records": [record.to_json(emulator.vhost, emulator.app) for record in emulator.records.by_id.values()],
            "viewers": [
                {"id": viewer.id, "stream": viewer.stream, "output": viewer.output, "protocol": viewer.protocol}
                for viewer in emulator.streams.viewers.values()
            ],
            "publishers": [
                {
                    "id": item.id,
                    "stream": item.stream,
                    "protocol": item.protocol,
                    "url": item.url,
                    "new_url": item.new_url,
                }
                for item in self.publishers.values()
            ],
            "failed_destinations": dict(emulator.pushes.failed_destinations),
            "webhooks": list(emulator.webhooks.log),
            "transcode_webhooks": list(emulator.transcode_webhooks.log),
            "events": list(emulator.events),
        }
