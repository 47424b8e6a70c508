"""The simulated client: proposes to whichever host it believes leads.

A proposal is acknowledged when the host that took it applies that very entry (the
same index and bytes); the liveness phase then demands that every acknowledged
proposal is applied on every host. A proposal to a non-leader is redirected to the
leader the error names, as a Docker client retries against the leader.
"""

from __future__ import annotations

import random
from collections.abc import Generator
from typing import TYPE_CHECKING

import simpy

from core.raft.types import Entry, EntryKind, NotLeader, ProposalFailure, RaftError
from sim.host import HostState, SimHost

if TYPE_CHECKING:
    from sim.world import RaftWorld


class Client:
    def __init__(self, world: RaftWorld, rng: random.Random) -> None:
        self.world = world
        self.rng = rng
        self.target = world.names[0]
        self.pending: dict[tuple[str, int], bytes] = {}
        self.acknowledged: list[tuple[int, bytes]] = []
        self._count = 0
        self.stopped = False
        for host in world.hosts.values():
            host.on_applied.append(self._on_applied)
            host.on_failed.append(self._on_failed)

    def run(self) -> Generator[simpy.Event, None, None]:
        interval = self.world.config.proposal_interval
        while not self.stopped:
            yield self.world.env.timeout(self.rng.expovariate(1.0 / interval))
            if self.stopped:
                return
            host = self.world.hosts[self.target]
            if host.state is not HostState.UP:
                up = self.world.up_hosts()
                if not up:
                    continue
                host = up[self.rng.randrange(len(up))]
                self.target = host.name
            self._count += 1
            self.propose_on(host, f"c{self._count}".encode())

    def stop(self) -> None:
        """No new proposals (the liveness phase needs a fixed target); proposals
        already made may still be acknowledged."""
        self.stopped = True

    def propose_on(self, host: SimHost, data: bytes) -> int:
        """Propose ``data`` on ``host``; the entry's index, or 0 if refused."""
        world = self.world
        if host.raft is None or host.state is not HostState.UP:
            return 0
        try:
            index = host.raft.propose(data)
        except NotLeader as refusal:
            leader = world.by_raft_id.get(refusal.leader)
            if leader is not None:
                self.target = leader.name
            world.stats["proposals_redirected"] += 1
            return 0
        except RaftError:
            world.stats["proposals_refused"] += 1
            return 0
        world.stats["proposals"] += 1
        self.pending[(host.name, index)] = data
        host.process()
        return index

    def acknowledged_index(self) -> int:
        return max((index for index, _ in self.acknowledged), default=0)

    def _on_applied(self, host: SimHost, entry: Entry) -> None:
        data = self.pending.pop((host.name, entry.index), None)
        if data is None:
            return
        if entry.kind is EntryKind.NORMAL and entry.data == data:
            self.acknowledged.append((entry.index, data))
            self.world.stats["proposals_acknowledged"] += 1
        else:
            self.world.stats["proposals_lost"] += 1

    def _on_failed(self, host: SimHost, failure: ProposalFailure) -> None:
        if self.pending.pop((host.name, failure.index), None) is not None:
            self.world.stats["proposals_failed"] += 1
