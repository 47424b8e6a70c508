"""One simulated host's overlay data plane: the network states it has programmed,
and since when, as the real host would have them in its namespaces, bridges, FDB
and load-balancer rules (real/agent/overlay.py, balancer.py).

The agent hands the host the networks it needs; programming them takes
:data:`PROGRAM_SECONDS` (netlink and nftables calls on a real host), after which
lookups see them. A crash loses everything (the namespaces go with the host's
daemon here, and a rebooted agent is sent its networks again). Each virtual service
keeps its own round-robin position, as an IPVS ``rr`` service or an nftables
``numgen inc`` counter does.
"""

from __future__ import annotations

from collections.abc import Mapping

import simpy

from core.dataplane.balance import BalancerTable, Destination, VirtualService, tables
from core.dataplane.state import NetworkState
from sim.trace import Trace

#: From the agent's word to rules in place.
PROGRAM_SECONDS = 0.01


class SimDataplane:
    def __init__(self, env: simpy.Environment, host: str, trace: Trace) -> None:
        self.env = env
        self.host = host
        self.trace = trace
        self.programmed: dict[str, NetworkState] = {}
        self.since: dict[str, float] = {}  # network id -> when its current state went in
        self.node_id = ""
        self._tables: tuple[BalancerTable, ...] | None = ()  # None: not worked out yet
        self._next: dict[tuple[str, tuple[str, str, int]], int] = {}  # round-robin positions
        self._generation = 0

    def program(self, node_id: str, states: Mapping[str, NetworkState]) -> None:
        """Program exactly ``states`` once :data:`PROGRAM_SECONDS` have passed (a
        later call supersedes one still under way)."""
        self._generation += 1
        generation, wanted = self._generation, dict(states)

        def done(_event: object) -> None:
            if generation == self._generation:
                self._install(node_id, wanted)

        self.env.timeout(PROGRAM_SECONDS).callbacks.append(done)

    def crashed(self) -> None:
        self._generation += 1
        self._install("", {})

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
