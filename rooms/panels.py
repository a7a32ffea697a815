"""Sections that other apps add to the room page, without rooms importing them.

broadcasts and recordings register a panel in their AppConfig.ready(); the room page renders
every registered panel in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.template.loader import render_to_string


@dataclass(frozen=True)
class Panel:
    order: int
    template_name: str
    get_context: Callable[..., dict]


_panels: list[Panel] = []


def register(*, order: int, template_name: str, get_context: Callable[..., dict]) -> None:
    if not any(panel.template_name == template_name for panel in _panels):
        _panels.append(Panel(order, template_name, get_context))
        _panels.sort(key=lambda panel: panel.order)


def render_panels(*, room, request) -> list[str]:
    return [
        render_to_string(
            panel.template_name, {"room": room, **panel.get_context(room=room, request=request)}, request=request
        )
        for panel in _panels
    ]
