"""How tests and benchmarks start Debian's Chromium (browser downloads are blocked here).

Fake camera and microphone, no permission prompts, autoplay allowed, and none of the
background connections that this machine's closed network would refuse.
"""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
