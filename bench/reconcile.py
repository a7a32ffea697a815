"""One reconcile pass at scale: 1,000 live rooms, 1,000 pushes and 200 recordings in the OME emulator.

Starts the emulator, publishes 1,000 rooms' streams to it, starts a push for each and a
recording for 200 of them, lets two passes move every room live and every push and recording on,
then times steady-state passes: OME calls (counted on the HTTP session), database queries and
seconds per pass. Runs in this process on the bench database (`python -m bench` calls it; alone:)

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/15 \
        .venv/bin/python -m bench.reconcile
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

from bench.admission import ROOT, ensure_database, server_environment

ROOMS, PUSHES, RECORDINGS = 1000, 1000, 200
ORGANIZATION = "bench-reconcile"


class CountingSession(requests.Session):
    """A real HTTP session that counts what it asks OME, by path shape."""

    def __init__(self):
        super().__init__()
        self.calls: Counter[str] = Counter()

    def request(self, method, url, *args, **kwargs):
        path = url.split("/v1/", 1)[-1]
        one_stream = path.startswith("stats/current/") and "/streams/" in path
        shape = "GET stats of one stream" if one_stream else f"{method} {path}"
        self.calls[shape.split("?")[0]] += 1
        return super().request(method, url, *args, **kwargs)


def _seed(ome) -> None:
    from django.db import transaction

    from broadcasts.models import Destination, Platform, Push, PushState
    from ome.client import OmeClient
    from organizations.models import Organization
    from recordings.models import Recording, RecordingState
    from rooms.models import Room, generate_stream_key

    Organization.objects.filter(slug=ORGANIZATION).delete()
    organization = Organization.objects.create(
        slug=ORGANIZATION, name="Bench reconcile", max_rooms=ROOMS, max_destinations_per_room=1
    )
    rooms = []
    for index in range(ROOMS):
        room = Room(organization=organization, public_id=f"rc-{index:04d}", title=f"Room {index}")
        room.set_stream_key(generate_stream_key())
        rooms.append(room)
    with transaction.atomic():
        rooms = Room.objects.bulk_create(rooms)
        destinations = Destination.objects.bulk_create(
            Destination(room=room, name="sink", platform=Platform.CUSTOM, url="rtmp://127.0.0.1:1/live")
            for room in rooms[:PUSHES]
        )
        pushes = Push.objects.bulk_create(
            Push(
                room=d.room,
                destination=d,
                stream_name=d.stream_name,
                url=d.url,
                state=PushState.STARTING,
            )
            for d in destinations
        )
        recordings = Recording.objects.bulk_create(
            Recording(room=room, state=RecordingState.WAITING) for room in rooms[:RECORDINGS]
        )
    client = OmeClient(ome.api_url, ome.token)
    with ThreadPoolExecutor(8) as pool:  # a few at a time: the emulator answers each in milliseconds
        list(pool.map(lambda room: ome.publish(f"rtmp://127.0.0.1:1935/app/{room.public_id}"), rooms))
        list(
            pool.map(
                lambda push: client.start_push(push_id=push.ome_id, stream_name=push.stream_name, url=push.url),
                pushes,
            )
        )
        list(
            pool.map(lambda rec: client.start_record(record_id=rec.ome_id, stream_name=rec.room.public_id), recordings)
        )


def measure(passes: int = 5) -> dict:
    """Seed, settle, then time `passes` steady-state passes; the numbers docs/performance.md shows."""
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from ome.client import OmeClient
    from ome.reconcile import reconcile
    from ome_emulator.testing import EmulatorProcess
    from rooms.models import LiveState, Room

    with EmulatorProcess() as ome:
        settings.OME_API_URL, settings.OME_API_TOKEN = ome.api_url, ome.token
        started = time.monotonic()
        _seed(ome)
        print(f"  reconcile: seeded {ROOMS} rooms in {time.monotonic() - started:.0f} s; settling…", flush=True)
        reconcile()  # every room goes live
        reconcile()  # pushes and records seen pushing and recording
        live = Room.objects.filter(organization__slug=ORGANIZATION, live_state=LiveState.LIVE).count()
        seconds, queries, calls = [], [], None
        profiler = None
        if os.environ.get("PROFILE_RECONCILE"):
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.001)
            profiler.start()
        for _ in range(passes):
            time.sleep(0.6)  # the emulator's counters tick twice a second
            session = CountingSession()
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                reconcile(OmeClient(ome.api_url, ome.token, session=session))
                seconds.append(time.perf_counter() - started)
            queries.append(len(captured))
            calls = session.calls
        if profiler is not None:
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False))
        from broadcasts.models import Push
        from recordings.models import Recording

        pushing = Push.objects.filter(room__organization__slug=ORGANIZATION, state="pushing").count()
        recording = Recording.objects.filter(room__organization__slug=ORGANIZATION, state="recording").count()
    return {
        "passes": passes,
        "rooms": live,
        "pushes": pushing,
        "recordings": recording,
        "ome_calls": sum(calls.values()),
        "ome_call_list": ", ".join(f"{shape} ×{count}" for shape, count in sorted(calls.items())),
        "queries": max(queries),
        "seconds": statistics.median(seconds),
        "all_seconds": seconds,
    }


def main() -> None:
    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench")
    env = server_environment(database_url, os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"))
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    ensure_database(database_url)
    import subprocess

    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], env=env, cwd=ROOT, check=True)
    print(measure())


if __name__ == "__main__":
    main()
