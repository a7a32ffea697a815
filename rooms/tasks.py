"""Celery tasks of rooms: live-state changes reported by OME's admission webhook.

The webhook answers OME at once and leaves the writes to these tasks (it is on the hot path of
every publish and play). They take ids and call the idempotent services, so a retried or
duplicated task changes nothing.
"""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def publish_opened(room_id: int, protocol: str, user_id: int | None = None) -> None:
    services.go_live(room_id=room_id, protocol=protocol, started_by_id=user_id)


@shared_task(acks_late=True)
def publish_closed(room_id: int) -> None:
    services.go_offline(room_id=room_id)
