"""One simulated manager host: a Raft node driven by its own clock, disk and inbox.

The host is the driver of the contract in DESIGN.md: it feeds the node ticks (from
its monotonic clock, through a :class:`Ticker`), messages and fsync confirmations,
and carries out what each Ready asks: writes to the disk, messages to the network,
committed entries to the application. Nothing of SimPy reaches the node.

Lifecycle: UP, PAUSED (stop-the-world: clocks run on, nothing is handled, messages
queue), CRASHED (memory gone; the disk keeps what it keeps), RESTARTING (booting for a
moment; messages are lost), then UP again with a new node built from the disk and a
fresh random stream (a new incarnation).

Each host's clocks start a little off (an NTP-disciplined machine): a wall offset
within +/- ``CLOCK_OFFSET_MAX`` seconds and a drift within +/- ``CLOCK_DRIFT_MAX_PPM``
ppm, drawn from the host's own ``host/<name>/clock`` stream. The drift is felt by Raft
(it sets the pace of this host's ticks); the offset only moves wall time.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from core.raft.node import RaftNode
from core.raft.ticker import Ticker
from core.raft.types import Entry, Message, NodeId, ProposalFailure, Role, SoftState
from sim.clock import HostClock
from sim.disk import SimDisk
from sim.hashchain import HashChain

if TYPE_CHECKING:
    from sim.world import RaftWorld

CLOCK_OFFSET_MAX = 0.25  # seconds either way
CLOCK_DRIFT_MAX_PPM = 100.0  # either way: a cheap crystal


def starting_clock(rng: random.Random) -> HostClock:
    """A host's clock as it is when the run starts, drawn from its own stream."""
    offset = round(rng.uniform(-CLOCK_OFFSET_MAX, CLOCK_OFFSET_MAX), 6)
    drift = round(rng.uniform(-CLOCK_DRIFT_MAX_PPM, CLOCK_DRIFT_MAX_PPM), 3)
    return HostClock.started(offset, drift)


class HostState(enum.Enum):
    UP = "up"
    PAUSED = "paused"
    CRASHED = "crashed"
    RESTARTING = "restarting"  # the process is booting: nothing is handled yet


