"""The IPVS balancer, for kernels with IP_VS: Docker's own way (real-backend.md §1.2).

Each virtual service gets a firewall mark, stable for as long as its key (VIP, or
published protocol and port) stays in the namespace and numbered from 0x100 as Docker
does; an nft table (``ip shoal-ipvs``) marks the service's packets, and an IPVS service
keyed by that mark, scheduler ``rr``, sends each connection to a destination in
masquerade (NAT) mode, weight 1. Connections IPVS forwarded (marked) leave with the
table's source address, so replies come back through the namespace.

Programming reconciles by difference against what the kernel holds: new services and
destinations are added before the marks change, stale ones removed after; a removed
destination first gets weight 0 (no new connections), then is deleted. pyroute2's
``IPVS`` is opened inside the namespace (``netns=``); this machine's kernel has no
IP_VS, so the tests check the netlink messages it would send.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pyroute2 import IPVS, IPVSDest, IPVSService

from core.dataplane.balance import BalancerTable, VirtualService
from real.agent import netns, nft
from real.agent.nft import MANGLE, SRCNAT, chain

#: The marking table's name.
TABLE = "shoal-ipvs"
#: Docker's first firewall mark.
FIRST_MARK = 0x100
SCHEDULER = "rr"
#: ``IP_VS_CONN_F_MASQ``: NAT mode (pyroute2's ``IPVSDest`` defaults to 3, direct routing).
MASQUERADE = 0
#: Docker's IPVS sysctls in a load-balancing namespace: track IPVS connections (nft's
#: SNAT needs it), and drop a connection whose destination is gone instead of
#: black-holing it.
SYSCTLS = (
    ("net/ipv4/vs/conntrack", "1"),
    ("net/ipv4/vs/expire_nodest_conn", "1"),
    ("net/ipv4/vs/expire_quiescent_template", "1"),
)

Key = tuple[str, str, int]


def render_marks(table: BalancerTable, marks: Mapping[Key, int]) -> str:
    """The nft script that marks each virtual service's packets with its mark (a VIP's
    in prerouting and output, a published port's in prerouting and, towards the
    namespace's own addresses, output) and gives marked connections the table's
    source address."""
    pre: list[str] = []
    out: list[str] = []
    for service in sorted(table.services, key=lambda s: s.key):
        rule = f"{nft.match(service)} meta mark set {marks[service.key]:#x}"
        pre.append(rule)
        out.append(rule if service.vip else f"fib daddr type local {rule}")
    used = ", ".join(f"{marks[s.key]:#x}" for s in sorted(table.services, key=lambda s: s.key))
    snat = [f"meta mark {{ {used} }} snat to {table.source}"] if used else []
    body = [
        chain("prerouting", pre, f"type filter hook prerouting priority {MANGLE}"),
        chain("output", out, f"type route hook output priority {MANGLE}"),
        chain("postrouting", snat, f"type nat hook postrouting priority {SRCNAT}"),
    ]
    return nft.replace(TABLE, body)


def _service(mark: int) -> Any:
    return IPVSService(
        fwmark=mark, af=socket.AF_INET, sched_name=SCHEDULER, netmask="255.255.255.255"
    )


def _dest(address: str, port: int, weight: int) -> Any:
    return IPVSDest(addr=address, port=port, fwd_method=MASQUERADE, weight=weight)


def _services(ipvs: Any) -> dict[int, str]:
    """The kernel's fwmark services in the namespace: mark -> scheduler."""
    found: dict[int, str] = {}
    for msg in ipvs.service("dump"):
        service = msg.get_attr("IPVS_CMD_ATTR_SERVICE")
        mark = service.get_attr("IPVS_SVC_ATTR_FWMARK")
        if mark:
            found[mark] = service.get_attr("IPVS_SVC_ATTR_SCHED_NAME")
    return found


