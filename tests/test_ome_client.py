"""The OME client against the emulator over real HTTP: every call, every error, as OME answers."""

import socket
import threading

import pytest

from ome.client import (
    OmeBadRequest,
    OmeClient,
    OmeConflict,
    OmeNotFound,
    OmeUnauthorized,
    OmeUnavailable,
)


@pytest.fixture
def client(ome):
    return OmeClient(ome.api_url, ome.token, timeout=5)


def test_streams_are_listed_described_and_disconnected(client, ome):
    assert client.list_streams() == []
    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    assert client.list_streams() == ["room1"], "variants such as room1_rtmp are not input streams"
    info = client.stream_info("room1")
    assert info.name == "room1"
    assert info.source_type == "Rtmp"
    assert info.created_time is not None
    assert "room1_rtmp" in info.output_names
    with pytest.raises(OmeNotFound, match=r"Could not find the stream: \[default/#default#app/room1_rtmp\]"):
        client.stream_info("room1_rtmp")
    client.delete_stream("room1")
    assert client.list_streams() == []
    with pytest.raises(OmeNotFound):
        client.delete_stream("room1")


def test_pushes_wait_for_their_stream_then_push_and_stop(client, ome):
    push = client.start_push(
        push_id="p1", stream_name="room1_rtmp", url="rtmp://127.0.0.1:19352/live", stream_key="sinkkey"
    )
    assert (push.id, push.state, push.stream_name, push.protocol) == ("p1", "ready", "room1_rtmp", "rtmp")
    assert push.start_time is None, "OME's 1970 timestamps mean 'not yet'"
    with pytest.raises(OmeConflict, match="Duplicate ID"):
        client.start_push(push_id="p1", stream_name="room1_rtmp", url="rtmp://127.0.0.1:19352/live")
    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    pushing = ome.wait_for(lambda: [p for p in client.pushes("p1") if p.state == "pushing"], what="pushing")[0]
    assert pushing.start_time is not None
    ome.wait_for(lambda: client.pushes("p1")[0].total_sent_bytes > 0, what="bytes sent")
    client.stop_push("p1")
    ome.wait_for(lambda: not client.pushes(), what="the push to be gone")
    with pytest.raises(OmeNotFound, match="Could not find id 'p1'"):
        client.stop_push("p1")


def test_a_push_without_protocol_is_a_bad_request_with_omes_message(client):
    with pytest.raises(OmeBadRequest, match=r"Could not find protocol ''") as error:
        client.start_push(push_id="px", stream_name="room1_rtmp", url="rtmp://x/live", protocol="")
    assert error.value.status_code == 400


def test_records_start_stop_and_vanish_from_the_list(client, ome):
    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    record = client.start_record(record_id="r1", stream_name="room1", file_path="/rec/r1.mp4", info_path="/rec/r1.xml")
    assert (record.id, record.state) == ("r1", "recording")
    assert record.file_path == "/rec/r1.mp4"
    with pytest.raises(OmeConflict, match="Duplicate ID already exists"):
        client.start_record(record_id="r1", stream_name="room1")
    ome.wait_for(lambda: client.records("r1")[0].record_bytes > 0, what="bytes recorded")
    assert client.stop_record("r1").state == "stopping"
    assert client.records() == [], "a finished record leaves :records; its info file tells the rest"
    with pytest.raises(OmeNotFound, match=r"no record information related to the ID \[r1\]"):
        client.stop_record("r1")


def test_statistics_count_players_per_protocol(client, ome):
    ome.publish("rtmp://127.0.0.1:1935/app/room1")
    ome.play("ws://127.0.0.1:3333/app/room1")
    ome.play("http://127.0.0.1:3333/app/room1/llhls.m3u8")
    stats = client.stream_stats("room1")
    assert stats.connections["webrtc"] == 1 and stats.connections["llhls"] == 1
    assert stats.viewers == 2
    assert client.app_stats().viewers == 2


def test_a_wrong_token_is_unauthorized(ome):
    with pytest.raises(OmeUnauthorized, match=r"Invalid credential \(401\)"):
        OmeClient(ome.api_url, "wrong-token").list_streams()


def test_an_unreachable_ome_is_unavailable_and_retryable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OmeUnavailable, match="unreachable"):
        OmeClient(f"http://127.0.0.1:{port}", "t").list_streams()


def test_an_ome_that_does_not_answer_times_out_as_unavailable():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    try:
        with pytest.raises(OmeUnavailable):
            OmeClient(f"http://127.0.0.1:{server.getsockname()[1]}", "t", timeout=0.5).list_streams()
    finally:
        server.close()
