"""Reactions to rooms going live and offline (rooms announces, broadcasts reacts)."""

from . import services


def start_auto_pushes(sender, room, session, **kwargs) -> None:
    services.start_auto_pushes(room=room)


def stop_pushes(sender, room, session, **kwargs) -> None:
    services.stop_room_pushes(room=room)
