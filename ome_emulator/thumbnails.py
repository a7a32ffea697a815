"""OME's Thumbnail publisher: `GET /{app}/{stream}/thumb.jpg` on the LL-HLS port.

OME serves the latest image of a started stream whose outputs have a JPEG encode (`images`),
with CORS `*`; 404 `text/html` before the stream started, for unknown streams and for streams
without an image encode. Like OME it asks no admission webhook: anyone who reaches the port gets
any stream's thumbnail (which is why the stack never routes this port's thumbnails outside).

The image is real: decoded from the last keyframe a WebRTC publisher sent (PyAV), or, for inputs
that carry no media in the emulator (RTMP, SRT, the control API), a frame of the test pattern
their WebRTC players get; scaled to the answered size and encoded as a baseline JPEG.
"""

from __future__ import annotations

import asyncio
from fractions import Fraction
from typing import Any

import av
import av.filter
from aiohttp import web

NOT_FOUND_BODY = "<html>Not Found</html>\r\n\r\n"  # 26 bytes of text/html, as OME answers (golden)
CORS = {"Access-Control-Allow-Origin": "*", "Server": "OvenMediaEngine"}


def _encode_jpeg(frame: av.VideoFrame, width: int, height: int) -> bytes:
    scaled = frame.reformat(width=width, height=height, format="yuvj420p")
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuvj420p"
    encoder.time_base = Fraction(1, 1)
    scaled.pts = 0
    packets = [*encoder.encode(scaled), *encoder.encode(None)]
    return b"".join(bytes(packet) for packet in packets)


def jpeg_from_keyframe(mime_type: str, data: bytes, width: int, height: int) -> bytes | None:
    """Decode one encoded keyframe (H.264 Annex B with its SPS/PPS, or VP8) into a JPEG."""
    decoder = av.CodecContext.create("h264" if mime_type.lower() == "video/h264" else "vp8", "r")
    try:
        frames = [*decoder.decode(av.Packet(data)), *decoder.decode(None)]
    except av.error.FFmpegError:
        return None
    return _encode_jpeg(frames[-1], width, height) if frames else None


def jpeg_of_test_pattern(width: int, height: int) -> bytes:
    """A frame of the test pattern that WebRTC players of a media-less input get."""
    graph = av.filter.Graph()
    source = graph.add("testsrc2", "size=640x360:rate=15")
    sink = graph.add("buffersink")
    source.link_to(sink)
    graph.configure()
    frame = sink.pull()
    return _encode_jpeg(frame, width, height)


def setup_thumbnails(app: web.Application, emulator: Any, publisher_of: Any) -> None:
    """Add `GET /{app}/{stream}/thumb.jpg`; `publisher_of(name)` is the WebRTC publisher of a
    stream (its `video.last_keyframe`), or None."""

    async def thumbnail(request: web.Request) -> web.Response:
        name = request.match_info["stream"]
        stream = emulator.input_of(name) if request.match_info["app"] == emulator.app else None
        size = stream.outputs.thumbnail_size if stream is not None and stream.outputs is not None else None
        if stream is None or size is None:
            return web.Response(status=404, text=NOT_FOUND_BODY, content_type="text/html", headers=CORS)
        width, height = size
        publisher = publisher_of(stream.name)
        keyframe = publisher.video.last_keyframe if publisher is not None else None
        loop = asyncio.get_running_loop()
        if keyframe is not None:
            codec, data = keyframe
            image = await loop.run_in_executor(None, jpeg_from_keyframe, codec.mimeType, data, width, height)
        elif publisher is None:
            image = await loop.run_in_executor(None, jpeg_of_test_pattern, width, height)
        else:
            image = None  # a browser's stream before its first keyframe: OME has no image yet either
        if image is None:
            return web.Response(status=404, text=NOT_FOUND_BODY, content_type="text/html", headers=CORS)
        return web.Response(body=image, content_type="image/jpeg", headers=CORS)

    app.router.add_get("/{app}/{stream}/thumb.jpg", thumbnail)
