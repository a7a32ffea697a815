"""Reactions to rooms going live and offline (rooms announces, recordings reacts)."""

from . import files, services, storage, tasks


def start_auto_recording(sender, room, session, **kwargs) -> None:
    services.start_auto_recording(room=room)


def stop_recordings(sender, room, session, **kwargs) -> None:
    services.stop_room_recordings(room=room)


def delete_files(sender, instance, **kwargs) -> None:
    if storage.uses_bucket():
        tasks.queue_file_deletion(instance)  # the object, and the folder's leftovers where the folder is
    else:
        files.delete_files(instance)
