"""The real load balancer of one host: a :class:`~core.dataplane.balance.BalancerTable`
programmed into a namespace, and the host's routing-mesh rules.

A table goes into the namespace that holds its ``source`` and every VIP as a /32
alias: the network's load-balancer namespace, or the ingress sandbox. There, as in
Docker (real-backend.md §1.2-§1.3), a new connection to a virtual service is sent to
one of its destinations, round robin, and leaves with ``source`` as its source address
(NAT mode), so the reply comes back through the namespace to be translated back.

Two implementations behind one :class:`Balancer` protocol: :class:`NftBalancer`
(nftables DNAT with ``numgen inc``; this machine's kernel has no IP_VS) and
:class:`~real.agent.ipvs.IpvsBalancer` (IPVS fwmark services, as Docker programs
them); :func:`for_kernel` picks one. :class:`HostIngress` is the routing mesh's part in
the host namespace: a published port on any of the host's addresses goes to the
ingress sandbox.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

from core.dataplane.balance import BalancerTable, VirtualService
from real.agent import nft
from real.agent.ipvs import IpvsBalancer
from real.agent.nft import DSTNAT, SRCNAT, chain

#: The nftables balancer's own table in a load-balancer namespace or ingress sandbox.
TABLE = "shoal-lb"
#: The routing mesh's own table in the host namespace.
INGRESS_TABLE = "shoal-ingress"
#: Exists when the kernel has IPVS (and its module is loaded).
IPVS_PROC = Path("/proc/net/ip_vs")


class Balancer(Protocol):
    """Programs balancer tables into namespaces."""

    def program(self, netns_path: str, table: BalancerTable) -> None:
        """Make the namespace balance exactly ``table`` (replacing what was there)."""
        ...

    def clear(self, netns_path: str) -> None:
        """Remove everything :meth:`program` put into the namespace."""
        ...


def _comment(service: VirtualService) -> str:
    """A rule comment naming the service (for ``nft list``), safe inside quotes."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", service.name)[:100]
    return f'comment "{name}"'


def _dnat(service: VirtualService) -> str:
    """Round robin over the destinations: ``numgen inc`` counts the connections this
    rule sends (a nat chain sees only a connection's first packet). A VIP keeps the
    port the client asked for; a published port goes to the destination's."""
    targets = ", ".join(
        f"{i} : {d.address}" if service.vip else f"{i} : {d.address} . {d.port}"
        for i, d in enumerate(service.destinations)
    )
    count = len(service.destinations)
    return f"{nft.match(service)} dnat to numgen inc mod {count} map {{ {targets} }}"


def _refuse(service: VirtualService) -> list[str]:
    """A service with no destination refuses at once: a TCP reset, else ICMP port
    unreachable, so a client fails fast instead of waiting."""
    if service.vip:
        where = f"ip daddr {service.vip}"
        return [
            f"{where} meta l4proto tcp reject with tcp reset",
            f"{where} meta l4proto {{ udp, sctp }} reject",
        ]
    how = "reject with tcp reset" if service.protocol == "tcp" else "reject"
    return [f"{nft.match(service)} {how}"]


def render(table: BalancerTable) -> str:
    """The nft script that makes the namespace's ``shoal-lb`` table balance exactly
    ``table``: a pure function of it (equal tables give equal scripts).

    VIPs are balanced in prerouting (clients on the network) and output (the
    namespace's own connections); published ports in prerouting, and in output only
    towards the namespace's own addresses. Postrouting gives every connection DNATed
    here (``ct status dnat``) the table's source address.
    """
    vips: list[str] = []
    ports: list[str] = []
    refuse: list[str] = []
    for service in sorted(table.services, key=lambda s: s.key):
        if not service.destinations:
            refuse += [f"{rule} {_comment(service)}" for rule in _refuse(service)]
            continue
        (vips if service.vip else ports).append(f"{_dnat(service)} {_comment(service)}")
    body = [
        chain(
            "prerouting", ["jump vips", "jump ports"], f"type nat hook prerouting priority {DSTNAT}"
        ),
        chain(
            "output",
            ["jump vips", "fib daddr type local jump ports"],
            f"type nat hook output priority {DSTNAT}",
        ),
        chain(
            "postrouting",
            [f"ct status dnat snat to {table.source}"],
            f"type nat hook postrouting priority {SRCNAT}",
        ),
        chain("input", ["jump refuse"], "type filter hook input priority 0"),
        chain("vips", vips),
        chain("ports", ports),
        chain("refuse", refuse),
    ]
    return nft.replace(TABLE, body)


class NftBalancer:
    """Balances with nftables: one ``ip shoal-lb`` table per namespace, replaced whole
    in one nft transaction (a refused script changes nothing)."""

    def program(self, netns_path: str, table: BalancerTable) -> None:
        nft.apply(netns_path, render(table))

    def clear(self, netns_path: str) -> None:
        nft.apply(netns_path, nft.remove(TABLE))


def published(table: BalancerTable) -> list[tuple[str, int]]:
    """The (protocol, port) pairs a table publishes, sorted, each once."""
    return sorted({(s.protocol, s.port) for s in table.services if not s.vip})


def render_host_ingress(table: BalancerTable, sandbox: str) -> str:
    """The host namespace's ``shoal-ingress`` table: a connection to a published port
    on any of the host's own addresses goes to ``sandbox`` (the ingress sandbox's
    address on the host side), same port; one the host makes itself leaves with the
    host's address towards the sandbox (masquerade), so that a client on 127.0.0.1 or
    on an address the sandbox has no route to gets its replies."""
    ports = [f"meta l4proto {p} th dport {port} dnat to {sandbox}" for p, port in published(table)]
    local = "fib daddr type local jump ports"
    body = [
        chain("prerouting", [local], f"type nat hook prerouting priority {DSTNAT}"),
        chain("output", [local], f"type nat hook output priority {DSTNAT}"),
        chain(
            "postrouting",
            [f"ip daddr {sandbox} ct status dnat fib saddr type local masquerade"],
            f"type nat hook postrouting priority {SRCNAT}",
        ),
        chain("ports", ports),
    ]
    return nft.replace(INGRESS_TABLE, body)


class HostIngress:
    """The routing mesh in the host namespace, towards one ingress sandbox address.

    The namespace must forward (``ip_forward``) for clients on other hosts, and the
    device towards the sandbox needs ``route_localnet`` for clients on 127.0.0.1, as
    Docker sets on docker_gwbridge; whoever builds that device sets both.
    """

    def __init__(self, sandbox: str) -> None:
        self.sandbox = sandbox

    def program(self, netns_path: str, table: BalancerTable) -> None:
        nft.apply(netns_path, render_host_ingress(table, self.sandbox))

    def clear(self, netns_path: str) -> None:
        nft.apply(netns_path, nft.remove(INGRESS_TABLE))


def for_kernel(proc: Path = IPVS_PROC) -> Balancer:
    """IPVS where the kernel has it (Docker's balancer), nftables elsewhere."""
    if proc.exists():
        return IpvsBalancer()
    return NftBalancer()
