"""Host-mode published ports: a task's port published directly on the node that runs
it (``--publish mode=host``), without dockerd's bridge.

Docker joins such a task to its ``bridge`` network and DNATs the node's port to the
container (docker-proxy for local clients). The test hosts' dockerds run with no
bridge, so the host data plane does it here instead:

- the task's sandbox is joined to the host namespace by a veth pair on a /30 of its
  own from a small local pool (:data:`POOL`, never the overlay's 172.18.0.0/30
  gwbridge link): the host end is ``shp<n>`` (``n`` the /30's index) with the first
  address, the sandbox end the second, with the sandbox's default route through the
  host end (replies to clients on other hosts). The /30 is the task's for as long as
  its sandbox lives;
- one nft table in the host namespace, ``ip shoal-hostports``, rewritten whole
  (real/agent/nft.py): a connection to any of the host's own addresses (``fib daddr
  type local``) on a published (protocol, port) goes to the task's sandbox address
  and target port, in prerouting (other hosts) and output (this one); one the host
  makes itself leaves masqueraded, so that replies come back through the host;
  ``ip_forward`` is on, and ``route_localnet`` on the host end for clients on
  127.0.0.1, as Docker sets them.

The ports are the ones the executor bound (an ephemeral one already chosen for a
port published without a number): this module never resolves a port itself. Two
tasks naming the same port (the executor refuses the second at START) leave the
port to the one attached first.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from pyroute2 import IPRoute

from core.model.enums import PortProtocol, PublishMode
from core.model.service import PortConfig
from real.agent import netns, nft
from real.agent.nft import DSTNAT, SRCNAT

#: The pool the sandboxes' links to the host are carved from, in /30s.
POOL = ipaddress.IPv4Network("172.19.0.0/16")
PREFIXLEN = 30
#: The host namespace's table.
TABLE = "shoal-hostports"
#: The host end of a sandbox's link is ``shp<index of its /30>``.
LINK_PREFIX = "shp"
#: The label that records, on a task container sharing its sandbox's namespace, the
#: host ports it binds (dockerd refuses port bindings in a ``container:`` network
#: mode): ``published:target/protocol`` words, as ``docker run -p`` writes them.
PORTS_LABEL = "com.shoal.host-ports"

_FORWARD = "net/ipv4/ip_forward"


@dataclass(frozen=True)
class Link:
    """One task's link to the host: the /30's index and the addresses on each end."""

    index: int
    host: str
    sandbox: str
    ifname: str  # the host end

    @classmethod
    def at(cls, index: int, pool: ipaddress.IPv4Network = POOL) -> Link:
        subnet = pool.network_address + index * 4
        return cls(index, str(subnet + 1), str(subnet + 2), f"{LINK_PREFIX}{index}")


@dataclass(frozen=True)
class Published:
    """A published (protocol, port) and where it goes."""

    protocol: str
    port: int
    address: str
    target: int


def port_label(ports: Sequence[PortConfig]) -> str:
    """The :data:`PORTS_LABEL` value of bound host-mode ports."""
    return " ".join(
        f"{p.published_port}:{p.target_port}/{p.protocol or PortProtocol.TCP}" for p in ports
    )


def ports_of_label(value: str) -> tuple[PortConfig, ...]:
    """The host-mode ports a :data:`PORTS_LABEL` value records."""
    ports = []
    for word in value.split():
        published, _, rest = word.partition(":")
        target, _, protocol = rest.partition("/")
        ports.append(
            PortConfig(
                protocol=PortProtocol(protocol or "tcp"),
                target_port=int(target),
                published_port=int(published),
                publish_mode=PublishMode.HOST,
            )
        )
    return tuple(ports)


def render(published: Sequence[Published]) -> str:
    """The host's ``shoal-hostports`` table: each published port DNATed to its
    sandbox (the first owner of a port wins); connections made on the host itself
    masqueraded towards the pool."""
    rules: list[str] = []
    seen: set[tuple[str, int]] = set()
    for p in published:
        if (p.protocol, p.port) in seen:
            continue
        seen.add((p.protocol, p.port))
        rules.append(f"meta l4proto {p.protocol} th dport {p.port} dnat to {p.address}:{p.target}")
    local = "fib daddr type local jump ports"
    body = [
        nft.chain("prerouting", [local], f"type nat hook prerouting priority {DSTNAT}"),
        nft.chain("output", [local], f"type nat hook output priority {DSTNAT}"),
        nft.chain(
            "postrouting",
            [f"ip daddr {POOL} ct status dnat fib saddr type local masquerade"],
            f"type nat hook postrouting priority {SRCNAT}",
        ),
        nft.chain("ports", rules),
    ]
    return nft.replace(TABLE, body)


class HostPorts:
    """The host-mode ports of one host. ``host_netns`` is the host's namespace (a
    name or path; None: the caller's own, as the agent's). Thread-safe."""

    def __init__(self, host_netns: str | None = None, pool: str = str(POOL)) -> None:
        self.host_netns = host_netns
        self.nft_path = netns.path(host_netns) if host_netns else f"/proc/{os.getpid()}/ns/net"
        self.pool = ipaddress.IPv4Network(pool)
        self._lock = threading.Lock()
        self._links: dict[str, Link] = {}  # task id -> its link, in attachment order
        self._ports: dict[str, tuple[PortConfig, ...]] = {}

    def attach(
        self, task_id: str, netns_path: str, ports: Sequence[PortConfig], ifname: str
    ) -> Link:
        """Join the task's sandbox (``netns_path``) to the host as ``ifname`` and
        publish ``ports`` (host-mode, each with its bound number) to it. Idempotent:
        a second call keeps the task's /30 and replaces its ports."""
        for port in ports:
            if not port.published_port:
                raise ValueError(f"host port {port.target_port} was not given a number")
        with self._lock:
            link = self._links.get(task_id) or self._allocate()
            self._links[task_id] = link
            self._ports[task_id] = tuple(ports)
            try:
                self._plumb(link, netns_path, ifname)
                self._program()
            except BaseException:
                self._forget(task_id)
                raise
            return link

    def detach(self, task_id: str) -> None:
        """The task's sandbox is going: its ports and its link go, its /30 is free."""
        with self._lock:
            if task_id not in self._links:
                return
            self._forget(task_id)

    def links(self) -> dict[str, Link]:
        """Task id -> its link (a copy)."""
        with self._lock:
            return dict(self._links)

    def close(self) -> None:
        """Remove every link and the table."""
        with self._lock:
            for task_id in sorted(self._links):
                netns.delete_link(self.host_netns, self._links[task_id].ifname)
            self._links.clear()
            self._ports.clear()
            nft.apply(self.nft_path, nft.remove(TABLE))

    # -- inside the lock ----------------------------------------------------------------

    def _forget(self, task_id: str) -> None:
        link = self._links.pop(task_id)
        self._ports.pop(task_id, None)
        netns.delete_link(self.host_netns, link.ifname)
        self._program()

    def _allocate(self) -> Link:
        """The lowest free /30: not held by a task here, nor left on the host by an
        earlier agent."""
        held = {link.index for link in self._links.values()}
        with netns.socket(self.host_netns) as ipr:
            present = {
                str(link.get_attr("IFLA_IFNAME")) for link in ipr.get_links()
            }  # one dump, not one lookup per index
        for index in range(self.pool.num_addresses // 4):
            link = Link.at(index, self.pool)
            if index not in held and link.ifname not in present:
                return link
        raise RuntimeError(f"no free /{PREFIXLEN} left in {self.pool} for host ports")

    def _plumb(self, link: Link, netns_path: str, ifname: str) -> None:
        with netns.socket(self.host_netns) as ipr:
            if not ipr.link_lookup(ifname=link.ifname):
                # A link an earlier life of the agent made for this sandbox goes (both
                # ends: deleting one end of a veth deletes the pair).
                netns.delete_link(netns_path, ifname)
                ipr.link(
                    "add",
                    ifname=link.ifname,
                    kind="veth",
                    peer={"ifname": ifname, "net_ns_fd": netns_path},
                )
            (index,) = ipr.link_lookup(ifname=link.ifname)
            _address(ipr, index, link.host)
            ipr.link("set", index=index, state="up")
        with netns.socket(netns_path) as ipr:
            (index,) = ipr.link_lookup(ifname=ifname)
            _address(ipr, index, link.sandbox)
            ipr.link("set", index=index, state="up")
            ipr.route("replace", dst="0.0.0.0/0", gateway=link.host)
        netns.sysctl(_FORWARD, "1", self.host_netns)
        netns.sysctl(f"net/ipv4/conf/{link.ifname}/route_localnet", "1", self.host_netns)

    def _program(self) -> None:
        published = [
            Published(
                str(p.protocol or PortProtocol.TCP), p.published_port, link.sandbox, p.target_port
            )
            for task_id, link in self._links.items()
            for p in self._ports.get(task_id, ())
        ]
        if published:
            nft.apply(self.nft_path, render(published))
        else:
            nft.apply(self.nft_path, nft.remove(TABLE))


def _address(ipr: IPRoute, index: int, address: str) -> None:
    """``address``/30 on the link, added once."""
    have = {
        (str(a.get_attr("IFA_ADDRESS")), int(a["prefixlen"])) for a in ipr.get_addr(index=index)
    }
    if (address, PREFIXLEN) not in have:
        ipr.addr("add", index=index, address=address, prefixlen=PREFIXLEN)
