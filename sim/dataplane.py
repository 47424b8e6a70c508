"""One simulated host's overlay data plane: the network states it has programmed,
and since when, as the real host would have them in its namespaces, bridges, FDB
and load-balancer rules (real/agent/overlay.py, balancer.py).

The agent hands the host the networks it needs; lookups see them once they are
programmed. A crash loses everything (the namespaces go with the host's daemon here,
and a rebooted agent is sent its networks again). Each virtual service keeps its own
round-robin position, as an IPVS ``rr`` service or an nftables ``numgen inc`` counter
does.

What programming costs is the :class:`DataplaneModel`'s. Free (the library's
default), a program takes :data:`PROGRAM_SECONDS` and a later one supersedes one
under way. Calibrated, it is real mode's shape (real/agent/dataplane.py, programs.py):
one job at a time under the host's data-plane lock, on the host's cores, a program
only for the latest networks asked for, and a task's sandbox joined to its networks
in turn with them, before its container is made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import simpy

from core.dataplane.balance import BalancerTable, Destination, VirtualService, tables
from core.dataplane.state import NetworkState
from sim.costqueue import CostQueue, OpCost
from sim.cpu import CpuPool
from sim.trace import Trace

#: From the agent's word to rules in place, when programming costs nothing.
PROGRAM_SECONDS = 0.01


@dataclass(frozen=True)
class DataplaneModel:
    """What one host's data-plane work costs (``shoal real calibrate`` measures it).

    ``program``: any program of the networks (every one checked again, every
    balancer's and the routing mesh's nft tables rewritten); ``network``: more for
    each network new to the host (its namespaces, bridge, VXLAN device, load
    balancer; for ingress also the host's gateway link); ``attach``: a task's sandbox
    joined to its networks (a veth and addresses per network)."""

    program: OpCost = field(default_factory=OpCost)
    network: OpCost = field(default_factory=OpCost)
    attach: OpCost = field(default_factory=OpCost)

    @property
    def free(self) -> bool:
        return all(getattr(self, job).free for job in DATAPLANE_JOBS)


#: The jobs that cost: the :class:`OpCost` fields of :class:`DataplaneModel`.
DATAPLANE_JOBS = ("program", "network", "attach")

#: Nothing costs: programs take :data:`PROGRAM_SECONDS`, attaching nothing.
FREE = DataplaneModel()


class SimDataplane:
    def __init__(
        self,
        env: simpy.Environment,
        host: str,
        trace: Trace,
        model: DataplaneModel = FREE,
        cores: CpuPool | None = None,
    ) -> None:
        self.env = env
        self.host = host
        self.trace = trace
        self.model = model
        self.lane = CostQueue(env, 1, cores)  # the data plane's lock
        self.programmed: dict[str, NetworkState] = {}
        self.since: dict[str, float] = {}  # network id -> when its current state went in
        self.node_id = ""
        self._tables: tuple[BalancerTable, ...] | None = ()  # None: not worked out yet
        self._next: dict[tuple[str, tuple[str, str, int]], int] = {}  # round-robin positions
        self._generation = 0
        self._wanted: tuple[str, dict[str, NetworkState]] | None = None  # the next program
        self._running: tuple[str, dict[str, NetworkState]] | None = None  # the one under way

    def program(self, node_id: str, states: Mapping[str, NetworkState]) -> None:
        """Program exactly ``states`` (a later call supersedes one not yet done)."""
        self._generation += 1
        generation, wanted = self._generation, dict(states)
        if self.model.free:

            def done(_event: object) -> None:
                if generation == self._generation:
                    self._install(node_id, wanted)

            self.env.timeout(PROGRAM_SECONDS).callbacks.append(done)
            return
        waiting = self._wanted is not None
        self._wanted = (node_id, wanted)
        if not waiting:  # one program waits at most: it takes the latest networks
            self.lane.run(self._program_cost, self._programmed)

    def attach(self, then: Callable[[], None]) -> None:
        """Join a task's sandbox to its networks, in turn with the programs; ``then``."""
        self.lane.run(self.model.attach, then)

    def crashed(self) -> None:
        self._generation += 1
        self.lane.crash()
        self._wanted = self._running = None
        self._install("", {})

    def _program_cost(self) -> OpCost:
        """The program whose turn has come takes the latest networks asked for (a
        newer word waits for the next); each network new to the host costs more."""
        self._running, self._wanted = self._wanted, None
        assert self._running is not None
        cost = self.model.program
        for network_id in self._running[1]:
            if network_id not in self.programmed:
                cost = cost + self.model.network
        return cost

    def _programmed(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            self._install(*running)

    def _install(self, node_id: str, states: dict[str, NetworkState]) -> None:
        now = self.env.now
        self.since = {
            i: self.since[i] if self.programmed.get(i) == states[i] else now for i in sorted(states)
        }
        self.programmed = {i: states[i] for i in sorted(states)}
        self.node_id = node_id
        self._tables = None  # worked out at the next lookup: most states see none
        if self._next:  # a virtual service that went keeps no round-robin position
            kept = {(t.network_id, s.key) for t in self._balancer() for s in t.services}
            self._next = {k: v for k, v in self._next.items() if k in kept}
        self.trace.emit(
            now,
            self.host,
            "dataplane",
            networks=",".join(f"{s.name}:{len(s.endpoints)}" for s in self.programmed.values()),
        )

    # -- lookups ---------------------------------------------------------------------------

    def _balancer(self) -> tuple[BalancerTable, ...]:
        if self._tables is None:
            self._tables = tables(self.programmed.values(), self.node_id)
        return self._tables

    def published(self, protocol: str, port: int) -> tuple[str, VirtualService] | None:
        """The routing mesh's virtual service for a port of this host, if any."""
        for table in self._balancer():
            if table.ingress:
                for service in table.services:
                    if service.port == port and service.protocol == protocol:
                        return table.network_id, service
        return None

    def vip(self, network_id: str, address: str) -> VirtualService | None:
        for table in self._balancer():
            if table.network_id == network_id:
                for service in table.services:
                    if service.vip == address:
                        return service
        return None

    def pick(self, network_id: str, service: VirtualService) -> Destination | None:
        """The next destination round robin (None: the service has none)."""
        if not service.destinations:
            return None
        key = (network_id, service.key)
        position = self._next.get(key, 0) % len(service.destinations)
        self._next[key] = position + 1
        return service.destinations[position]
