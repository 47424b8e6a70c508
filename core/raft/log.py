"""The Raft log of one node: entries after a compaction point, plus what is durable.

Entries live in one list after ``offset`` (the index of the last entry dropped by
compaction, whose term ``offset_term`` is still known so that the entry after it can
be matched). The latest snapshot covers everything up to ``snapshot.index``; with
``keep`` entries retained for slow followers, ``offset`` may lie below it.

Durability is tracked here, because Raft's safety rests on it: ``stable`` is the
last index known to be on disk. Entries appended beyond it are handed to the driver
as durable writes; a conflict that truncates the log caps every claim beyond the
truncation point, so a confirmation that arrives late never marks replaced entries
durable.

Invariant: offset <= applied <= committed <= last_index(), and committed <= stable
holds only on the leader side of commit counting (followers may learn a commit index
beyond what they store durably; entries are applied only up to ``stable``).
"""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import InvariantViolation
from core.raft.types import Entry, Snapshot


class RaftLog:
    def __init__(
        self, snapshot: Snapshot, entries: Sequence[Entry], offset: int, offset_term: int
    ) -> None:
        self.snapshot = snapshot
        self.offset = offset
        self.offset_term = offset_term
        self.entries: list[Entry] = list(entries)
        for position, entry in enumerate(self.entries):
            if entry.index != offset + 1 + position:
                raise InvariantViolation(f"log entries not contiguous at {entry.index}")
        self.committed = snapshot.index
        self.applied = snapshot.index
        self.stable = self.last_index()  # what we were given came from disk
        self.written = self.stable  # entries handed out as writes (maybe unconfirmed)
        # (seq, last index that write makes durable), oldest first
        self._unconfirmed: list[tuple[int, int]] = []

    # -- reading ---------------------------------------------------------------------

    def first_index(self) -> int:
        return self.offset + 1

    def last_index(self) -> int:
        return self.offset + len(self.entries)

    def term(self, index: int) -> int | None:
        """The term of the entry at ``index``; None if compacted away or not there."""
        if index == self.offset:
            return self.offset_term
        if index == self.snapshot.index:
            return self.snapshot.term
        if index < self.offset or index > self.last_index():
            return None
        return self.entries[index - self.offset - 1].term

    def last_term(self) -> int:
        term = self.term(self.last_index())
        if term is None:
            raise InvariantViolation("the last entry's term is unknown")
        return term

    def match_term(self, index: int, term: int) -> bool:
        return self.term(index) == term

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Raft 5.4.1: a candidate's log is at least as up to date as ours."""
        ours = self.last_term()
        return last_term > ours or (last_term == ours and last_index >= self.last_index())

    def slice(self, low: int, high: int) -> tuple[Entry, ...]:
        """Entries with ``low <= index < high``; ``low`` must not be compacted."""
        if low <= self.offset:
            raise InvariantViolation(f"slice from {low} but entries start at {self.offset + 1}")
        high = min(high, self.last_index() + 1)
        return tuple(self.entries[low - self.offset - 1 : high - self.offset - 1])

    def entry(self, index: int) -> Entry:
        return self.entries[index - self.offset - 1]

    def find_conflict(self, entries: Sequence[Entry]) -> int:
        """The index of the first entry whose term differs from ours (or that we lack);
        0 when every entry is already in the log."""
        for entry in entries:
            if not self.match_term(entry.index, entry.term):
                return entry.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> int:
        """The largest index <= ``index`` whose term is <= ``term`` (etcd's fast
        backtracking: the leader skips a whole term of mismatching entries at once)."""
        while index > self.offset:
            found = self.term(index)
            if found is not None and found <= term:
                return index
            index -= 1
        return index

    # -- changing --------------------------------------------------------------------

    def append(self, entries: Sequence[Entry]) -> None:
        """Append, truncating any entries from ``entries[0].index`` on."""
        if not entries:
            return
        first = entries[0].index
        if first <= self.committed:
            raise InvariantViolation(
                f"append at {first} would overwrite committed entry {self.committed}"
            )
        if first > self.last_index() + 1:
            raise InvariantViolation(f"append at {first} leaves a gap after {self.last_index()}")
        del self.entries[first - self.offset - 1 :]
        self.entries.extend(entries)
        if first <= self.written:
            self._truncate_durability(first - 1)

    def maybe_append(
        self, index: int, log_term: int, commit: int, entries: Sequence[Entry]
    ) -> int | None:
        """A leader's append: if our entry at ``index`` has ``log_term``, take the new
        entries (Raft 5.3) and return our last new index; otherwise None."""
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(entries)
        conflict = self.find_conflict(entries)
        if conflict:
            if conflict <= self.committed:
                raise InvariantViolation(
                    f"entry {conflict} conflicts with committed {self.committed}"
                )
            self.append(entries[conflict - index - 1 :])
        self.commit_to(min(commit, last_new))
        return last_new

    def discard_uncommitted(self) -> None:
        """Drop every entry after the commit index (force-new-cluster only)."""
        del self.entries[self.committed - self.offset :]
        self._truncate_durability(self.committed)

    def commit_to(self, index: int) -> None:
        if index > self.committed:
            if index > self.last_index():
                raise InvariantViolation(f"commit {index} beyond last index {self.last_index()}")
            self.committed = index

    def maybe_commit(self, index: int, term: int) -> bool:
        """Raft 5.4.2: commit by counting replicas only for entries of ``term``."""
        if index > self.committed and self.term(index) == term:
            self.commit_to(index)
            return True
        return False

    def restore(self, snapshot: Snapshot) -> None:
        """Replace the whole log with ``snapshot`` (a follower far behind)."""
        self.snapshot = snapshot
        self.offset = snapshot.index
        self.offset_term = snapshot.term
        self.entries = []
        self.committed = snapshot.index
        self.applied = snapshot.index
        self._truncate_durability(snapshot.index)
        self.written = snapshot.index

    def compact(self, snapshot: Snapshot, keep: int) -> None:
        """Record ``snapshot`` and drop entries before it, keeping ``keep`` of them."""
        if snapshot.index > self.applied:
            raise InvariantViolation(f"snapshot at {snapshot.index} beyond applied {self.applied}")
        if snapshot.index <= self.snapshot.index:
            return
        self.snapshot = snapshot
        new_offset = max(self.offset, snapshot.index - keep)
        if new_offset > self.offset:
            offset_term = self.term(new_offset)
            if offset_term is None:
                raise InvariantViolation(f"no term for compaction point {new_offset}")
            del self.entries[: new_offset - self.offset]
            self.offset, self.offset_term = new_offset, offset_term

    # -- durability ------------------------------------------------------------------

    def unwritten(self) -> tuple[Entry, ...]:
        """Entries not yet handed to the driver as a durable write."""
        return (
            self.slice(self.written + 1, self.last_index() + 1)
            if self.last_index() > self.written
            else ()
        )

    def mark_written(self, seq: int) -> None:
        """The entries up to the last index now travel in write ``seq``."""
        self.written = self.last_index()
        self._unconfirmed.append((seq, self.written))

    def confirm(self, seq: int) -> None:
        """Every write up to ``seq`` is on disk."""
        while self._unconfirmed and self._unconfirmed[0][0] <= seq:
            _, durable = self._unconfirmed.pop(0)
            self.stable = max(self.stable, durable)

    def _truncate_durability(self, index: int) -> None:
        self.written = min(self.written, index)
        self.stable = min(self.stable, index)
        self._unconfirmed = [(seq, min(durable, index)) for seq, durable in self._unconfirmed]
