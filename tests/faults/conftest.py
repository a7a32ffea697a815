"""Fixtures of the fault tests: one real stack for the session, fresh and whole before each test.

- `fault_stack` (session): a `FaultStack` (tests/faults/processes.py) on a database of its own
  (`<test database>_faults`, dropped afterwards), started once.
- `stack` (function): the same stack with every process running again (whatever the previous
  test killed or stopped) and the emulator reset. Tests seed their own rooms with `stack.seed`.
- `figures` (session): what each test measured — faults injected, requests tried, lost,
  duplicated — printed as a table at the end of the run (the one in docs/reliability.md), and
  written as JSON to $FAULT_FIGURES_FILE when set.

Fault tests are marked `faults`: `bash scripts/test tests/faults` runs just them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

import pytest

from ..databases import fresh_database
from .processes import FaultStack


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/faults/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session")
def fault_database_url():
    with fresh_database("faults") as url:
        yield url


@pytest.fixture(scope="session")
def fault_stack(fault_database_url, tmp_path_factory):
    stack = FaultStack(workdir=tmp_path_factory.mktemp("fault-stack"), database_url=fault_database_url)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def stack(fault_stack):
    fault_stack.ensure_running()
    return fault_stack


@dataclass
class Figure:
    fault: str
    test: str
    injected: int
    tried: int
    lost: int
    duplicated: int
    notes: str = ""


@dataclass
class Figures:
    rows: list[Figure] = field(default_factory=list)

    def record(self, request, *, fault: str, injected: int, tried: int, lost: int, duplicated: int, notes: str = ""):
        self.rows.append(Figure(fault, request.node.name, injected, tried, lost, duplicated, notes))


_FIGURES = Figures()


@pytest.fixture(scope="session")
def figures() -> Figures:
    return _FIGURES


def pytest_terminal_summary(terminalreporter):
    if not _FIGURES.rows:
        return
    terminalreporter.section("fault figures")
    terminalreporter.write_line("| fault | test | injected | tried | lost | duplicated | notes |")
    terminalreporter.write_line("|---|---|---|---|---|---|---|")
    for row in _FIGURES.rows:
        terminalreporter.write_line(
            f"| {row.fault} | {row.test} | {row.injected} | {row.tried} | {row.lost} | {row.duplicated} | {row.notes} |"
        )
    path = os.environ.get("FAULT_FIGURES_FILE")
    if path:
        with open(path, "w") as out:
            json.dump([asdict(row) for row in _FIGURES.rows], out, indent=2)
