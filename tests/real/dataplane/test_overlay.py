"""The overlay data plane on two test hosts: VXLAN between them, static peers from the
state, the load balancer and ingress namespaces, reconcile by difference, cleanup.

Each host's :class:`Overlay` runs in a thread that entered the host's namespace, as
the daemon would run there. "Containers" are plain namespaces. Traffic goes only
between the test hosts and the overlay addresses they carry.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from core.dataplane.state import Endpoint, NetworkState, ServiceBinding, mac_for
from real.agent import netns
from real.agent.overlay import (
    GWBRIDGE_IF,
    INGRESS_ADDRESS,
    Overlay,
    bridge_name,
    port_name,
    vxlan_name,
)
from real.testhosts.hosts import TestHost, TestHosts
from real.testhosts.packages import BUSYBOX

Make = Callable[..., TestHosts]

NET_ID = "f3a1c9e07b2d4e5fa6b7c8d9"
INGRESS_ID = "9e8d7c6b5a4f3e2d1c0b9a87"


@dataclass
class Node:
    """One host, its overlay (driven from inside the host) and its "container"."""

    host: TestHost
    overlay: Overlay
    container: str  # netns name

    def call(self, action: Callable[[], Any]) -> Any:
        return netns.run_in(self.host.netns_path, action)

    def apply(self, *states: NetworkState) -> None:
        self.call(lambda: self.overlay.apply({s.network_id: s for s in states}))

    def attach(self, state: NetworkState, address: str) -> None:
        path = netns.path(self.container)
        self.call(lambda: self.overlay.attach(state, address, path, "eth0"))

    def sandbox(self, network_id: str = NET_ID) -> str:
        return self.overlay.sandbox(network_id)


def network(
    *, c2: bool = True, vips: tuple[str, ...] = ("10.0.9.100",), h2_lb: bool = True
) -> NetworkState:
    """One overlay with a load balancer per host and a task "container" per host."""
    endpoints = [
        Endpoint("10.0.9.2", "h1", "10.231.0.1"),
        Endpoint("10.0.9.4", "h1", "10.231.0.1", task_id="t1", name="web.1.t1"),
    ]
    if h2_lb:
        endpoints.append(Endpoint("10.0.9.3", "h2", "10.231.0.2"))
    if c2:
        endpoints.append(Endpoint("10.0.9.5", "h2", "10.231.0.2", task_id="t2", name="web.2.t2"))
    services = tuple(
        ServiceBinding(f"s{i}", f"svc{i}", vip, tuple(e for e in endpoints if e.task_id))
        for i, vip in enumerate(vips)
    )
    return NetworkState(
        NET_ID,
        "backend",
        4097,
        "10.0.9.0/24",
        "10.0.9.1",
        endpoints=tuple(sorted(endpoints, key=lambda e: e.address)),
        services=services,
    )


def ingress() -> NetworkState:
    return NetworkState(
        INGRESS_ID,
        "ingress",
        4098,
        "10.0.0.0/24",
        "10.0.0.1",
        ingress=True,
        endpoints=(
            Endpoint("10.0.0.2", "h1", "10.231.0.1"),
            Endpoint("10.0.0.3", "h2", "10.231.0.2"),
        ),
    )


@pytest.fixture
def nodes(testhosts: Make) -> Iterator[tuple[Node, Node]]:
    """Two hosts with an overlay each; everything they made is removed afterwards, and
    the test fails if an overlay's own close left anything behind."""
    hosts = testhosts(2)
    made = []
    for host in hosts:
        assert host.address == f"10.231.0.{host.index}"  # the states above assume it
        container = f"{host.netns}-c"
        netns.create(container)
        made.append(Node(host, Overlay(f"{host.netns}-", host.name, host.address), container))
    try:
        yield made[0], made[1]
        for node in made:
            node.call(node.overlay.close)
            assert node.overlay.namespaces() == []
            assert links(node.host.netns) == ["eth0", "lo"]
    finally:
        for node in made:
            with contextlib.suppress(Exception):
                node.call(node.overlay.close)
            netns.remove(node.container)


