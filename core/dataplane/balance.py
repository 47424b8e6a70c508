"""Load balancing as one node programs it: a table per network, of virtual services
(a service's VIP, or a port the routing mesh publishes) and the task addresses
behind each, for the simulated balancer and the real ones (nftables, IPVS) alike.

Docker puts a node's VIPs of a network in that network's load-balancer sandbox
(``lb_<network id>``), and the routing mesh's published ports in the ingress
sandbox; each virtual service picks a backend round robin (IPVS ``rr``) and the
connection leaves with the sandbox's own address as its source (NAT mode), so the
reply comes back through it. A node programs a table only once it has its own
endpoint on the network (the allocator gives it one): that address is the source.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.dataplane.state import NetworkState


@dataclass(frozen=True, slots=True)
class Destination:
    address: str
    port: int  # 0: the port the client asked for (a VIP balances every port)
    task_id: str


@dataclass(frozen=True, slots=True)
class VirtualService:
    """A VIP (``vip`` set; every protocol and port) or a published port (``port``
    set, on every address of the node)."""

    service_id: str
    name: str
    vip: str
    protocol: str  # "" for a VIP
    port: int  # 0 for a VIP
    destinations: tuple[Destination, ...]  # by task id

    @property
    def key(self) -> tuple[str, str, int]:
        return self.vip, self.protocol, self.port


@dataclass(frozen=True, slots=True)
class BalancerTable:
    network_id: str
    network_name: str
    ingress: bool
    source: str  # the node's endpoint on the network: connections leave from it
    services: tuple[VirtualService, ...]  # by key


def tables(states: Iterable[NetworkState], node_id: str) -> tuple[BalancerTable, ...]:
    """The node's balancer tables, one per network it has an endpoint on, by
    network id."""
    out: list[BalancerTable] = []
    for state in sorted(states, key=lambda s: s.network_id):
        own = state.load_balancer(node_id)
        if own is None:
            continue
        services: list[VirtualService] = []
        for binding in state.services:
            if binding.vip:
                destinations = tuple(Destination(b.address, 0, b.task_id) for b in binding.backends)
                services.append(
                    VirtualService(
                        binding.service_id, binding.name, binding.vip, "", 0, destinations
                    )
                )
            for port in binding.ports if state.ingress else ():
                destinations = tuple(
                    Destination(b.address, port.target, b.task_id) for b in binding.backends
                )
                services.append(
                    VirtualService(
                        binding.service_id,
                        binding.name,
                        "",
                        port.protocol,
                        port.published,
                        destinations,
                    )
                )
        services.sort(key=lambda s: s.key)
        out.append(
            BalancerTable(state.network_id, state.name, state.ingress, own.address, tuple(services))
        )
    return tuple(out)
