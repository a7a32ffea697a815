"""Databases of their own on the test PostgreSQL server, for processes started outside pytest's
test database (the production web command, workers, the fault stack)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.conf import settings


@contextmanager
def fresh_database(suffix: str) -> Iterator[str]:
    """An empty database named after the test database and `suffix`; its URL, dropped afterwards."""
    db = settings.DATABASES["default"]
    assert db["ENGINE"].endswith("postgresql"), "these tests need PostgreSQL (DATABASE_URL)"
    name = f"{db['NAME']}_{suffix}"[:63]
    server = {
        "host": db["HOST"] or "127.0.0.1",
        "port": db["PORT"] or 5432,
        "user": db["USER"],
        "password": db["PASSWORD"],
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    try:
        yield f"postgres://{db['USER']}{password}@{server['host']}:{server['port']}/{name}"
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