class SimHost:
    def __init__(self, world: RaftWorld, name: str, raft_id: NodeId) -> None:
        self.world = world
        self.name = name
        self.raft_id = raft_id
        self.clock = starting_clock(world.streams.child(f"host/{name}/clock"))
        self.disk = SimDisk(world.env, world.streams.child(f"host/{name}/disk"), world.disk_model)
        self.boot_rng = world.streams.child(f"host/{name}/boot")
        self.disk.on_synced = self._on_synced
        self.chain = HashChain()
        self.state = HostState.CRASHED
        self.raft: RaftNode | None = None
        self.ticker: Ticker | None = None
        self.incarnation = 0
        self.on_applied: list[Callable[[SimHost, Entry], None]] = []
        self.on_failed: list[Callable[[SimHost, ProposalFailure], None]] = []
        self._wake_generation = 0
        self._boot_generation = 0
        self._paused_inbox: list[Message] = []
        self._synced_while_paused = 0
        self._soft = SoftState(0, Role.FOLLOWER, 0)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, build: Callable[[random.Random], RaftNode]) -> None:
        """Bring the host up with the node ``build`` makes from this incarnation's
        random stream."""
        self.incarnation += 1
        rng = self.world.streams.child(f"host/{self.name}/raft/{self.incarnation}")
        self.raft = build(rng)
        self.state = HostState.UP
        snapshot = self.disk.durable.snapshot
        self.chain.restore(snapshot.index, snapshot.data)
        self.ticker = Ticker(self.world.tick_seconds, self.clock.mono(self.world.env.now))
        self._soft = SoftState(0, Role.FOLLOWER, 0)
        self.world.trace.emit(self.world.env.now, self.name, "start", raft_id=self.raft_id)
        self.process()
        self._arm()

    def boot_after(self, delay: float, start: Callable[[], None]) -> None:
        """From CRASHED: boot for ``delay`` seconds, then ``start`` (unless crashed
        again meanwhile)."""
        if self.state is not HostState.CRASHED:
            return
        self.state = HostState.RESTARTING
        self._boot_generation += 1
        generation = self._boot_generation
        self.world.trace.emit(self.world.env.now, self.name, "restarting", delay=delay)
        booted = self.world.env.timeout(delay)
        booted.callbacks.append(lambda _event: self._booted(generation, start))

    def _booted(self, generation: int, start: Callable[[], None]) -> None:
        if generation == self._boot_generation and self.state is HostState.RESTARTING:
            start()

    def crash(self, power_loss: bool) -> int:
        """Kill the process (and on ``power_loss`` the machine); returns writes lost."""
        if self.state is HostState.RESTARTING:
            self.state = HostState.CRASHED
            self._boot_generation += 1
            return 0
        if self.state is HostState.CRASHED:
            return 0
        self.state = HostState.CRASHED
        self.raft = None
        self._wake_generation += 1
        self._paused_inbox = []
        self._synced_while_paused = 0
        lost = self.disk.crash(power_loss)
        self.world.trace.emit(
            self.world.env.now, self.name, "crash", power_loss=power_loss, lost_writes=lost
        )
        return lost

    def pause(self) -> None:
        if self.state is HostState.UP:
            self.state = HostState.PAUSED
            self._wake_generation += 1
            self.world.trace.emit(self.world.env.now, self.name, "pause")

    def resume(self) -> None:
        if self.state is not HostState.PAUSED:
            return
        self.state = HostState.UP
        self.world.trace.emit(self.world.env.now, self.name, "resume")
        inbox, self._paused_inbox = self._paused_inbox, []
        synced, self._synced_while_paused = self._synced_while_paused, 0
        if synced:
            self._on_synced(synced)
        for message in inbox:
            self.receive(message)
        self._on_wake(self._wake_generation)

    # -- inputs ------------------------------------------------------------------------

    def receive(self, message: Message) -> None:
        if self.state is HostState.PAUSED:
            self._paused_inbox.append(message)
        elif self.raft is not None and message.to == self.raft_id:
            self.raft.step(message)
            self.process()

    def _on_synced(self, seq: int) -> None:
        if self.state is HostState.PAUSED:
            self._synced_while_paused = max(self._synced_while_paused, seq)
        elif self.raft is not None:
            self.raft.persisted(seq)
            self.process()

    def _arm(self) -> None:
        assert self.ticker is not None
        self._wake_generation += 1
        generation, env = self._wake_generation, self.world.env
        at = self.clock.sim_time_at_mono(self.ticker.next_deadline, env.now)
        wake = env.timeout(at - env.now)
        wake.callbacks.append(lambda _event: self._on_wake(generation))

    def _on_wake(self, generation: int) -> None:
        if generation != self._wake_generation or self.state is not HostState.UP:
            return
        assert self.raft is not None and self.ticker is not None
        for _ in range(self.ticker.advance(self.clock.mono(self.world.env.now))):
            self.raft.tick()
            self.process()
        if self.state is HostState.UP:
            self._arm()

    def clock_changed(self) -> None:
        """Drift changed: the pending wake-up was computed at the old rate."""
        if self.state is HostState.UP:
            self._arm()

    # -- outputs -----------------------------------------------------------------------

    def process(self) -> None:
        world = self.world
        while self.raft is not None and self.raft.has_ready():
            raft = self.raft
            ready = raft.ready()
            for write in ready.writes:
                self.disk.write(write)
            for message in ready.messages:
                world.send(self, message)
            if ready.snapshot_to_apply is not None:
                snapshot = ready.snapshot_to_apply
                self.chain.restore(snapshot.index, snapshot.data)
                world.ledger.check(self.name, self.chain)
                world.stats["snapshots_installed"] += 1
            for entry in ready.committed:
                self._apply(entry)
            for failure in ready.failed_proposals:
                for hook in self.on_failed:
                    hook(self, failure)
            world.checker.on_state(self.raft_id, raft)
            if ready.soft_state is not None:
                self._soft_state_changed(ready.soft_state)
            if raft.wants_snapshot():
                raft.snapshot(self.chain.applied_index, self.chain.digest)

    def _apply(self, entry: Entry) -> None:
        self.chain.apply(entry)
        self.world.ledger.check(self.name, self.chain)
        self.world.checker.on_apply(self.raft_id, entry)
        for hook in self.on_applied:
            hook(self, entry)

    def _soft_state_changed(self, soft: SoftState) -> None:
        before, self._soft = self._soft, soft
        world = self.world
        world.trace.emit(
            world.env.now,
            self.name,
            "role",
            role=soft.role.value,
            term=soft.term,
            leader=soft.leader,
        )
        world.on_role_change(self, before, soft)

    @property
    def role(self) -> Role | None:
        return self.raft.role if self.raft is not None and self.state is HostState.UP else None
