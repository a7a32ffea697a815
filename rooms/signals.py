"""What rooms announce, so that broadcasts and recordings can react without rooms importing them.

Receivers run inside the service's transaction and should only enqueue work
(with transaction.on_commit); they must not call OME themselves.
"""

from django.dispatch import Signal

# kwargs: room, session — a session opened (the room is starting: OME may not list it yet)
room_went_live = Signal()
# kwargs: room, session — OME lists the room's stream: viewers can watch (once per session;
# not again when it comes back from reconnecting)
room_is_live = Signal()
# kwargs: room, session (None when no session was open), was_live (it had been watchable)
room_went_offline = Signal()
