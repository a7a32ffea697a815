"""The house's import picture: `portal` (the project) on top, the apps in the middle, and
`organizations`, `ome` and `core` at the ground; imports only run downwards, and no two modules
import each other, directly or round a circle (function-level imports count too)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# What each package may import of the project (besides itself).
ALLOWED = {
    "core": set(),
    "ome": set(),
    "organizations": {"core"},
    "rooms": {"core", "ome", "organizations"},
    "broadcasts": {"core", "ome", "organizations", "rooms"},
    "recordings": {"core", "ome", "organizations", "rooms"},
    # Outgoing webhooks listen to the domain apps' signals; the API shows and manages them.
    "webhooks": {"core", "ome", "organizations", "rooms", "broadcasts", "recordings"},
    "api": {"core", "ome", "organizations", "rooms", "broadcasts", "recordings", "webhooks"},
    "portal": {"core", "ome", "organizations", "rooms", "broadcasts", "recordings", "webhooks", "api"},
    "ome_emulator": set(),
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in ALLOWED:
        for path in (REPO / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its code."""
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join([*parts[: len(parts) - node.level + 1], *([node.module] if node.module else [])])
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def test_imports_only_run_downwards():
    graph = _imports(_modules())
    upward = [
        f"{module} imports {target}"
        for module, targets in graph.items()
        for target in targets
        if (source := module.split(".")[0]) != (dest := target.split(".")[0]) and dest not in ALLOWED[source]
    ]
    assert not upward, "imports that run up or sideways in the house:\n" + "\n".join(sorted(upward))


def test_no_two_modules_import_each_other_even_round_a_circle():
    graph = _imports(_modules())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph.get(module, ()):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in list(graph):
        if module not in index:
            visit(module)
    assert not circles, "modules that import each other: " + "; ".join(" ↔ ".join(circle) for circle in circles)
