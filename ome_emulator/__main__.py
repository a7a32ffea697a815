"""`python -m ome_emulator`: run the OME emulator (REST API + control API, signalling, LL-HLS).

When both servers listen it prints one line to stdout:
`OME-EMULATOR READY {"api_url": ..., "signalling_url": ..., "llhls_url": ...}`; logs go to stderr.
SIGTERM/SIGINT end the live streams (finishing recordings, sending closing webhooks) and exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

from .core import Emulator
from .llhls import build_signalling_app
from .rest import build_api_app
from .settings import DEFAULT_FILE_PATH, DEFAULT_INFO_PATH, DEFAULT_WEBRTC_STREAM_DELAY, Settings

log = logging.getLogger("ome_emulator")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ome_emulator", description="A stand-in for OvenMediaEngine 0.21.0."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--api-port", type=int, default=8081, help="REST API + control API port, 0 = any free port")
    parser.add_argument("--signalling-port", type=int, default=3333, help="WebRTC signalling + LL-HLS port, 0 = any")
    parser.add_argument("--token", default="ome-access-token", help="the REST API access token (Basic auth)")
    parser.add_argument("--webhook-url", default=None, help="admission webhook control server URL (none: allow all)")
    parser.add_argument("--webhook-secret", default="", help="admission webhook secret key (HMAC-SHA1)")
    parser.add_argument("--webhook-timeout-ms", type=int, default=3000)
    parser.add_argument("--recordings-dir", type=Path, default=Path("recordings"), help="plays OME's filesystem root")
    parser.add_argument("--file-path", default=DEFAULT_FILE_PATH, help="default recording FilePath template")
    parser.add_argument("--info-path", default=DEFAULT_INFO_PATH, help="default recording InfoPath template")
    parser.add_argument("--vhost", default="default")
    parser.add_argument("--app", default="app")
    parser.add_argument("--rtmp-variant-suffix", default="_rtmp")
    parser.add_argument(
        "--webrtc-stream-delay",
        type=float,
        default=DEFAULT_WEBRTC_STREAM_DELAY,
        help="seconds after its first frame a WebRTC stream starts (it is listed from the publisher's answer on); "
        f"default {DEFAULT_WEBRTC_STREAM_DELAY:g}, like OME 0.21",
    )
    parser.add_argument(
        "--transcode-webhook-url", default=None, help="TranscodeWebhook control server URL (none: local profiles)"
    )
    parser.add_argument("--transcode-webhook-secret", default="", help="TranscodeWebhook secret key (HMAC-SHA1)")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def _port_of(runner: web.AppRunner) -> int:
    return int(runner.addresses[0][1])


async def serve(args: argparse.Namespace) -> None:
    settings = Settings(
        token=args.token,
        vhost=args.vhost,
        app=args.app,
        host=args.host,
        webhook_url=args.webhook_url or None,
        webhook_secret=args.webhook_secret,
        webhook_timeout_ms=args.webhook_timeout_ms,
        recordings_dir=args.recordings_dir,
        rtmp_variant_suffix=args.rtmp_variant_suffix,
        webrtc_stream_delay=args.webrtc_stream_delay,
        transcode_webhook_url=args.transcode_webhook_url or None,
        transcode_webhook_secret=args.transcode_webhook_secret,
        file_path=args.file_path,
        info_path=args.info_path,
    )
    settings.recordings_dir.mkdir(parents=True, exist_ok=True)
    emulator = Emulator(settings)
    await emulator.start()
    api = web.AppRunner(build_api_app(emulator), access_log=None)
    signalling = web.AppRunner(build_signalling_app(emulator), access_log=None)
    await api.setup()
    await signalling.setup()
    await web.TCPSite(api, args.host, args.api_port, reuse_address=True).start()
    await web.TCPSite(signalling, args.host, args.signalling_port, reuse_address=True).start()
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "") else args.host
    urls = {
        "api_url": f"http://{shown}:{_port_of(api)}",
        "signalling_url": f"ws://{shown}:{_port_of(signalling)}",
        "llhls_url": f"http://{shown}:{_port_of(signalling)}",
    }
    print("OME-EMULATOR READY " + json.dumps(urls), flush=True)
    log.info(
        "OME emulator: REST %s, signalling %s, recordings in %s",
        urls["api_url"],
        urls["signalling_url"],
        settings.recordings_dir,
    )

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    log.info("stopping")
    await emulator.stop()
    await signalling.cleanup()
    await api.cleanup()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    try:
        asyncio.run(serve(args))
    except OSError as error:
        log.error("cannot start: %s", error)
        sys.exit(1)


if __name__ == "__main__":
    main()
