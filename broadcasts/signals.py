"""What broadcasts announces, so that other apps (webhooks) can react without broadcasts knowing them.

Receivers run inside the transaction of the change (where there is one) and should only record
and enqueue work (with transaction.on_commit).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.dispatch import Signal

# kwargs: push_ids (list of Push pks), state (the PushState they are now in)
push_state_changed = Signal()


def announce_state_changes(changes: Iterable[tuple[int, str, str]]) -> None:
    """Send `push_state_changed` for (push id, state before, state after) where the state moved."""
    moved: dict[str, list[int]] = defaultdict(list)
    for push_id, before, after in changes:
        if before != after:
            moved[after].append(push_id)
    for state, push_ids in moved.items():
        push_state_changed.send(sender=None, push_ids=push_ids, state=state)
