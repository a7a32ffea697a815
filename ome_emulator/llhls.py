"""The signalling port: WebRTC signalling (webrtc.py) and LL-HLS playlists.

OME serves LL-HLS on its signalling ports at `/{app}/{stream}/llhls.m3u8` and asks the
admission webhook (`outgoing`, protocol `LLHLS`) on each playlist request: refused → 403,
no such stream → 404. OME 0.21 reports a served request's session `closing` as soon as the
request's connection closes: an `opening` and at once a `closing` per playlist request. The emulator answers a minimal (segment-less) playlist: enough for a
player or the portal to see that the stream is offered, not real media.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from .core import Emulator
from .thumbnails import setup_thumbnails
from .webhooks import Client
from .webrtc import HUB_KEY, setup_signalling

Handler = Callable[[web.Request], Awaitable[web.Response]]
CORS = {"Access-Control-Allow-Origin": "*"}


def client_of(request: web.Request) -> Client:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    address, port = (peer[0], peer[1]) if peer else (request.remote or "127.0.0.1", 0)
    forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
    real_ip = request.headers.get("X-Real-IP") or forwarded or None
    return Client(address, port, request.headers.get("User-Agent"), real_ip)


def build_signalling_app(emulator: Emulator) -> web.Application:
    app = web.Application()
    app["emulator"] = emulator
    app.router.add_get("/{app}/{stream}/{chunklist:chunklist_[^/]*\\.m3u8}", _chunklist(emulator))
    app.router.add_get("/{app}/{stream}/{playlist:[^/]+}.m3u8", _playlist(emulator))
    setup_thumbnails(app, emulator, lambda name: app[HUB_KEY].publishers.get(name))
    setup_signalling(app, emulator)
    return app


def _playlist(emulator: Emulator) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        url = str(request.url)
        client = client_of(request)
        admission = await emulator.admit(direction="outgoing", protocol="LLHLS", url=url, client=client)
        if not admission.allowed:
            return web.Response(status=403, text="Forbidden", headers=CORS)
        final_url = admission.new_url or url
        app_name, stream_name = emulator.stream_name_of(final_url)
        stream = emulator.input_of(stream_name) if app_name == emulator.app else None
        file_name = request.match_info["playlist"]
        playlist = None
        if stream is not None and file_name != "llhls":
            playlist = stream.outputs.playlist(stream.name, file_name) if stream.outputs else None
        if stream is None or (file_name != "llhls" and playlist is None):
            return web.Response(status=404, text="Not Found", headers=CORS)
        # OME 0.21 reports the session closing when the request's connection closes: right away.
        emulator.spawn(
            emulator.closing(direction="outgoing", protocol="LLHLS", url=url, new_url=final_url, client=client)
        )
        lines = ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-INDEPENDENT-SEGMENTS"]
        if playlist is None:
            lines += [
                "#EXT-X-STREAM-INF:BANDWIDTH=460000,AVERAGE-BANDWIDTH=460000,RESOLUTION=640x352,"
                'FRAME-RATE=30.000,CODECS="avc1.42e01e,mp4a.40.2"',
                "chunklist_0_video_llhls.m3u8",
            ]
        else:
            tracks = {track["name"]: track for track in stream.outputs.output(stream.name)["tracks"]}
            for index, rendition in enumerate(playlist["renditions"]):
                video = tracks.get(rendition.get("videoVariantName", ""), {}).get("video")
                if video is None:
                    continue
                bandwidth = int(video["bitrate"]) + 128000
                lines += [
                    f"#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},AVERAGE-BANDWIDTH={bandwidth},"
                    f"RESOLUTION={video['width']}x{video['height']},FRAME-RATE={float(video['framerate']):.3f},"
                    'CODECS="avc1.42e01e,mp4a.40.2"',
                    f"chunklist_{index}_video_{file_name}.m3u8",
                ]
        body = "\n".join(lines) + "\n"
        return web.Response(text=body, content_type="application/vnd.apple.mpegurl", headers=CORS)

    return handler


def _chunklist(emulator: Emulator) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        if emulator.input_of(request.match_info["stream"]) is None:
            return web.Response(status=404, text="Not Found", headers=CORS)
        body = "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-VERSION:6\n#EXT-X-MEDIA-SEQUENCE:0\n"
        return web.Response(text=body, content_type="application/vnd.apple.mpegurl", headers=CORS)

    return handler
