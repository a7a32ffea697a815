"""OME crashes (SIGKILL) and comes back on the same ports while a room is live: nothing is lost.

Real processes throughout: the OME emulator (killed and started again), the portal's live server
answering its admission webhooks, a Celery worker carrying out the tasks, and the reconcile loop
as `manage.py reconcile --loop` (every 5 s, production's default). The encoder is the
emulator's control API publishing with the room's stream key, and publishing again after the
restart like OBS reconnecting by itself.

The figures each test measures are printed (`-s`) and reported in docs/reliability.md.
"""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from broadcasts import services as broadcasts
from broadcasts.models import Platform, Push, PushState
from ome_emulator.testing import EmulatorError, EmulatorProcess
from recordings.models import Recording, RecordingState
from rooms.models import LiveSession, LiveState, Room

from ..conftest import client_for
from ..factories import RoomFactory
from .ome_crash_fixtures import RECONCILE_SECONDS, crash_stack, crashable_ome, kill_hard, reconcile_loop, wait_until

__all__ = ["crash_stack", "crashable_ome", "reconcile_loop"]  # fixtures, used by name

pytestmark = [pytest.mark.emulator, pytest.mark.django_db(transaction=True)]

PUSHES_BACK_WITHIN = 30.0


def _destination(room, name: str, *, auto_start: bool = False):
    return broadcasts.add_destination(
        room=room,
        name=name,
        platform=Platform.CUSTOM,
        url=f"rtmp://{name.lower()}.example.com/live",
        stream_key=f"{name.lower()}-key",
        auto_start=auto_start,
    )


def _encoder_url(room) -> str:
    return f"rtmp://127.0.0.1:1935/app/{room.stream_key}"


def _ome_pushes(ome: EmulatorProcess) -> dict[str, str]:
    return {push["id"]: push["state"] for push in ome.pushes()}


def _ome_records(ome: EmulatorProcess) -> dict[str, str]:
    return {record["id"]: record["state"] for record in ome.records()}


def _push(destination) -> Push:
    return Push.objects.filter(destination=destination).order_by("-created_at", "-pk").first()


def _reconnect(ome: EmulatorProcess, room, *, port: int, timeout: float = 20.0) -> tuple[int, float]:
    """Publish like OBS does after losing its server: again and again until admitted.

    Returns (attempts, seconds from the first attempt to the admission)."""
    started, attempts = time.monotonic(), 0
    while True:
        attempts += 1
        try:
            ome.publish(_encoder_url(room), {"port": port})
            return attempts, time.monotonic() - started
        except EmulatorError as refused:
            if time.monotonic() - started > timeout:
                raise AssertionError(f"the reconnecting encoder was refused for {timeout:.0f}s: {refused}") from None
            time.sleep(0.5)


def _go_live_with_everything_running(ome: EmulatorProcess, team):
    """A live room recording itself, with a push started by hand, an automatic one and a stopped one."""
    room = RoomFactory(organization=team.organization, public_id="crash-room", title="Crash room", auto_record=True)
    by_hand = _destination(room, "Manual")
    automatic = _destination(room, "Auto", auto_start=True)
    stopped = _destination(room, "Stopped")

    ome.publish(_encoder_url(room), {"port": 40001})
    broadcasts.start_push(destination=by_hand, requested_by=team.streamer)
    broadcasts.start_push(destination=stopped, requested_by=team.streamer)

    def all_running():
        pushes = [_push(by_hand), _push(automatic), _push(stopped)]
        recording = Recording.objects.filter(room=room).first()
        return (
            Room.objects.get(pk=room.pk).live_state == LiveState.LIVE
            and all(push is not None and push.state == PushState.PUSHING for push in pushes)
            and recording is not None
            and recording.state == RecordingState.RECORDING
        )

    wait_until(all_running, timeout=30, what="the room to be live with its pushes and recording running")
    broadcasts.stop_push(push=_push(stopped))
    wait_until(
        lambda: _push(stopped).ome_id not in _ome_pushes(ome) and _push(stopped).state == PushState.STOPPED,
        timeout=15,
        what="the push stopped by hand to leave OME",
    )
    time.sleep(1.5)  # the recording gets some media on disk
    return room, by_hand, automatic, stopped


