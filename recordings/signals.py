"""What recordings announces, so that other apps (webhooks) can react without recordings knowing them.

Receivers run inside the transaction of the change (where there is one) and should only record
and enqueue work (with transaction.on_commit).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.dispatch import Signal

# kwargs: recording_ids (list of Recording pks), state (the RecordingState they are now in)
recording_state_changed = Signal()


def announce_state_changes(changes: Iterable[tuple[int, str, str]]) -> None:
    """Send `recording_state_changed` for (recording id, state before, state after) where the state moved."""
    moved: dict[str, list[int]] = defaultdict(list)
    for recording_id, before, after in changes:
        if before != after:
            moved[after].append(recording_id)
    for state, recording_ids in moved.items():
        recording_state_changed.send(sender=None, recording_ids=recording_ids, state=state)