# -- probes -------------------------------------------------------------------------------


def run_in(namespace: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    command = ["nsenter", f"--net={netns.path(namespace)}", "--", *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


def ping(namespace: str, address: str, count: int = 1, wait: int = 2) -> bool:
    done = run_in(namespace, [BUSYBOX, "ping", "-c", str(count), "-W", str(wait), address])
    return done.returncode == 0


def ip_json(namespace: str, *argv: str) -> Any:
    done = run_in(namespace, ["ip", "-j", *argv])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout or "[]")


def links(namespace: str) -> list[str]:
    return sorted(link["ifname"] for link in ip_json(namespace, "link", "show"))


def addresses(namespace: str, ifname: str) -> list[str]:
    (link,) = ip_json(namespace, "-4", "addr", "show", "dev", ifname)
    return sorted(f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"])


def fdb(namespace: str, ifname: str) -> list[tuple[str, str]]:
    done = run_in(namespace, ["bridge", "-j", "fdb", "show", "dev", ifname])
    assert done.returncode == 0, done.stderr
    return sorted((e["mac"], e["dst"]) for e in json.loads(done.stdout) if "dst" in e)


def neighbours(namespace: str, ifname: str) -> list[tuple[str, str]]:
    entries = ip_json(namespace, "neigh", "show", "dev", ifname, "nud", "permanent")
    return sorted((e["dst"], e["lladdr"]) for e in entries)


def sysctl(namespace: str, key: str) -> str:
    return run_in(namespace, ["cat", f"/proc/sys/{key}"]).stdout.strip()


def expected_peers(state: NetworkState, node_id: str) -> tuple[list[Any], list[Any]]:
    remote = state.remote(node_id)
    return (
        sorted((e.mac, e.host) for e in remote),
        sorted((e.address, e.mac) for e in remote),
    )


# -- netlink events: proof that an apply changed nothing ----------------------------------

#: RTMGRP_LINK | RTMGRP_NEIGH (neighbours and FDB) | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE
_GROUPS = 0x1 | 0x4 | 0x10 | 0x40


#: RTM_NEWNEIGH
_NEWLINK = 16
_NEWNEIGH = 28
#: NUD_NOARP | NUD_PERMANENT: the states of programmed (not learned) entries
_STATIC = 0x40 | 0x80


def _programmed(data: bytes, offset: int) -> bool:
    """Whether a new-neighbour message is about a static entry: the kernel's own
    learning (the bridge learning a port's MAC, ARP) comes and goes with traffic, and
    is not a change the overlay made. (Deletions all count: a deleted ARP entry is
    announced as FAILED. ndmsg after the 16-byte header: family, pads, ifindex, state.)"""
    (state,) = struct.unpack_from("=H", data, offset + 16 + 8)
    return bool(state & _STATIC)


def _announced(kind: int, data: bytes, offset: int) -> bool:
    """A change something asked for: not the kernel's own word on a neighbour it
    learnt (see :func:`_programmed`), nor a link notification with no changed flag
    (``ifi_change`` 0: linkwatch announcing carrier and operational state, up to a
    second after a set-up and at any time under load)."""
    if kind == _NEWNEIGH:
        return _programmed(data, offset)
    if kind == _NEWLINK:
        (changed,) = struct.unpack_from("=I", data, offset + 16 + 12)
        return changed != 0
    return True


class Changes:
    """Every rtnetlink change announced in some namespaces while it is open. Netlink
    delivers notifications while the changing call runs, so once that call returned its
    changes are all queued: :meth:`read` needs no waiting."""

    def __init__(self, namespaces: list[str]) -> None:
        self.sockets: dict[str, socket.socket] = {}
        for name in namespaces:
            self.sockets[name] = netns.run_in(name, self._open)

    @staticmethod
    def _open() -> socket.socket:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((0, _GROUPS))
        return sock

    def read(self) -> dict[str, list[int]]:
        """Namespace -> message types received (RTM_NEWLINK = 16, ...), drained."""
        seen: dict[str, list[int]] = {}
        for name, sock in self.sockets.items():
            while True:
                try:
                    data = sock.recv(1 << 16, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                offset = 0
                while offset + 16 <= len(data):
                    length, kind = struct.unpack_from("=IH", data, offset)
                    if _announced(kind, data, offset):
                        seen.setdefault(name, []).append(kind)
                    offset += (length + 3) & ~3
        return seen

    def settle(self, quiet: float = 1.5, most: float = 15.0) -> None:
        """Drop what the kernel announces by itself after a set-up: a new port's
        carrier and operational state come through linkwatch up to a second late,
        and are no change of the overlay's. Returns after ``quiet`` seconds with no
        announcement (``most`` at the longest)."""
        deadline = time.monotonic() + most
        calm_since = time.monotonic()
        while time.monotonic() - calm_since < quiet and time.monotonic() < deadline:
            if self.read():
                calm_since = time.monotonic()
            time.sleep(0.1)

    def close(self) -> None:
        for sock in self.sockets.values():
            sock.close()


@contextlib.contextmanager
def changes(namespaces: list[str]) -> Iterator[Changes]:
    watch = Changes(namespaces)
    try:
        yield watch
    finally:
        watch.close()


# -- tests --------------------------------------------------------------------------------


def test_containers_ping_across_hosts_over_vxlan(nodes: tuple[Node, Node]) -> None:
    h1, h2 = nodes
    state = network()
    for node in nodes:
        node.apply(state)
    h1.attach(state, "10.0.9.4/24")
    h2.attach(state, "10.0.9.5/24")
    assert ping(h1.container, "10.0.9.5"), "c1 cannot reach c2 across the hosts"
    assert ping(h2.container, "10.0.9.4"), "c2 cannot reach c1 across the hosts"
    assert ping(h1.container, "10.0.9.3"), "c1 cannot reach h2's load balancer"
    # The container's end: the derived MAC, the overlay MTU, the address.
    (eth0,) = ip_json(h1.container, "link", "show", "dev", "eth0")
    assert (eth0["address"], eth0["mtu"]) == (mac_for("10.0.9.4"), 1450)
    assert addresses(h1.container, "eth0") == ["10.0.9.4/24"]


def test_vxlan_lives_in_the_sandbox_with_its_socket_on_the_underlay(
    nodes: tuple[Node, Node],
) -> None:
    h1, _ = nodes
    state = network()
    h1.apply(state)
    sandbox = h1.sandbox()
    assert sandbox == f"{h1.host.netns}-ov-{NET_ID[:10]}"
    assert links(sandbox) == sorted(["lo", bridge_name(state), vxlan_name(state), "lb0"])
    assert bridge_name(state) == "ov-001001-f3a1c"
    assert vxlan_name(state) not in links(h1.host.netns)
    (vx,) = ip_json(sandbox, "-d", "link", "show", "dev", vxlan_name(state))
    info = vx["linkinfo"]["info_data"]
    assert (info["id"], info["port"], info["learning"], info["proxy"]) == (4097, 4789, False, True)
    assert vx["mtu"] == 1450
    assert vx["master"] == bridge_name(state)
    # Moved from another namespace: its underlay (and UDP socket) is the host's.
    assert "link_netnsid" in vx, "the VXLAN device was created in the sandbox itself"
    udp = run_in(h1.host.netns, ["ss", "-H", "-uln", "sport", "= :4789"]).stdout
    assert ":4789" in udp, "no VXLAN socket in the host namespace"
    assert addresses(sandbox, bridge_name(state)) == ["10.0.9.1/24"]


def test_peer_entries_match_the_state(nodes: tuple[Node, Node]) -> None:
    h1 = nodes[0]
    state = network()
    for node in nodes:
        node.apply(state)
    for node in nodes:
        forwarding, neighbour = expected_peers(state, node.host.name)
        assert fdb(node.sandbox(), vxlan_name(state)) == forwarding
        assert neighbours(node.sandbox(), vxlan_name(state)) == neighbour
    assert fdb(h1.sandbox(), vxlan_name(state)) == [
        (mac_for("10.0.9.3"), "10.231.0.2"),
        (mac_for("10.0.9.5"), "10.231.0.2"),
    ]
    # A peer leaves: its entries go, the others stay.
    smaller = network(c2=False)
    h1.apply(smaller)
    assert fdb(h1.sandbox(), vxlan_name(state)) == [(mac_for("10.0.9.3"), "10.231.0.2")]
    assert neighbours(h1.sandbox(), vxlan_name(state)) == [("10.0.9.3", mac_for("10.0.9.3"))]


def test_a_peer_removed_from_the_state_is_unreachable(nodes: tuple[Node, Node]) -> None:
    """With learning off, the static entries are the only way to a peer: once h1 forgets
    c2, c2's packets still reach c1 (h2 knows c1) but c1's answers go nowhere, even
    though h1's VXLAN device just received c2's frames from h2 (learning would use them)."""
    h1, h2 = nodes
    state = network()
    for node in nodes:
        node.apply(state)
    h1.attach(state, "10.0.9.4/24")
    h2.attach(state, "10.0.9.5/24")
    assert ping(h1.container, "10.0.9.5")
    assert ping(h2.container, "10.0.9.4")
    h1.apply(network(c2=False))
    assert not ping(h2.container, "10.0.9.4", count=3, wait=1)
    assert not ping(h1.container, "10.0.9.5", count=2, wait=1)
    assert ping(h1.container, "10.0.9.3"), "the other peer is still reachable"
    h1.apply(state)
    assert ping(h1.container, "10.0.9.5"), "back in the state, back in reach"


def test_load_balancer_holds_its_address_and_every_vip(nodes: tuple[Node, Node]) -> None:
    h1, _ = nodes
    state = network(vips=("10.0.9.100", "10.0.9.101"))
    h1.apply(state)
    lb = h1.overlay.lb_namespace(state)
    assert lb == f"{h1.host.netns}-lb_{NET_ID[:9]}"
    assert links(lb) == ["eth0", "lo"]
    assert addresses(lb, "eth0") == ["10.0.9.100/32", "10.0.9.101/32", "10.0.9.2/24"]
    (eth0,) = ip_json(lb, "link", "show", "dev", "eth0")
    assert (eth0["address"], eth0["mtu"]) == (mac_for("10.0.9.2"), 1450)
    assert sysctl(lb, "net/ipv4/ip_forward") == "1"
    h1.apply(network(vips=("10.0.9.101", "10.0.9.102")))
    assert addresses(lb, "eth0") == ["10.0.9.101/32", "10.0.9.102/32", "10.0.9.2/24"]
    # h1's own load balancer gone from the state: its namespace goes, the sandbox stays.
    without = replace(state, endpoints=tuple(e for e in state.endpoints if e.address != "10.0.9.2"))
    h1.apply(without)
    assert h1.overlay.namespaces() == [h1.sandbox()]
    assert "lb0" not in links(h1.sandbox())


def test_ingress_sandbox_is_joined_to_the_host(nodes: tuple[Node, Node]) -> None:
    h1 = nodes[0]
    state = ingress()
    for node in nodes:
        node.apply(state)
    sbox = h1.overlay.lb_namespace(state)
    assert sbox == f"{h1.host.netns}-ingress_sbox"
    assert h1.overlay.ingress_address == INGRESS_ADDRESS == "172.18.0.2"
    assert links(sbox) == ["eth0", "eth1", "lo"]
    assert addresses(sbox, "eth0") == ["10.0.0.2/24"]
    assert addresses(sbox, "eth1") == ["172.18.0.2/30"]
    assert addresses(h1.host.netns, GWBRIDGE_IF) == ["172.18.0.1/30"]
    routes = ip_json(sbox, "route", "show", "default")
    assert [(r["dst"], r["gateway"]) for r in routes] == [("default", "172.18.0.1")]
    assert sysctl(h1.host.netns, "net/ipv4/ip_forward") == "1"
    assert sysctl(h1.host.netns, f"net/ipv4/conf/{GWBRIDGE_IF}/route_localnet") == "1"
    assert sysctl(sbox, "net/ipv4/ip_forward") == "1"
    assert ping(h1.host.netns, INGRESS_ADDRESS), "the host cannot reach its ingress sandbox"
    assert ping(sbox, "10.0.0.3"), "h1's ingress sandbox cannot reach h2's over the overlay"
    h1.apply()
    assert h1.overlay.namespaces() == []
    assert links(h1.host.netns) == ["eth0", "lo"]


def test_attach_before_the_state_and_detach(nodes: tuple[Node, Node]) -> None:
    h1, _ = nodes
    state = network()
    h1.attach(state, "10.0.9.4/24")  # the container came before the state message
    assert h1.overlay.namespaces() == [h1.sandbox()]
    assert port_name("10.0.9.4") == "ve0a000904"
    (port,) = ip_json(h1.sandbox(), "link", "show", "dev", "ve0a000904")
    assert (port["master"], port["mtu"]) == (bridge_name(state), 1450)
    assert ping(h1.container, "10.0.9.1"), "the container cannot reach its gateway"
    path = netns.path(h1.container)
    for _ in range(2):  # idempotent
        h1.call(lambda: h1.overlay.detach(path, "eth0"))
        assert links(h1.container) == ["lo"]
        assert "ve0a000904" not in links(h1.sandbox())


def test_apply_changes_only_what_differs(nodes: tuple[Node, Node]) -> None:
    h1 = nodes[0]
    state, other = network(), ingress()
    for node in nodes:
        node.apply(state, other)
    h1.attach(state, "10.0.9.4/24")
    watched = [h1.host.netns, *h1.overlay.namespaces(), h1.container]
    with changes(watched) as watch:
        watch.settle()
        h1.apply(state, other)
        assert watch.read() == {}, "an apply of the same states changed something"
        h1.apply(network(vips=("10.0.9.100", "10.0.9.101")), other)
        seen = watch.read()
        lb = h1.overlay.lb_namespace(state)
        # RTM_NEWADDR, and the kernel's local route for it (RTM_NEWROUTE): nothing else.
        assert {k: sorted(v) for k, v in seen.items()} == {lb: [20, 24]}, "only a new VIP"
        # The watch sees real changes: a peer leaving deletes its FDB and neighbour.
        h1.apply(network(vips=("10.0.9.100", "10.0.9.101"), c2=False), other)
        assert sorted(watch.read()[h1.sandbox()]) == [29, 29]  # RTM_DELNEIGH x2
    assert ping(h1.container, "10.0.9.3")


def test_network_gone_removes_every_namespace_and_device(nodes: tuple[Node, Node]) -> None:
    h1 = nodes[0]
    before = {node.host.name: links(node.host.netns) for node in nodes}
    for node in nodes:
        node.apply(network(), ingress())
    h1.attach(network(), "10.0.9.4/24")
    assert len(h1.overlay.namespaces()) == 4
    assert GWBRIDGE_IF in links(h1.host.netns)
    h1.apply(ingress())  # one network goes
    assert h1.overlay.namespaces() == sorted(
        [h1.overlay.sandbox(INGRESS_ID), h1.overlay.lb_namespace(ingress())]
    )
    assert links(h1.container) == ["lo"], "the container's veth went with the network"
    for node in nodes:
        node.apply()
        assert node.overlay.namespaces() == []
        prefix = f"{node.host.netns}-"
        assert netns.listed(prefix) == sorted([node.container]), "a namespace is left"
        assert links(node.host.netns) == before[node.host.name], "a device is left"
        udp = run_in(node.host.netns, ["ss", "-H", "-uln", "sport", "= :4789"]).stdout
        assert udp.strip() == "", "the VXLAN socket is left"
