from django.apps import AppConfig


class RoomsConfig(AppConfig):
    name = "rooms"

    def ready(self):
        from ome import reconcile

        from . import facts
        from .reconcile import reconcile_live_state

        facts.connect()

        reconcile.register(order=10, name="rooms.live_state", reconciler=reconcile_live_state)
