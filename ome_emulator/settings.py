"""What one emulator process is started with: `python -m ome_emulator`'s flags.

The control API may change the webhook settings and the WebRTC start delay while it runs; its
reset puts them back as they were started.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_FILE_PATH = "/${VirtualHost}/${Application}/${Stream}/${StartTime:YYYYMMDDhhmmss}_${EndTime:YYYYMMDDhhmmss}.ts"
DEFAULT_INFO_PATH = "/${VirtualHost}/${Application}/${Stream}.xml"
DEFAULT_WEBRTC_STREAM_DELAY = 1.2


@dataclass
class Settings:
    token: str = "ome-access-token"
    vhost: str = "default"
    app: str = "app"
    host: str = "127.0.0.1"
    webhook_url: str | None = None
    webhook_secret: str = ""
    webhook_timeout_ms: int = 3000
    recordings_dir: Path = field(default_factory=lambda: Path("recordings"))
    rtmp_variant_suffix: str = "_rtmp"
    # OME 0.21 serves a WebRTC ingest about 1.2 s after it started (measured, see the golden
    # recordings' CHANGES-SINCE-0.19.md); 0.19 waited ~5 s for the first RTCP sender report.
    webrtc_stream_delay: float = DEFAULT_WEBRTC_STREAM_DELAY
    file_path: str = DEFAULT_FILE_PATH
    info_path: str = DEFAULT_INFO_PATH
    # OME's TranscodeWebhook (Application/TranscodeWebhook): asked which outputs a new stream gets;
    # without a URL, or when it cannot be reached, the local profiles (transcode.LOCAL_PROFILES).
    transcode_webhook_url: str | None = None
    transcode_webhook_secret: str = ""
    transcode_webhook_timeout_ms: int = 1500
    session_tick: float = 0.5  # OME's push session control runs every second; half keeps tests quick
