"""A stand-in for a separate OvenMediaEngine 0.21.0 server, for the local quick start and tests.

It speaks OME's wire formats (REST API v1, signed admission webhooks, WebRTC signalling,
recording files and info XML) and imports nothing of the portal. Run it with
`python -m ome_emulator`; drive it from tests with `ome_emulator.testing.EmulatorProcess`.
"""

OME_VERSION = "0.21.0"
