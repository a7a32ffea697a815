from django.apps import AppConfig


class BroadcastsConfig(AppConfig):
    name = "broadcasts"
    verbose_name = "Restreaming"

    def ready(self):
        from ome import reconcile
        from rooms import panels, signals

        from . import receivers, selectors
        from .reconcile import reconcile_pushes

        signals.room_went_live.connect(receivers.start_auto_pushes, dispatch_uid="broadcasts.auto_start")
        signals.room_went_offline.connect(receivers.stop_pushes, dispatch_uid="broadcasts.stop_on_offline")
        reconcile.register(order=20, name="broadcasts.pushes", reconciler=reconcile_pushes)
        panels.register(order=20, template_name="broadcasts/panel.html", get_context=selectors.panel_context)
