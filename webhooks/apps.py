from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks to embedding sites"

    def ready(self):
        from broadcasts.signals import push_state_changed
        from recordings.signals import recording_state_changed
        from rooms.signals import room_is_live, room_went_offline

        from . import receivers

        room_is_live.connect(receivers.room_live, dispatch_uid="webhooks.room_live")
        room_went_offline.connect(receivers.room_offline, dispatch_uid="webhooks.room_offline")
        push_state_changed.connect(receivers.push_changed, dispatch_uid="webhooks.push_changed")
        recording_state_changed.connect(receivers.recording_changed, dispatch_uid="webhooks.recording_changed")
