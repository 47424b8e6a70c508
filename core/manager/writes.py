"""The leader's one writer: SwarmKit's store update lock, without the blocking.

Every leader component and every API request that wants to change the store
submits a *job*: a function that reads the committed state through a write
transaction and writes what it decides. Jobs run only when no earlier round of
writes is still in flight, so each one reads the state every earlier write left,
and two components can never both act on one stale read (the store would refuse
the second at apply time and the work would be lost). A round packs the waiting jobs
into one :class:`~core.store.Batch` (transactions of at most 200 changes; an API
write gets a transaction of its own, so it commits or fails alone), bounded to
``changes_per_round_max`` changes so that no single step does unbounded work.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import ShoalError
from core.store import MemoryStore, Transaction, WriteTx

Build = Callable[[WriteTx], None]
Done = Callable[[ShoalError | None], None]

#: Changes one round may carry (ten full transactions).
CHANGES_PER_ROUND_MAX = 2_000


@dataclass(frozen=True, slots=True)
class Job:
    build: Build
    done: Done | None = None
    alone: bool = False  # in a transaction of its own (an API write)


@dataclass(frozen=True, slots=True)
class Round:
    """A round's transactions, in proposal order, each with the jobs it carries."""

    transactions: tuple[tuple[Transaction, tuple[Done, ...]], ...]


class WriteQueue:
    def __init__(self, changes_per_round_max: int = CHANGES_PER_ROUND_MAX) -> None:
        self.changes_per_round_max = changes_per_round_max
        self.jobs: deque[Job] = deque()

    def submit(self, build: Build, done: Done | None = None, *, alone: bool = False) -> None:
        self.jobs.append(Job(build, done, alone))

    def __len__(self) -> int:
        return len(self.jobs)

    def take(self, store: MemoryStore, wall_ns: int) -> Round:
        """Run waiting jobs against ``store`` until the round is full. A job that
        raised an expected error is answered at once and leaves no change; so is a
        job that changed nothing."""
        batch = store.batch(wall_ns)
        carried: dict[int, list[Done]] = {}
        while self.jobs and batch.changes < self.changes_per_round_max:
            job = self.jobs.popleft()
            if job.alone:
                batch.boundary()
            before = batch.changes
            error = batch.update(job.build)
            if job.alone:
                batch.boundary()
            if error is not None or batch.changes == before:
                if job.done is not None:
                    job.done(error)
                continue
            if job.done is not None:
                carried.setdefault(batch.transaction_count - 1, []).append(job.done)
        return Round(
            tuple((tx, tuple(carried.get(i, ()))) for i, tx in enumerate(batch.transactions()))
        )
