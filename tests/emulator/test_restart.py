"""Stopping and starting OME mid-test: same ports, settings kept, in-memory state lost."""

from __future__ import annotations

import re
import signal
import time

import pytest
import requests

from ome_emulator.testing import EmulatorProcess

from .conftest import ControlServer

pytestmark = pytest.mark.emulator


def test_a_restart_on_the_same_ports_loses_pushes_records_and_streams(ome: EmulatorProcess) -> None:
    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    body = {"id": "yt", "stream": {"name": "room1_rtmp"}, "protocol": "rtmp", "url": "rtmp://h/live", "streamKey": "k"}
    assert ome.api("POST", "/v1/vhosts/default/apps/app:startPush", body).status_code == 200
    assert (
        ome.api("POST", "/v1/vhosts/default/apps/app:startRecord", {"id": "r", "stream": {"name": "room1"}}).status_code
        == 200
    )
    api_url, signalling_url = ome.api_url, ome.signalling_url

    ome.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(api_url + "/v1/vhosts", timeout=2)
    ome.start()

    assert (ome.api_url, ome.signalling_url) == (api_url, signalling_url)
    assert ome.pushes() == [] and ome.records() == []
    assert ome.api("GET", "/v1/vhosts/default/apps/app/streams").json()["response"] == []
    # The recording that was running when OME stopped was finished on the way down.
    assert ome.disk_path("/default/app/room1.xml").exists()


def test_settings_survive_a_restart_like_omes_config_file(
    hooked_ome: EmulatorProcess, control_server: ControlServer
) -> None:
    hooked_ome.restart()
    hooked_ome.publish("rtmp://127.0.0.1:1935/app/room1")
    assert control_server.received[-1].request["status"] == "opening"


def test_a_killed_server_leaves_the_recording_it_was_writing_in_its_temporary_file(ome: EmulatorProcess) -> None:
    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    body = {"id": "r", "stream": {"name": "room1"}, "filePath": "/rec/room1/r_${EndTime:YYYYMMDDhhmmss}.mp4"}
    assert ome.api("POST", "/v1/vhosts/default/apps/app:startRecord", body).status_code == 200
    folder = ome.recordings_dir / "rec" / "room1"
    ome.wait_for(lambda: list(folder.glob("tmp_*")), what="OME to write the record into a temporary file")
    time.sleep(1.5)

    ome.process.send_signal(signal.SIGKILL)
    ome.process.wait(10)
    ome.stop()

    # Like OME: media written as it is recorded, under tmp_ + 32 characters, never renamed, no XML.
    (leftover,) = folder.iterdir()
    assert re.fullmatch(r"tmp_[A-Za-z0-9]{32}", leftover.name)
    assert leftover.stat().st_size > 20_000
    assert not list(ome.recordings_dir.rglob("*.xml"))
    ome.start()
    assert ome.records() == []
