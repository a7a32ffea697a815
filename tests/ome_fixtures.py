"""Pytest fixtures for the OME emulator (loaded with `-p tests.ome_fixtures`).

- `ome_emulator` (session): one real emulator process for the whole run, its token and webhook
  secret taken from OME_API_TOKEN / OME_WEBHOOK_SECRET so the portal's settings match it.
- `ome` (function): the same process, started again if a test stopped it (or restarted it with
  other settings), reset (no streams, pushes, records, viewers; startup settings) and its
  recordings folder emptied.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from ome_emulator.testing import EmulatorProcess


@pytest.fixture(scope="session")
def ome_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess(
        token=os.environ.get("OME_API_TOKEN", "tests-ome-token"),
        webhook_secret=os.environ.get("OME_WEBHOOK_SECRET", "tests-webhook-secret"),
        recordings_dir=tmp_path_factory.mktemp("ome-recordings"),
        webrtc_stream_delay=float(os.environ.get("OME_EMULATOR_WEBRTC_DELAY", "1.0")),
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
def ome(ome_emulator: EmulatorProcess) -> Iterator[EmulatorProcess]:
    ome_emulator.ensure_fresh()
    for child in ome_emulator.recordings_dir.iterdir():
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
    yield ome_emulator
