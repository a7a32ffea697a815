"""What rooms announce, so that broadcasts and recordings can react without rooms importing them.

Receivers run inside the service's transaction and should only enqueue work
(with transaction.on_commit); they must not call OME themselves.
"""

from django.dispatch import Signal

# kwargs: room, session
room_went_live = Signal()
# kwargs: room, session (None when no session was open)
room_went_offline = Signal()
