"""Recordings behave like OME 0.21's file publisher: they wait for their stream, record with
growing counters, and leave a real media file plus an entry in the info XML when they end."""

from __future__ import annotations

import functools
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import pytest

from ome_emulator.testing import EmulatorProcess

pytestmark = pytest.mark.emulator

START = "/v1/vhosts/default/apps/app:startRecord"
STOP = "/v1/vhosts/default/apps/app:stopRecord"
EPOCH_LOCAL = datetime.fromtimestamp(0).strftime("%Y%m%d%H%M%S")
GOLDEN_XML = (Path(__file__).resolve().parent.parent / "ome_golden" / "record-info.xml").read_text()


def start_record(ome: EmulatorProcess, record_id: str, stream: str, **extra: object) -> dict:
    response = ome.api("POST", START, {"id": record_id, "stream": {"name": stream}} | extra)
    assert response.status_code == 200, response.text
    return response.json()["response"]


def info_entries(path: Path) -> list[dict[str, str]]:
    return [{child.tag: child.text or "" for child in item} for item in ET.parse(path).getroot().findall("file")]


def probe(path: Path) -> tuple[float, list[str]]:
    with av.open(str(path)) as container:
        return container.duration / 1_000_000, sorted(stream.codec_context.name for stream in container.streams)


def test_a_record_writes_a_real_file_and_the_info_xml_with_the_final_name(ome: EmulatorProcess) -> None:
    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    started = start_record(ome, "rec1", "room1")
    assert started["state"] == "recording"
    assert re.fullmatch(rf"/default/app/room1/\d{{14}}_{EPOCH_LOCAL}\.ts", started["outputFilePath"])
    assert started["outputInfoPath"] == "/default/app/room1.xml"
    time.sleep(2.0)
    live = ome.records()[0]
    assert live["recordBytes"] > 50_000 and 1800 < live["recordTime"] < 3000

    stopped = ome.api("POST", STOP, {"id": "rec1"}).json()["response"]
    assert stopped["state"] == "stopping"
    # Since 0.21 the answer has the paths, as they were while recording: the final name is in the XML.
    assert (stopped["outputFilePath"], stopped["outputInfoPath"]) == (
        started["outputFilePath"],
        started["outputInfoPath"],
    )
    assert ome.records() == [], "a stopped record disappears from :records, like OME"

    info = ome.disk_path("/default/app/room1.xml")
    ome.wait_for(info.exists, timeout=10, what="the info XML")
    [entry] = info_entries(info)
    assert list(entry) == [child.tag for child in ET.fromstring(GOLDEN_XML).find("file")]
    assert entry["id"] == "rec1" and entry["stream"] == "room1" and entry["lastSequence"] == "true"
    assert entry["sequence"] == "0" and entry["vhost"] == "default" and entry["app"] == "app"
    assert re.fullmatch(r"/default/app/room1/\d{14}_\d{14}\.ts", entry["filePath"])
    assert EPOCH_LOCAL not in entry["filePath"], "the final name has the EndTime filled in"
    assert "<![CDATA[" + entry["filePath"] + "]]>" in info.read_text()

    media = ome.disk_path(entry["filePath"])
    assert media.exists(), f"no media file at {media}"
    assert not list(media.parent.glob("tmp_*")), "the temporary file was left behind"
    size = media.stat().st_size
    record_bytes, record_time = int(entry["recordBytes"]), int(entry["recordTime"])
    assert record_bytes <= size <= record_bytes * 1.35, f"file of {size} bytes, XML says {record_bytes} payload bytes"
    duration, codecs = probe(media)
    assert codecs == ["aac", "h264"]
    assert abs(duration - record_time / 1000) < 0.25, f"file lasts {duration:.2f}s, XML says {record_time} ms"


