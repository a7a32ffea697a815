"""The emulator: one OME server with one virtual host and one application.

One `Emulator` lives in one asyncio loop and is shared by the REST API and the control API
(rest.py, control.py), the WebRTC signalling (webrtc.py) and LL-HLS (llhls.py). It holds what
they share (the settings, the event log the control API shows, background tasks) and ties the
parts together as OME does: a stream that starts starts the records waiting for it; a stream
that ends stops its pushes' sessions, finishes its recordings and drops its players; players,
push sessions and recordings are the stream's connections; a periodic session-control tick drives
pushes and records. Each part's state machine and JSON are in its own module: streams.py,
pushes.py, records.py and webhooks.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any

from .clock import iso, now
from .pushes import Pushes
from .records import Records
from .settings import Settings
from .streams import LiveStream, Streams, Viewer, input_tracks
from .transcode import request_body, valid_profiles
from .webhooks import Admission, Client, WebhookSender, stream_name_of

log = logging.getLogger("ome_emulator")


class Emulator:
    """One OME server: one virtual host with one application. Its methods are what the servers
    call; the parts behind them are `streams`, `pushes`, `records` and `webhooks`."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.initial_settings = replace(settings)  # what the control API's reset goes back to
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._tick_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.webhooks = WebhookSender(settings)
        self.transcode_webhooks = WebhookSender(settings)  # their own log: tests count admissions
        self.streams = Streams(settings, event=self.event, next_id=self.next_id)
        self.pushes = Pushes(self)
        self.records = Records(self)

    @property
    def vhost(self) -> str:
        return self.settings.vhost

    @property
    def app(self) -> str:
        return self.settings.app

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._tick_task = asyncio.create_task(self._tick_loop())

    async def stop(self) -> None:
        if self._tick_task:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
        for name in list(self.streams.by_name):
            await self.remove_stream(name)
        await self.drain()
        await self.webhooks.close()
        await self.transcode_webhooks.close()

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for recording files still being written and for pending webhooks."""
        pending: list[asyncio.Future[Any]] = [*self.records.files_being_written()]
        pending += [task for task in self._background if not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    def spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run `coroutine` in the background; `drain` and `stop` wait for it."""
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def event(self, kind: str, **details: Any) -> None:
        """Note what happened, for the control API's state."""
        self.events.append({"time": iso(now()), "event": kind, **details})
        del self.events[:-500]

    def next_id(self) -> int:
        """The next number for the ids of players and publishers."""
        return next(self._ids)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.session_tick)
            try:
                self.pushes.tick()
                self.records.tick()
            except Exception:
                log.exception("session control tick failed")

    # --- admission webhooks -------------------------------------------------------------------

    async def admit(self, *, direction: str, protocol: str, url: str, client: Client) -> Admission:
        return await self.webhooks.admit(direction=direction, protocol=protocol, url=url, client=client)

    async def closing(self, *, direction: str, protocol: str, url: str, new_url: str, client: Client) -> None:
        await self.webhooks.closing(direction=direction, protocol=protocol, url=url, new_url=new_url, client=client)

    def stream_name_of(self, url: str) -> tuple[str, str]:
        return stream_name_of(url)

    # --- streams and players ------------------------------------------------------------------

    def has_stream(self, name: str) -> bool:
        """Input streams only, listed whether or not they started."""
        return name in self.streams.by_name

    def input_of(self, output_name: str) -> LiveStream | None:
        return self.streams.input_of(output_name)

    def add_stream(self, name: str, *, playable: bool = True, **stream: Any) -> None:
        """List a new input stream (the arguments of `Streams.add`); `playable=False` for one that
        is created but not started yet (see `start_stream`)."""
        source_type = self.streams.add(name, **stream).source_type
        if playable:
            self.start_stream(name)
        else:
            log.info("stream %s is created (%s), not started yet", name, source_type)

    async def transcode(self, name: str) -> bool:
        """OME's TranscodeWebhook for a newly created stream: the answer's profiles become its outputs.

        No webhook URL, the control server unreachable or answering an error: the local profiles (as
        the stack configures OME). A refusal (`allowed: false`): no outputs, and False (the stream
        never starts, as in OME)."""
        stream = self.streams.by_name.get(name)
        if stream is None:
            return False
        settings = self.settings
        if not settings.transcode_webhook_url:
            self.streams.apply_profiles(stream, None)
            return True
        body = request_body(
            vhost=self.vhost,
            app=self.app,
            name=name,
            created=iso(stream.created),
            source_type=stream.source_type,
            source_url=stream.source_url,
            tracks=input_tracks(stream),
        )
        answer = await self.transcode_webhooks.post(
            url=settings.transcode_webhook_url,
            secret=settings.transcode_webhook_secret,
            body=body,
            timeout_ms=settings.transcode_webhook_timeout_ms,
        )
        if self.streams.by_name.get(name) is not stream:
            return False
        refused = answer.status == 200 and isinstance(answer.body, dict) and answer.body.get("allowed") is False
        profiles = valid_profiles(answer.body) if answer.status == 200 else None
        if refused:
            log.error("transcode webhook refused %s: it will not start", name)
            self.event("transcode-refused", stream=name)
            return False
        if profiles is None:
            # The stack's Server.xml: UseLocalProfilesOnConnectionFailure and UseLocalProfilesOnErrorResponse.
            why = answer.error or "an answer without output profiles"
            log.warning("transcode webhook failed (%s): %s gets the local profiles", why, name)
            self.streams.apply_profiles(stream, None)
            self.event("transcode-fallback", stream=name, error=why)
            return True
        self.streams.apply_profiles(stream, profiles)
        self.event("transcoded", stream=name, profiles=[str(profile.get("name", "")) for profile in profiles])
        return True

    async def transcoded(self, name: str) -> bool:
        """Wait for a stream's transcode webhook if it is on its way; True when the stream has outputs."""
        stream = self.streams.by_name.get(name)
        if stream is None:
            return False
        if stream.transcoding is not None:
            return await asyncio.shield(stream.transcoding)
        return stream.outputs is not None

    def start_stream(self, name: str) -> None:
        """The stream starts: players, pushes and records can use it from now on."""
        listed = self.streams.by_name.get(name)
        if listed is not None and listed.outputs is None:
            self.streams.apply_profiles(listed, None)  # started without asking (tests): local profiles
        stream = self.streams.start(name)
        if stream is None:
            return
        self.records.stream_started(stream)
        self._count_connections(stream)

    async def remove_stream(self, name: str) -> None:
        stream = self.streams.pop(name)
        if stream is None:
            return
        outputs = self.streams.outputs(name)
        self.pushes.stream_ended(outputs)
        self.records.stream_ended(outputs)
        for viewer in self.streams.viewers_of(name):
            self.drop_viewer(viewer)
        if stream.on_remove is not None:
            try:
                result = stream.on_remove()
                if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                    await result
            except Exception:
                log.exception("on_remove of stream %s failed", name)

    def add_viewer(self, name: str, protocol: str) -> str:
        viewer = self.streams.add_viewer(name, protocol)
        self._count_connections(self.streams.by_name[viewer.stream])
        return viewer.id

    def remove_viewer(self, viewer_id: str) -> None:
        self.streams.remove_viewer(viewer_id)

    def drop_viewer(self, viewer: Viewer) -> None:
        """Disconnect a viewer (stream ended, lifetime over); the control API's players get their
        closing webhook here (the signalling servers send their own)."""
        self.remove_viewer(viewer.id)
        if viewer.url is not None and viewer.client is not None and viewer.webhook_protocol is not None:
            self.spawn(
                self.closing(
                    direction="outgoing",
                    protocol=viewer.webhook_protocol,
                    url=viewer.url,
                    new_url=viewer.new_url or viewer.url,
                    client=viewer.client,
                )
            )

    # --- connections and statistics -----------------------------------------------------------

    def connections(self, stream: LiveStream) -> dict[str, int]:
        outputs = self.streams.outputs(stream.name)
        counts = self.streams.player_connections(stream)
        counts["push"] = self.pushes.sessions_on(outputs)
        counts["file"] = self.records.sessions_on(outputs)
        return counts

    def _count_connections(self, stream: LiveStream) -> None:
        self.streams.count_connections(stream, sum(self.connections(stream).values()))

    def session_started(self, output_name: str) -> None:
        """A push or recording session started on an output: one more connection of its stream."""
        stream = self.input_of(output_name)
        if stream is not None:
            self._count_connections(stream)

    def stream_stats(self, stream: LiveStream) -> dict[str, Any]:
        moment, mono = now(), time.monotonic()
        pushed_bytes = self.pushes.sent_bytes_on(self.streams.outputs(stream.name), mono)
        connections = self.connections(stream)
        return self.streams.stats(stream, connections=connections, pushed_bytes=pushed_bytes, moment=moment, mono=mono)

    def app_stats(self) -> dict[str, Any]:
        """App (and vhost) statistics: the sum over the live streams."""
        moment = now()
        parts = [self.stream_stats(stream) for stream in self.streams.by_name.values()]
        return self.streams.app_stats(parts, moment=moment)
