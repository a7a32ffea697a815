"""HTTP on the API port: OME's REST API v1 (same paths, envelopes and messages as OME 0.21.0)
and, clearly apart under /emulator/, the control API that tests and the quick start use to make
streams live, add viewers, break destinations and inspect the emulator (control.py checks its
input and acts).

Every /v1 answer is OME's envelope `{"message", "statusCode", "response"?}` with keys sorted as
jsoncpp writes them; errors read `[HTTP] <text> (<status>)` (tests/ome_golden/rest-api.json).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web

from .control import Control
from .core import Emulator
from .errors import ApiError, ControlError
from .streams import LiveStream

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json_response(body: Any, status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(body, sort_keys=True, indent=4), status=status, content_type="application/json", headers=headers
    )


def envelope(response: Any = None, status: int = 200, *, with_response: bool = True) -> web.Response:
    body: dict[str, Any] = {"message": HTTPStatus(status).phrase, "statusCode": status}
    if with_response:
        body["response"] = response
    return _json_response(body, status)


def error_envelope(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return _json_response({"message": f"[HTTP] {message} ({status})", "statusCode": status}, status, headers)


def build_api_app(emulator: Emulator) -> web.Application:
    app = web.Application(middlewares=[_v1_errors(emulator)])
    app["emulator"] = emulator
    v1 = OmeApi(emulator)
    app.router.add_get("/v1/vhosts", v1.vhosts)
    app.router.add_get("/v1/vhosts/{vhost}", v1.vhost)
    app.router.add_get("/v1/vhosts/{vhost}/apps", v1.apps)
    app.router.add_route("*", "/v1/vhosts/{vhost}/apps/{app}", v1.app_or_action)
    app.router.add_get("/v1/vhosts/{vhost}/apps/{app}/streams", v1.streams)
    app.router.add_get("/v1/vhosts/{vhost}/apps/{app}/streams/{stream}", v1.stream)
    app.router.add_delete("/v1/vhosts/{vhost}/apps/{app}/streams/{stream}", v1.delete_stream)
    app.router.add_get("/v1/stats/current/vhosts/{vhost}", v1.vhost_stats)
    app.router.add_get("/v1/stats/current/vhosts/{vhost}/apps/{app}", v1.app_stats)
    app.router.add_get("/v1/stats/current/vhosts/{vhost}/apps/{app}/streams/{stream}", v1.stream_stats)
    app.router.add_route("*", "/v1/{tail:.*}", v1.not_found)

    control = ControlApi(emulator)
    app.router.add_post("/emulator/publish", control.publish)
    app.router.add_post("/emulator/unpublish", control.unpublish)
    app.router.add_post("/emulator/play", control.play)
    app.router.add_post("/emulator/stop-play", control.stop_play)
    app.router.add_post("/emulator/fail-destination", control.fail_destination)
    app.router.add_post("/emulator/heal-destination", control.heal_destination)
    app.router.add_post("/emulator/config", control.config)
    app.router.add_post("/emulator/reset", control.reset)
    app.router.add_get("/emulator/state", control.state)
    app.router.add_get("/emulator/health", control.health)
    return app


def _v1_errors(emulator: Emulator) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/v1/") and request.path != "/v1":
            return await handler(request)
        header = request.headers.get("Authorization")
        if not header:
            return error_envelope(
                401,
                "Authorization header is required to call API",
                {"WWW-Authenticate": 'Basic realm="OvenMediaEngine"'},
            )
        if not _credential_ok(header, emulator.settings.token):
            return error_envelope(401, "Invalid credential", {"WWW-Authenticate": 'Basic realm="OvenMediaEngine"'})
        try:
            return await handler(request)
        except ApiError as error:
            return error_envelope(error.status, error.message)
        except web.HTTPMethodNotAllowed:
            return error_envelope(405, f"Method not allowed: {request.method} {request.path}")

    return middleware


def _credential_ok(header: str, token: str) -> bool:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(decoded, token.encode())


async def _body(request: web.Request, where: str) -> Any:
    text = await request.text()
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError:
        raise ApiError(400, f"Could not parse json context: [{where}]") from None


class OmeApi:
    """OME's REST API v1 for the one vhost/app the emulator serves."""

    def __init__(self, emulator: Emulator):
        self.emulator = emulator

    def _vhost(self, request: web.Request) -> str:
        name = request.match_info["vhost"]
        if name != self.emulator.vhost:
            raise ApiError(404, f"Could not find the virtual host: [{name}]")
        return name

    def _app(self, request: web.Request, app: str | None = None) -> str:
        vhost = self._vhost(request)
        name = app if app is not None else request.match_info["app"]
        if name != self.emulator.app:
            raise ApiError(404, f"Could not find the application: [{vhost}/{name}]")
        return name

    def _stream(self, request: web.Request) -> LiveStream:
        self._app(request)
        name = request.match_info["stream"]
        stream = self.emulator.streams.by_name.get(name)
        if stream is None:
            # Output variants (room1_rtmp) are not input streams: 404 like OME.
            vhost, app = self.emulator.vhost, self.emulator.app
            raise ApiError(404, f"Could not find the stream: [{vhost}/#{vhost}#{app}/{name}]")
        return stream

    async def vhosts(self, request: web.Request) -> web.Response:
        return envelope([self.emulator.vhost])

    async def vhost(self, request: web.Request) -> web.Response:
        name = self._vhost(request)
        return envelope({"name": name, "distribution": "ovenmediaengine.com", "host": {"names": ["*"]}})

    async def apps(self, request: web.Request) -> web.Response:
        self._vhost(request)
        return envelope([self.emulator.app])

    async def app_or_action(self, request: web.Request) -> web.Response:
        app, _, action = request.match_info["app"].partition(":")
        self._app(request, app)
        where = f"{self.emulator.vhost}/{app}"
        if not action:
            if request.method != "GET":
                raise web.HTTPMethodNotAllowed(request.method, ["GET"])
            return envelope({"name": app, "dynamic": False, "type": "live"})
        emulator = self.emulator
        if action == "pushes" and request.method in ("GET", "POST"):
            body = await _body(request, where) if request.method == "POST" else {}
            return envelope(emulator.pushes.listing(body))
        if action == "records" and request.method in ("GET", "POST"):
            body = await _body(request, where) if request.method == "POST" else {}
            return envelope(emulator.records.listing(body))
        if request.method != "POST":
            raise ApiError(404, f"Could not find the action: [{where}:{action}]")
        body = await _body(request, where)
        if action == "startPush":
            return envelope(emulator.pushes.start(body))
        if action == "stopPush":
            emulator.pushes.stop(body)
            return envelope(with_response=False)
        if action == "startRecord":
            return envelope(emulator.records.start(body))
        if action == "stopRecord":
            return envelope(await emulator.records.stop(body))
        raise ApiError(404, f"Could not find the action: [{where}:{action}]")

    async def streams(self, request: web.Request) -> web.Response:
        self._app(request)
        return envelope(list(self.emulator.streams.by_name))

    async def stream(self, request: web.Request) -> web.Response:
        return envelope(self.emulator.streams.info(self._stream(request)))

    async def delete_stream(self, request: web.Request) -> web.Response:
        stream = self._stream(request)
        await self.emulator.remove_stream(stream.name)
        return envelope(with_response=False)

    async def vhost_stats(self, request: web.Request) -> web.Response:
        self._vhost(request)
        return envelope(self.emulator.app_stats())

    async def app_stats(self, request: web.Request) -> web.Response:
        self._app(request)
        return envelope(self.emulator.app_stats())

    async def stream_stats(self, request: web.Request) -> web.Response:
        return envelope(self.emulator.stream_stats(self._stream(request)))

    async def not_found(self, request: web.Request) -> web.Response:
        raise ApiError(404, f"Could not find the resource: [{request.path}]")