def test_a_hundred_streams_recording_at_once_cost_no_threads_each_and_all_end_in_playable_files(
    ome: EmulatorProcess,
) -> None:
    """The portal records every live room; the reconcile tests and benchmark record hundreds at once. A thread
    and an encoder per recording (a thousand OS threads for 200) left the emulator too busy to answer its API."""
    names = [f"many{index:03d}" for index in range(100)]
    for name in names:
        ome.publish(f"rtmp://127.0.0.1:1935/app/{name}")
        start_record(ome, f"rec-{name}", name)
    time.sleep(2 * 0.5 + 0.5)  # every file written a little, twice
    assert all(record["recordBytes"] > 0 for record in ome.records())
    threads = len(list(Path(f"/proc/{ome.process.pid}/task").iterdir()))
    assert threads < 40, f"the emulator runs {threads} threads for 100 recordings"

    for name in names:
        assert ome.api("POST", STOP, {"id": f"rec-{name}"}).status_code == 200
    infos = [ome.disk_path(f"/default/app/{name}.xml") for name in names]
    ome.wait_for(lambda: all(info.exists() for info in infos), timeout=30, what="every info XML")
    for info in infos[::10]:
        [entry] = info_entries(info)
        duration, codecs = probe(ome.disk_path(entry["filePath"]))
        assert codecs == ["aac", "h264"] and duration > 1.0


def test_a_record_waits_in_ready_for_its_stream(ome: EmulatorProcess) -> None:
    created = start_record(ome, "later", "room2")
    assert created["state"] == "ready"
    assert "outputFilePath" not in created and "startTime" not in created
    ome.publish("rtmp://127.0.0.1:1935/app/room2")
    [record] = ome.records()
    assert record["state"] == "recording"
    assert record["outputFilePath"].startswith("/default/app/room2/")


def test_mp4_with_user_paths_expands_macros_and_puts_the_moov_first(ome: EmulatorProcess) -> None:
    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    start_record(
        ome,
        "mp4",
        "room1_rtmp",
        filePath="/org1/${Application}/${Stream}-${Sequence}-${StartTime:YYYYMMDDhhmm}-${EndTime:YYYYMMDDhhmmss}-${Id:x}.mp4",
        infoPath="/org1/${VirtualHost}/${Stream}.xml",
    )
    [record] = ome.records()
    assert record["filePath"].startswith("/org1/${Application}/"), "the template is reported as given"
    assert re.fullmatch(rf"/org1/app/room1_rtmp-0-\d{{12}}-{EPOCH_LOCAL}-mp4\.mp4", record["outputFilePath"])
    time.sleep(1.0)
    ome.api("POST", STOP, {"id": "mp4"})
    info = ome.disk_path("/org1/default/room1_rtmp.xml")
    ome.wait_for(info.exists, timeout=10, what="the info XML")
    [entry] = info_entries(info)
    media = ome.disk_path(entry["filePath"])
    head = media.read_bytes()[:4096]
    assert b"moov" in head, "the moov atom comes first (faststart): browsers can start playing at once"
    assert b"mdat" not in head or head.index(b"moov") < head.index(b"mdat")
    duration, codecs = probe(media)
    assert codecs == ["aac", "h264"] and abs(duration - int(entry["recordTime"]) / 1000) < 0.25


def test_when_the_stream_ends_the_segment_is_written_and_the_record_waits_for_the_next(ome: EmulatorProcess) -> None:
    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    start_record(ome, "rec", "room1", filePath="/r/${Stream}_${Sequence}.ts", infoPath="/r/${Stream}.xml")
    time.sleep(0.6)
    ome.unpublish("room1")
    [record] = ome.records()
    assert record["state"] == "ready"
    info = ome.disk_path("/r/room1.xml")
    ome.wait_for(info.exists, timeout=10, what="the first segment's XML")
    assert [entry["lastSequence"] for entry in info_entries(info)] == ["false"]

    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    [record] = ome.records()
    assert record["state"] == "recording" and record["outputFilePath"] == "/r/room1_1.ts"
    time.sleep(0.6)
    ome.api("POST", STOP, {"id": "rec"})
    ome.wait_for(lambda: len(info_entries(info)) == 2, timeout=10, what="the second entry")
    entries = info_entries(info)
    assert [(entry["filePath"], entry["sequence"], entry["lastSequence"]) for entry in entries] == [
        ("/r/room1_0.ts", "0", "false"),
        ("/r/room1_1.ts", "1", "true"),
    ]
    assert entries[0]["transactionId"] == entries[1]["transactionId"]
    assert ome.disk_path("/r/room1_0.ts").exists() and ome.disk_path("/r/room1_1.ts").exists()


