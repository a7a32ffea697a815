from django.apps import AppConfig


class RecordingsConfig(AppConfig):
    name = "recordings"

    def ready(self):
        from django.db.models.signals import post_delete

        from ome import reconcile
        from rooms import panels, signals

        from . import receivers, selectors
        from .reconcile import reconcile_recordings

        signals.room_went_live.connect(receivers.start_auto_recording, dispatch_uid="recordings.auto_record")
        signals.room_went_offline.connect(receivers.stop_recordings, dispatch_uid="recordings.stop_on_offline")
        post_delete.connect(receivers.delete_files, sender="recordings.Recording", dispatch_uid="recordings.files")
        reconcile.register(order=30, name="recordings.records", reconciler=reconcile_recordings)
        panels.register(order=30, template_name="recordings/panel.html", get_context=selectors.panel_context)
