"""What a leader knows about each follower's log, and how fast it may send to it.

As etcd-io/raft's tracker: a follower is probed (one append per heartbeat until its
match index is found), replicated to (appends pipelined up to an inflight window), or
sent a snapshot (no appends until it reports in). The window bounds the appends in
flight to one follower, so a slow follower cannot make the leader queue without end.
"""

from __future__ import annotations

import enum
from collections import deque

from core.errors import InvariantViolation


class ProgressState(enum.Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


class Inflights:
    """The last index of each append in flight, oldest first, at most ``capacity``."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise InvariantViolation("the inflight window needs room for one append")
        self.capacity = capacity
        self._last_indexes: deque[int] = deque()

    def add(self, last_index: int) -> None:
        if self.full():
            raise InvariantViolation("append sent with a full inflight window")
        self._last_indexes.append(last_index)

    def free_to(self, index: int) -> None:
        """Acknowledged up to ``index``: those appends are no longer in flight."""
        while self._last_indexes and self._last_indexes[0] <= index:
            self._last_indexes.popleft()

    def free_first(self) -> None:
        if self._last_indexes:
            self._last_indexes.popleft()

    def full(self) -> bool:
        return len(self._last_indexes) >= self.capacity

    def reset(self) -> None:
        self._last_indexes.clear()

    def __len__(self) -> int:
        return len(self._last_indexes)


class Progress:
    """One follower, from the leader's side. Invariant: match < next."""

    def __init__(self, next_index: int, inflight_max: int) -> None:
        self.match = 0
        self.next = next_index
        self.state = ProgressState.PROBE
        self.probe_sent = False
        self.pending_snapshot = 0
        self.snapshot_ticks = 0  # heartbeat ticks since the snapshot was sent
        self.recent_active = False
        self.inflights = Inflights(inflight_max)

    def become_probe(self) -> None:
        if self.state is ProgressState.SNAPSHOT:
            self.next = max(self.match + 1, self.pending_snapshot + 1)
        else:
            self.next = self.match + 1
        self._reset(ProgressState.PROBE)

    def become_replicate(self) -> None:
        self.next = self.match + 1
        self._reset(ProgressState.REPLICATE)

    def become_snapshot(self, snapshot_index: int) -> None:
        self._reset(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index

    def _reset(self, state: ProgressState) -> None:
        self.state = state
        self.probe_sent = False
        self.pending_snapshot = 0
        self.snapshot_ticks = 0
        self.inflights.reset()

    def maybe_update(self, index: int) -> bool:
        """The follower matches up to ``index``; True if that is news."""
        updated = index > self.match
        if updated:
            self.match = index
            self.probe_sent = False
        self.next = max(self.next, index + 1)
        return updated

    def maybe_decrease_to(self, rejected: int, match_hint: int) -> bool:
        """The follower refused an append after ``rejected``; back off towards
        ``match_hint``. False if the rejection is stale."""
        if self.state is ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.probe_sent = False
        return True

    def is_paused(self) -> bool:
        """Whether the leader must hold appends to this follower for now."""
        if self.state is ProgressState.PROBE:
            return self.probe_sent
        if self.state is ProgressState.REPLICATE:
            return self.inflights.full()
        return True

    def sent_entries(self, last_index: int, count: int) -> None:
        """Record an append carrying entries up to ``last_index``."""
        if self.state is ProgressState.REPLICATE:
            if count:
                self.next = last_index + 1
                self.inflights.add(last_index)
        elif self.state is ProgressState.PROBE:
            self.probe_sent = True