def _dests(ipvs: Any, mark: int) -> dict[tuple[str, int], tuple[int, int]]:
    """A service's destinations: (address, port) -> (weight, forwarding method)."""
    found: dict[tuple[str, int], tuple[int, int]] = {}
    for msg in ipvs.dest("dump", service=_service(mark)):
        dest = msg.get_attr("IPVS_CMD_ATTR_DEST")
        key = (dest.get_attr("IPVS_DEST_ATTR_ADDR"), dest.get_attr("IPVS_DEST_ATTR_PORT"))
        found[key] = (
            dest.get_attr("IPVS_DEST_ATTR_WEIGHT"),
            dest.get_attr("IPVS_DEST_ATTR_FWD_METHOD"),
        )
    return found


def _open(netns_path: str) -> Any:
    return IPVS(netns=netns_path, flags=0)


def _tune(netns_path: str) -> None:
    for key, value in SYSCTLS:
        netns.sysctl(key, value, netns_path)


class IpvsBalancer:
    """Balances with IPVS fwmark services; ``open_ipvs`` and ``tune`` (the namespace's
    IPVS sysctls) are there to be replaced in tests."""

    def __init__(
        self,
        open_ipvs: Callable[[str], Any] = _open,
        tune: Callable[[str], None] = _tune,
    ) -> None:
        self._open = open_ipvs
        self._tune = tune
        self._marks: dict[str, dict[Key, int]] = {}
        self._next: dict[str, int] = {}

    def marks(self, netns_path: str, keys: Iterable[Key]) -> dict[Key, int]:
        """The namespace's marks for exactly ``keys``: a key keeps its mark, a new one
        gets the next unused (in key order, so the first table numbers deterministically),
        and a mark is
        never given to another key until :meth:`clear` empties the namespace."""
        held = self._marks.get(netns_path, {})
        marks: dict[Key, int] = {}
        following = self._next.get(netns_path, FIRST_MARK)
        for key in sorted(set(keys)):
            if key in held:
                marks[key] = held[key]
            else:
                marks[key] = following
                following += 1
        self._marks[netns_path] = marks
        self._next[netns_path] = following
        return marks

    def program(self, netns_path: str, table: BalancerTable) -> None:
        marks = self.marks(netns_path, (s.key for s in table.services))
        wanted = {marks[s.key]: s for s in table.services}
        self._tune(netns_path)
        ipvs = self._open(netns_path)
        try:
            have = _services(ipvs)
            for mark in sorted(wanted):
                self._reconcile(ipvs, mark, wanted[mark], have.get(mark))
            nft.apply(netns_path, render_marks(table, marks))
            for mark in sorted(set(have) - set(wanted)):
                ipvs.service("del", service=_service(mark))
        finally:
            ipvs.close()

    def _reconcile(
        self, ipvs: Any, mark: int, service: VirtualService, scheduler: str | None
    ) -> None:
        svc = _service(mark)
        if scheduler is None:
            ipvs.service("add", service=svc)
            have: dict[tuple[str, int], tuple[int, int]] = {}
        else:
            if scheduler != SCHEDULER:
                ipvs.service("set", service=svc)
            have = _dests(ipvs, mark)
        want = {(d.address, d.port): d for d in service.destinations}
        for key in sorted(want):
            dest = _dest(*key, weight=1)
            if key not in have:
                ipvs.dest("add", service=svc, dest=dest)
            elif have[key] != (1, MASQUERADE):
                ipvs.dest("set", service=svc, dest=dest)
        for key in sorted(set(have) - set(want)):
            if have[key][0] != 0:
                ipvs.dest("set", service=svc, dest=_dest(*key, weight=0))
            ipvs.dest("del", service=svc, dest=_dest(*key, weight=0))

    def clear(self, netns_path: str) -> None:
        nft.apply(netns_path, nft.remove(TABLE))
        ipvs = self._open(netns_path)
        try:
            for mark in sorted(_services(ipvs)):
                ipvs.service("del", service=_service(mark))
        finally:
            ipvs.close()
        self._marks.pop(netns_path, None)
        self._next.pop(netns_path, None)