def test_macros_with_other_characters_are_left_alone_like_ome(ome: EmulatorProcess) -> None:
    # OME matches ${[a-zA-Z0-9:]+} only: a time format with dashes is not expanded.
    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    started = start_record(ome, "odd", "room1", filePath="/o/${StartTime:YYYY-MM-DD}.ts", infoPath="/o/i.xml")
    assert started["outputFilePath"] == "/o/${StartTime:YYYY-MM-DD}.ts"


def test_record_errors_use_omes_messages(ome: EmulatorProcess) -> None:
    start_record(ome, "dup", "room1")
    cases = [
        (START, {"id": "dup", "stream": {"name": "room1"}}, 400, "Duplicate ID already exists"),
        (START, {"stream": {"name": "room1"}}, 400, "There is no required parameter [ id]"),
        (START, {"id": "x"}, 400, "There is no required parameter [ stream.name]"),
        (
            START,
            {"id": "x", "stream": {"name": "a"}, "interval": 1000, "schedule": "0 */1 *"},
            400,
            "[Interval] and [Schedule] cannot be used at the same time",
        ),
        (START, {"id": "x", "stream": {"name": "a"}, "schedule": "every hour"}, 400, "Invalid [schedule] parameter"),
        (STOP, {}, 400, "There is no required parameter [ id]"),
        (STOP, {"id": "nope"}, 404, "There is no record information related to the ID [nope]"),
    ]
    for path, body, status, message in cases:
        response = ome.api("POST", path, body)
        assert (response.status_code, response.json()["message"]) == (status, f"[HTTP] {message} ({status})"), body


def test_interval_splits_the_recording_into_files(ome: EmulatorProcess) -> None:
    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    start_record(ome, "split", "room1", interval=1000, filePath="/s/${Sequence}.ts", infoPath="/s/info.xml")
    info = ome.disk_path("/s/info.xml")
    ome.wait_for(lambda: info.exists() and len(info_entries(info)) >= 2, timeout=10, what="two segments")
    assert [entry["filePath"] for entry in info_entries(info)][:2] == ["/s/0.ts", "/s/1.ts"]
    assert ome.records()[0]["sequence"] >= 2


@pytest.fixture
def file_server(ome: EmulatorProcess) -> Iterator[str]:
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(ome.recordings_dir))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.browser
def test_an_mp4_recording_plays_in_chromium(ome: EmulatorProcess, file_server: str, page) -> None:
    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    start_record(ome, "web", "room1", filePath="/web/rec.mp4", infoPath="/web/rec.xml")
    time.sleep(3.0)
    ome.api("POST", STOP, {"id": "web"})
    ome.wait_for(ome.disk_path("/web/rec.xml").exists, timeout=10, what="the recording")
    page_path = ome.recordings_dir / "web" / "play.html"
    page_path.write_text(
        '<link rel="icon" href="data:,"><video id="v" src="rec.mp4" muted autoplay playsinline></video>'
    )
    page.goto(f"{file_server}/web/play.html")
    page.wait_for_function("() => document.getElementById('v').currentTime > 1.0", timeout=15_000)
    duration = page.evaluate("() => document.getElementById('v').duration")
    size = page.evaluate("() => [document.getElementById('v').videoWidth, document.getElementById('v').videoHeight]")
    assert 2.5 < duration < 3.5 and size == [640, 360]
    page.console_errors.assert_none()