class ControlApi:
    """/emulator/...: JSON in, JSON out, 4xx with {"error": ...} on bad input."""

    def __init__(self, emulator: Emulator):
        self.control = Control(emulator)

    @staticmethod
    async def _json(request: web.Request) -> dict[str, Any]:
        text = await request.text()
        if not text.strip():
            return {}
        try:
            data = json.loads(text)
        except ValueError as error:
            raise ControlError(400, f"invalid JSON: {error}") from None
        if not isinstance(data, dict):
            raise ControlError(400, "expected a JSON object")
        return data

    @staticmethod
    async def _run(call: Callable[[], Awaitable[Any]]) -> web.Response:
        try:
            result = await call()
        except ControlError as error:
            return _json_response({"error": error.message, **error.extra}, error.status)
        return _json_response(result, 200)

    async def publish(self, request: web.Request) -> web.Response:
        async def call() -> Any:
            data = await self._json(request)
            return await self.control.publish(data.get("url"), data.get("client"), data.get("delay", 0))

        return await self._run(call)

    async def unpublish(self, request: web.Request) -> web.Response:
        async def call() -> Any:
            data = await self._json(request)
            return await self.control.unpublish(data.get("stream"))

        return await self._run(call)

    async def play(self, request: web.Request) -> web.Response:
        async def call() -> Any:
            data = await self._json(request)
            return await self.control.play(data.get("url"), data.get("client"))

        return await self._run(call)

    async def stop_play(self, request: web.Request) -> web.Response:
        async def call() -> Any:
            data = await self._json(request)
            return await self.control.stop_play(data.get("viewer"))

        return await self._run(call)

    async def fail_destination(self, request: web.Request) -> web.Response:
        async def call() -> Any:
            data = await self._json(request)
            return self.control.fail_destination(data.get("url"), data.get("message"))

        return await self._run(call)

    async def heal_destination(self, request: web.Request) -> web.Response:
        async def call() -> Any:
            data = await self._json(request)
            return self.control.heal_destination(data.get("url"))

        return await self._run(call)

    async def config(self, request: web.Request) -> web.Response:
        async def call() -> Any:
            return self.control.configure(await self._json(request))

        return await self._run(call)

    async def reset(self, request: web.Request) -> web.Response:
        async def call() -> Any:
            return await self.control.reset()

        return await self._run(call)

    async def state(self, request: web.Request) -> web.Response:
        async def call() -> Any:
            return self.control.state()

        return await self._run(call)

    async def health(self, request: web.Request) -> web.Response:
        return _json_response({"ok": True}, 200)
