"""A host's disk: what was fsynced survives, the un-fsynced tail may not.

Writes queue up; one fsync at a time makes every queued write durable (group
commit, one fsync for a batch, as etcd's asynchronous storage writes). A process
crash keeps what reached the page cache; a power loss throws the un-fsynced tail
away. Confirmations reach the node through the callback the host supplies. A
stalled disk (the scenario's ``stall-disk``) finishes no fsync until the stall ends,
as a real WAL's writes and fsyncs block while its disk hangs; and, as a real driver
carries out nothing of an envelope before its WAL's sync (real/driver.py), the host's
outputs from its first envelope with a durable write on wait for the stall's end
(:meth:`SimDisk.hold`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import simpy

from core.raft.storage import PersistentState
from core.raft.types import DurableWrite


@dataclass(frozen=True)
class DiskModel:
    fsync_min: float = 0.0005  # an SSD's fsync: 0.5 ms plus an exponential tail
    fsync_mean_extra: float = 0.0005

    def fsync_time(self, rng: random.Random) -> float:
        return self.fsync_min + rng.expovariate(1.0 / self.fsync_mean_extra)


class SimDisk:
    def __init__(
        self, env: simpy.Environment, rng: random.Random, model: DiskModel | None = None
    ) -> None:
        self.env = env
        self.rng = rng
        self.model = model or DiskModel()
        self.durable = PersistentState()
        self.pending: list[DurableWrite] = []
        self.on_synced: Callable[[int], None] = lambda seq: None
        self.on_write: Callable[[], None] | None = None  # a nemesis lying in wait
        self.fsyncs = 0
        self._syncing = False
        self._generation = 0  # bumped by a crash: an fsync in flight then confirms nothing
        self.stalled = False
        self._held: tuple[int, int] | None = None  # an fsync done while stalled: batch, gen
        self.waiting: list[Callable[[], None]] = []  # the host's outputs held by a stall

    def stall(self) -> None:
        """From now on no fsync completes (one under way finishes when the stall ends)."""
        self.stalled = True

    def unstall(self) -> None:
        """The stall is over: the fsync it held completes now, then the outputs it held
        are carried out, in order."""
        self.stalled = False
        held, self._held = self._held, None
        if held is not None:
            self._fsync_done(*held)
        waiting, self.waiting = self.waiting, []
        for action in waiting:
            action()

    def hold(self, durable: bool, action: Callable[[], None]) -> bool:
        """Whether ``action`` (carrying out an envelope of the host's outputs, with a
        ``durable`` write among them or not) must wait for the stall's end: once one
        with a durable write waits, every later one waits behind it. Queued if so."""
        if self.waiting or (self.stalled and durable):
            self.waiting.append(action)
            return True
        return False

    def write(self, write: DurableWrite) -> None:
        self.pending.append(write)
        if not self._syncing:
            self._start_fsync()
        if self.on_write is not None:
            self.on_write()

    def _start_fsync(self) -> None:
        self._syncing = True
        batch, generation = len(self.pending), self._generation
        done = self.env.timeout(self.model.fsync_time(self.rng))
        done.callbacks.append(lambda _event: self._fsync_done(batch, generation))

    def _fsync_done(self, batch: int, generation: int) -> None:
        if generation != self._generation:
            return
        if self.stalled:
            self._held = (batch, generation)
            return
        self._syncing = False
        synced, self.pending = self.pending[:batch], self.pending[batch:]
        for write in synced:
            self.durable.apply(write)
        self.fsyncs += 1
        if self.pending:
            self._start_fsync()
        self.on_synced(synced[-1].seq)

    def crash(self, power_loss: bool) -> int:
        """The process dies; on ``power_loss`` the un-fsynced tail is lost too.
        Returns how many writes were lost."""
        self._generation += 1
        self._syncing = False
        self.waiting = []  # the process's memory: gone with it
        lost = len(self.pending) if power_loss else 0
        if not power_loss:
            for write in self.pending:
                self.durable.apply(write)
        self.pending = []
        return lost

    def reset(self, state: PersistentState) -> None:
        """A new data directory holding ``state`` (swarm init writes its first log)."""
        self.crash(power_loss=True)
        self.durable = state

    def wipe(self) -> None:
        """A fresh data directory (a node that leaves and joins again)."""
        self.crash(power_loss=True)
        self.durable = PersistentState()
