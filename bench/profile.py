"""Profile one of the benchmarked paths in-process with pyinstrument (before optimising it).

Same settings and data as `python -m bench` (run that once first: it migrates and seeds the
database and collects the static files), requests sent through Django's WSGI handler by its
test client, the whole middleware stack included. Prints pyinstrument's call tree.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/15 \
        .venv/bin/python -m bench.profile webhook --requests 2000
"""

from __future__ import annotations

import argparse
import os

from bench.admission import ROOT, seed, server_environment, signed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", choices=["webhook", "private-webhook", "publish", "watch", "bare"])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench")
    )
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"))
    args = parser.parse_args()

    env = server_environment(args.database_url, args.redis_url)
    env.update(STATIC_MANIFEST="true", STATIC_ROOT=str(ROOT / "var" / "bench-static"))
    os.environ.update(env)
    fixtures = seed()

    from django.test import Client
    from pyinstrument import Profiler

    client = Client(HTTP_HOST="127.0.0.1")
    public_ws = f"ws://ome.internal:3333/app/{fixtures.public_id}"
    private_hls = f"http://ome.internal:3333/app/{fixtures.private_id}/llhls.m3u8?token={fixtures.member_token}"

    def webhook(*fields):
        body, headers = signed(*fields)
        return lambda: client.post(
            "/ome/admission", body, content_type="application/json", HTTP_X_OME_SIGNATURE=headers["X-OME-Signature"]
        )

    calls = {
        "webhook": webhook("outgoing", "opening", "WebRTC", public_ws, 20000),
        "private-webhook": webhook("outgoing", "opening", "LLHLS", private_hls, 30000),
        "publish": webhook("incoming", "opening", "RTMP", "rtmp://ome.internal:1935/app/sk-wrong", 40000),
        "watch": lambda: client.get(f"/watch/{fixtures.public_id}"),
        "bare": lambda: client.get("/bench/bare"),
    }
    call = calls[args.path]
    for _ in range(50):  # warm up: imports, connections, templates
        call()
    profiler = Profiler(interval=0.0005)
    with profiler:
        for _ in range(args.requests):
            response = call()
            assert response.status_code in (200, 304), response.content[:300]
    print(profiler.output_text(unicode=True, color=False, show_all=os.environ.get("PROFILE_ALL") == "1"))


if __name__ == "__main__":
    main()