def test_after_an_ome_crash_the_encoder_is_back_within_seconds_and_every_running_push_resumes(crash_stack, team):
    ome = crash_stack
    room, by_hand, automatic, stopped = _go_live_with_everything_running(ome, team)
    session = LiveSession.objects.get(room=room, ended_at__isnull=True)
    interrupted = Recording.objects.get(room=room)
    running_push_ids = {_push(by_hand).ome_id, _push(automatic).ome_id}

    kill_hard(ome)
    time.sleep(2)  # OME is down; the reconcile loop finds it unreachable and changes nothing
    ome.start()
    restarted = time.monotonic()
    assert _ome_pushes(ome) == {} and ome.state()["streams"] == [], "the restarted OME remembers nothing"

    attempts, admitted_after = _reconnect(ome, room, port=40002)
    admitted_at = time.monotonic() - restarted
    assert attempts == 1, f"OBS reconnecting after the restart was refused {attempts - 1} time(s)"

    _, pushes_back_after = wait_until(
        lambda: all(_ome_pushes(ome).get(ome_id) == "pushing" for ome_id in running_push_ids),
        timeout=PUSHES_BACK_WITHIN,
        what="both pushes that were running before the crash to push again",
    )
    pushes_back_at = time.monotonic() - restarted

    # The stopped push stays stopped, and nothing is pushed twice.
    assert _push(stopped).ome_id not in _ome_pushes(ome)
    assert _push(stopped).state == PushState.STOPPED
    assert sorted(_ome_pushes(ome)) == sorted(running_push_ids), "one OME push per running destination"
    wait_until(
        lambda: {_push(by_hand).state, _push(automatic).state} == {PushState.PUSHING},
        timeout=3 * RECONCILE_SECONDS,
        what="the room page to show both pushes pushing",
    )
    assert Push.objects.filter(room=room).count() == 3, "the pushes were resumed, not started again as new ones"

    # The live session went on: one session, still open, and the room is live again.
    wait_until(
        lambda: Room.objects.get(pk=room.pk).live_state == LiveState.LIVE,
        timeout=3 * RECONCILE_SECONDS,
        what="the room to be live again",
    )
    assert list(LiveSession.objects.filter(room=room)) == [session]
    session.refresh_from_db()
    assert session.ended_at is None

    # The recording OME was writing is listed as interrupted, with the file OME left, downloadable.
    interrupted = wait_until(
        lambda: Recording.objects.filter(pk=interrupted.pk, state=RecordingState.INTERRUPTED).first(),
        timeout=3 * RECONCILE_SECONDS,
        what="the recording OME was writing to be listed as interrupted",
    )[0]
    assert interrupted.file_path and interrupted.size_bytes > 0
    assert ome.disk_path(interrupted.file_path).stat().st_size == interrupted.size_bytes
    download = client_for(team.streamer).get(
        reverse("recordings:file", args=[room.public_id, interrupted.pk]) + "?download=1"
    )
    assert download.status_code == 200
    assert int(download["Content-Length"]) == interrupted.size_bytes
    panel = client_for(team.streamer).get(reverse("recordings:panel", args=[room.public_id])).json()["html"]
    assert "Interrupted" in panel and "download-recording" in panel

    # The room records automatically: a new recording runs now that the stream is back.
    resumed = wait_until(
        lambda: Recording.objects.filter(room=room, state=RecordingState.RECORDING).exclude(pk=interrupted.pk).first(),
        timeout=3 * RECONCILE_SECONDS,
        what="a new recording of the auto-recording room",
    )[0]
    assert _ome_records(ome) == {resumed.ome_id: "recording"}

    print(
        f"\nMEASURED ome-crash: encoder admitted {admitted_at:.2f}s after OME was back "
        f"(attempts {attempts}, {admitted_after:.2f}s after the first attempt); "
        f"both pushes pushing {pushes_back_at:.2f}s after OME was back "
        f"({pushes_back_after:.2f}s after the encoder); reconcile every {RECONCILE_SECONDS:.0f}s"
    )


def test_after_an_ome_crash_a_destination_that_refuses_does_not_hold_back_the_others(crash_stack, team):
    ome = crash_stack
    room, by_hand, automatic, _stopped = _go_live_with_everything_running(ome, team)
    refusing = _destination(room, "Refusing")
    broadcasts.start_push(destination=refusing, requested_by=team.streamer)
    wait_until(lambda: _push(refusing).state == PushState.PUSHING, timeout=15, what="the third push to be pushing")

    kill_hard(ome)
    ome.start()
    restarted = time.monotonic()
    ome.fail_destination(refusing.url, "Connection refused")
    _reconnect(ome, room, port=40003)

    healthy = {_push(by_hand).ome_id, _push(automatic).ome_id}
    wait_until(
        lambda: all(_ome_pushes(ome).get(ome_id) == "pushing" for ome_id in healthy),
        timeout=PUSHES_BACK_WITHIN,
        what="the healthy destinations to push again",
    )
    pushes_back_at = time.monotonic() - restarted
    wait_until(
        lambda: _push(refusing).state == PushState.ERROR,
        timeout=3 * RECONCILE_SECONDS,
        what="the refusing destination's push to show its error",
    )
    assert "refused" in _push(refusing).error_message or "could not be reached" in _push(refusing).error_message
    time.sleep(RECONCILE_SECONDS + 1)  # another pass: the failure stays where it is
    assert all(_ome_pushes(ome).get(ome_id) == "pushing" for ome_id in healthy)
    assert {_push(by_hand).state, _push(automatic).state} == {PushState.PUSHING}
    print(
        f"\nMEASURED ome-crash with a refusing destination: healthy pushes pushing {pushes_back_at:.2f}s after restart"
    )
