"""An in-process, deterministic network of Raft nodes for tests and benchmarks.

No SimPy and no clock: the caller decides every tick, delivery, loss, duplicate,
reordering, cut and crash, so a test is a script and a failure replays exactly.
Each node has a disk (:class:`PersistentState`) that holds only confirmed writes:
``crash`` throws away the node's memory and its unconfirmed writes, ``restart``
builds a new node from the disk, as a power loss would.

The application on every node is a hash chain over applied entries. Applying checks
state machine safety as it goes: every node that applies index ``i`` must reach the
same digest there (so the same entries in the same order before it). A
:class:`RaftChecker` watches every node after every input and every message sent.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from core.errors import InvariantViolation
from core.raft.codec import entry_bytes
from core.raft.config import RaftConfig
from core.raft.node import RaftNode, bootstrap_state
from core.raft.storage import PersistentState
from core.raft.types import DurableWrite, Entry, Message, NodeId, ProposalFailure, ReadState, Role
from sim.raft_checks import RaftChecker, SafetyViolation


def _digest(previous: bytes, entry: Entry) -> bytes:
    head = previous + f"{entry.index}:{entry.term}:".encode()
    return hashlib.sha256(head + entry_bytes(entry)).digest()


@dataclass
class Host:
    """One node with its disk and its application."""

    node_id: NodeId
    raft: RaftNode
    disk: PersistentState = field(default_factory=PersistentState)
    unconfirmed: list[DurableWrite] = field(default_factory=list)
    alive: bool = True
    applied_index: int = 0
    digest: bytes = b""
    applied: list[Entry] = field(default_factory=list)  # since the last restore
    read_states: list[ReadState] = field(default_factory=list)
    failures: list[ProposalFailure] = field(default_factory=list)


class RaftNetwork:
    """Nodes, a pool of messages in flight, and the faults a test may inject."""

    def __init__(
        self,
        ids: Iterable[NodeId],
        config: RaftConfig | None = None,
        seed: int = 0,
        *,
        auto_persist: bool = True,
    ) -> None:
        """``auto_persist``: fsync every write at once (except on ``slow_disks``)."""
        self.config = config or RaftConfig()
        self.seed = seed
        self.auto_persist = auto_persist
        self.voters = sorted(ids)
        self.hosts: dict[NodeId, Host] = {}
        self.inflight: list[Message] = []
        self.cuts: set[tuple[NodeId, NodeId]] = set()  # (source, target) pairs that drop
        self.filters: list[Callable[[Message], bool]] = []  # a message any filter matches is lost
        self.sent: list[Message] = []  # every message nodes sent, lost or not (for tests)
        self.digests: dict[int, bytes] = {}  # index -> digest every applier must reach
        self.checker = RaftChecker()
        self.slow_disks: set[NodeId] = set()  # nodes that fsync only when told to
        self.on_ready: list[Callable[[NodeId], None]] = []
        self._restarts: dict[NodeId, int] = {}
        for node_id in self.voters:
            disk = bootstrap_state(self.voters)
            raft = RaftNode(node_id, self.config, self._rng(node_id), disk.copy())
            self.hosts[node_id] = Host(node_id, raft, disk)

    def _rng(self, node_id: NodeId) -> random.Random:
        incarnation = self._restarts.get(node_id, 0)
        return random.Random(f"{self.seed}/raft/{node_id}/{incarnation}")

    # -- membership of the harness ----------------------------------------------------

    def add_host(self, node_id: NodeId) -> Host:
        """A brand-new node that will join once the leader adds it."""
        host = Host(node_id, RaftNode.join(node_id, self.config, self._rng(node_id)))
        self.hosts[node_id] = host
        return host

    def alive(self) -> list[NodeId]:
        return [node_id for node_id in sorted(self.hosts) if self.hosts[node_id].alive]

    def leaders(self) -> list[NodeId]:
        return [n for n in self.alive() if self.hosts[n].raft.role is Role.LEADER]

    def leader(self) -> NodeId | None:
        found = self.leaders()
        return max(found, key=lambda n: self.hosts[n].raft.term) if found else None

    # -- driving ------------------------------------------------------------------------

    def tick(self, node_id: NodeId | None = None) -> None:
        for target in [node_id] if node_id is not None else self.alive():
            if self.hosts[target].alive:
                self.hosts[target].raft.tick()
                self.process(target)

    def process(self, node_id: NodeId) -> None:
        """Drain the node's Ready: write, send, apply. Repeats while persisting
        releases held messages (auto_persist) so one call leaves the node quiet."""
        host = self.hosts[node_id]
        while host.alive:
            ready = host.raft.ready()
            host.unconfirmed.extend(ready.writes)
            self._send(ready.messages)
            if ready.snapshot_to_apply is not None:
                self._restore(host, ready.snapshot_to_apply.index, ready.snapshot_to_apply.data)
            for entry in ready.committed:
                self._apply(host, entry)
            host.read_states.extend(ready.read_states)
            host.failures.extend(ready.failed_proposals)
            self.checker.on_state(node_id, host.raft)
            for hook in self.on_ready:
                hook(node_id)
            if host.raft.wants_snapshot():
                host.raft.snapshot(host.applied_index, self._snapshot_data(host))
                continue
            if self.auto_persist and host.unconfirmed and node_id not in self.slow_disks:
                self.persist(node_id)
                continue
            if ready.is_empty():
                self._check_idle(host)
                return

    @staticmethod
    def _check_idle(host: Host) -> None:
        """A quiet node's ``has_ready`` shortcut must agree with the long way round."""
        if host.raft.has_ready():
            return
        missed = host.raft.collect_ready()
        if not missed.is_empty() or missed.soft_state is not None:
            raise InvariantViolation(f"node {host.node_id}: has_ready() hid {missed}")

    def persist(self, node_id: NodeId, count: int | None = None) -> None:
        """fsync: make the node's oldest ``count`` unconfirmed writes (all by default)
        durable and confirm them in one call (group commit)."""
        host = self.hosts[node_id]
        writes = host.unconfirmed if count is None else host.unconfirmed[:count]
        if not writes:
            return
        for write in writes:
            host.disk.apply(write)
        host.unconfirmed = host.unconfirmed[len(writes) :]
        host.raft.persisted(writes[-1].seq)

    def _send(self, messages: Iterable[Message]) -> None:
        for message in messages:
            self.checker.on_send(message, self.hosts[message.source].disk)
            self.sent.append(message)
            if (message.source, message.to) in self.cuts or any(f(message) for f in self.filters):
                continue
            self.inflight.append(message)

    def deliver(self, position: int = 0) -> Message | None:
        """Deliver one message in flight (the oldest by default, any to reorder)."""
        if not self.inflight:
            return None
        message = self.inflight.pop(position)
        target = self.hosts.get(message.to)
        if target is None or not target.alive or (message.source, message.to) in self.cuts:
            return message
        target.raft.step(message)
        self.process(message.to)
        return message

    def drop(self, position: int = 0) -> Message:
        return self.inflight.pop(position)

    def duplicate(self, position: int = 0) -> None:
        self.inflight.append(self.inflight[position])

    def deliver_all(self, rounds_max: int = 10_000) -> int:
        """Deliver until nothing is in flight; returns how many were delivered."""
        delivered = 0
        while self.inflight:
            if delivered >= rounds_max:
                raise InvariantViolation(f"messages still flowing after {rounds_max} deliveries")
            self.deliver()
            delivered += 1
        return delivered

    def stabilize(self, ticks: int = 0) -> None:
        """Deliver everything; then ``ticks`` rounds of tick-and-deliver."""
        for node_id in self.alive():
            self.process(node_id)
        self.deliver_all()
        for _ in range(ticks):
            self.tick()
            self.deliver_all()

    def elect(self, node_id: NodeId, ticks_max: int = 200) -> None:
        """Tick only ``node_id`` until it campaigns, then settle: a deterministic way
        to choose the leader in a test."""
        for _ in range(ticks_max):
            self.tick(node_id)
            self.deliver_all()
            if self.hosts[node_id].raft.role is Role.LEADER:
                return
        raise InvariantViolation(f"node {node_id} did not become leader in {ticks_max} ticks")

    def propose(self, node_id: NodeId, data: bytes) -> int:
        index = self.hosts[node_id].raft.propose(data)
        self.process(node_id)
        return index

    # -- faults -------------------------------------------------------------------------

    def cut(self, source: NodeId, target: NodeId, both: bool = True) -> None:
        self.cuts.add((source, target))
        if both:
            self.cuts.add((target, source))

    def isolate(self, node_id: NodeId) -> None:
        for other in self.hosts:
            if other != node_id:
                self.cut(node_id, other)

    def heal(self) -> None:
        self.cuts.clear()

    def crash(self, node_id: NodeId) -> None:
        """Power loss: memory and unconfirmed writes are gone; the disk stays."""
        host = self.hosts[node_id]
        host.alive = False
        host.unconfirmed = []
        self.inflight = [m for m in self.inflight if m.to != node_id and m.source != node_id]

    def restart(self, node_id: NodeId, *, force_new_cluster: bool = False) -> None:
        """Start the node again from its disk; with ``force_new_cluster`` as the only
        member of a new cluster keeping its log (disaster recovery)."""
        host = self.hosts[node_id]
        self._restarts[node_id] = self._restarts.get(node_id, 0) + 1
        build = RaftNode.force_new_cluster if force_new_cluster else RaftNode
        host.raft = build(node_id, self.config, self._rng(node_id), host.disk.copy())
        reset = host.raft.log_reset_above
        if reset is not None:  # the new cluster's history starts over above it
            self.digests = {i: d for i, d in self.digests.items() if i <= reset}
        host.alive = True
        host.unconfirmed = []
        snapshot = host.disk.snapshot
        self._restore(host, snapshot.index, snapshot.data)
        self.process(node_id)

    # -- the application ----------------------------------------------------------------

    def _apply(self, host: Host, entry: Entry) -> None:
        if entry.index != host.applied_index + 1:
            # A gap or a repeat in what one node applies breaks state machine safety
            # as surely as two nodes applying different entries at one index.
            raise SafetyViolation(
                "state machine safety",
                f"node {host.node_id} applied {entry.index} after {host.applied_index}",
            )
        host.digest = _digest(host.digest, entry)
        host.applied_index = entry.index
        host.applied.append(entry)
        self.checker.on_apply(host.node_id, entry)
        self._check_digest(host, entry.index)

    def _check_digest(self, host: Host, index: int) -> None:
        expected = self.digests.setdefault(index, host.digest)
        if expected != host.digest:
            raise SafetyViolation(
                "state machine safety", f"node {host.node_id}'s applied history diverged at {index}"
            )

    def _snapshot_data(self, host: Host) -> bytes:
        return host.digest

    def _restore(self, host: Host, index: int, data: bytes) -> None:
        host.applied_index = index
        host.digest = data
        host.applied = []
        if index:
            self._check_digest(host, index)
