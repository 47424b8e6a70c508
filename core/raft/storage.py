"""What a node keeps on disk, as a value: apply durable writes, restart from it.

The simulator holds one per host (and drops writes that were not confirmed when the
host crashes); the real daemon replays its write-ahead log into one. It is plain data:
no files here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.errors import InvariantViolation
from core.raft.types import DurableWrite, Entry, HardState, Snapshot


@dataclass
class PersistentState:
    hard_state: HardState = field(default_factory=HardState)
    snapshot: Snapshot = field(default_factory=Snapshot)
    offset: int = 0  # index of the last entry dropped by compaction
    offset_term: int = 0
    entries: list[Entry] = field(default_factory=list)

    def apply(self, write: DurableWrite) -> None:
        """Make ``write`` durable: the order of fields is the order a WAL applies them."""
        if write.snapshot is not None:
            self._take_snapshot(write.snapshot, write.compaction)
        elif write.compaction is not None:
            self._compact(*write.compaction)
        if write.entries:
            first = write.entries[0].index
            if first <= self.offset or first > self.offset + len(self.entries) + 1:
                raise InvariantViolation(
                    f"durable append at {first} does not fit after {self.offset}"
                )
            del self.entries[first - self.offset - 1 :]
            self.entries.extend(write.entries)
        if write.hard_state is not None:
            self.hard_state = write.hard_state

    def _take_snapshot(self, snapshot: Snapshot, compaction: tuple[int, int] | None) -> None:
        if snapshot.index > self.snapshot.index:
            self.snapshot = snapshot
        if compaction is not None:
            self._compact(*compaction)

    def _compact(self, offset: int, offset_term: int) -> None:
        last = self.offset + len(self.entries)
        if offset >= last:
            self.entries = []
        elif offset > self.offset:
            del self.entries[: offset - self.offset]
        if offset > self.offset:
            self.offset, self.offset_term = offset, offset_term

    def copy(self) -> PersistentState:
        return PersistentState(
            self.hard_state, self.snapshot, self.offset, self.offset_term, list(self.entries)
        )

    def last_index(self) -> int:
        return self.offset + len(self.entries)
