"""The nftables balancer and the host's routing-mesh rules, on real namespaces.

A scratch topology stands in for one host's network: a bridge namespace; a
load-balancer namespace (``lb``) holding the table's source address and the VIPs as
/32 aliases, forwarding; three backend namespaces each running a tiny TCP server that
answers ``<its name> <its port> <the peer it sees>``; a client namespace. For the
routing mesh, ``lb`` doubles as the ingress sandbox behind a host namespace, with a
remote client on another link of that host.
"""

from __future__ import annotations

import collections
import dataclasses
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyroute2 import IPRoute

from core.dataplane.balance import BalancerTable, Destination, VirtualService
from real.agent import balancer, nft
from real.agent.balancer import HostIngress, NftBalancer, for_kernel, render
from real.agent.ipvs import IpvsBalancer
from real.testhosts.network import attach_host, create_bridge, create_namespace
from tests.real.dataplane.lab import Lab, built_lab

SOURCE = "10.0.9.2"
VIP = "10.0.9.100"
EMPTY_VIP = "10.0.9.101"
BACKENDS = {"b1": "10.0.9.11", "b2": "10.0.9.12", "b3": "10.0.9.13"}
CLIENT = "10.0.9.50"
# the routing mesh: host <-> sandbox (lb), host <-> remote client, and a host-only address
HOST_SIDE, SANDBOX_SIDE = "172.30.0.1", "172.30.0.2"
HOST_REMOTE_SIDE, REMOTE = "172.31.0.1", "172.31.0.2"
HOST_LOCAL = "10.99.0.1"


def _sysctl(path: str, key: str, value: str) -> None:
    subprocess.run(nft.nsenter(path, ["sysctl", "-qw", f"{key}={value}"]), check=True)


def _veth(
    left: str, left_if: str, left_address: str, right: str, right_if: str, right_address: str
) -> None:
    """A veth between two namespaces (paths), a /24 address on each end, both up."""
    with IPRoute(netns=left, flags=0) as ipr:
        ipr.link("add", ifname=left_if, kind="veth", peer={"ifname": right_if, "net_ns_fd": right})
    for path, ifname, address in ((left, left_if, left_address), (right, right_if, right_address)):
        with IPRoute(netns=path, flags=0) as ipr:
            (index,) = ipr.link_lookup(ifname=ifname)
            ipr.addr("add", index=index, address=address, prefixlen=24)
            ipr.link("set", index=index, state="up")


def _build(lab: Lab) -> None:
    run = lab.run
    create_bridge(run.name("br"))
    for name, address in (("lb", SOURCE), ("client", CLIENT), *BACKENDS.items()):
        create_namespace(run.name(name))
        attach_host(run.name("br"), run.name(name), f"v-{name}", address, 24)
    lb = lab.path("lb")
    with IPRoute(netns=lb, flags=0) as ipr:
        (eth,) = ipr.link_lookup(ifname="eth0")
        for vip in (VIP, EMPTY_VIP):
            ipr.addr("add", index=eth, address=vip, prefixlen=32)
    _sysctl(lb, "net.ipv4.ip_forward", "1")
    # the routing mesh: a host in front of lb (as its ingress sandbox) and a remote client
    for name in ("host", "remote"):
        create_namespace(run.name(name))
    host, remote = lab.path("host"), lab.path("remote")
    _veth(host, "to-sbox", HOST_SIDE, lb, "gw0", SANDBOX_SIDE)
    _veth(host, "to-remote", HOST_REMOTE_SIDE, remote, "eth0", REMOTE)
    with IPRoute(netns=host, flags=0) as ipr:
        (lo,) = ipr.link_lookup(ifname="lo")  # no dummy devices in this kernel
        ipr.addr("add", index=lo, address=HOST_LOCAL, prefixlen=32)
    with IPRoute(netns=remote, flags=0) as ipr:
        ipr.route("add", dst="default", gateway=HOST_REMOTE_SIDE)
    with IPRoute(netns=lb, flags=0) as ipr:  # back to remote clients; nothing else
        ipr.route("add", dst="172.31.0.0/24", gateway=HOST_SIDE)
    _sysctl(host, "net.ipv4.ip_forward", "1")
    _sysctl(host, "net.ipv4.conf.to-sbox.route_localnet", "1")
    for name in BACKENDS:
        lab.serve(name, "80", "8080")


@pytest.fixture(scope="module")
def lab(real_packages: None) -> Iterator[Lab]:
    with built_lab(_build) as built:
        yield built


@pytest.fixture
def lb(lab: Lab) -> Iterator[str]:
    """The load-balancer namespace, with no balancer table left after the test."""
    path = lab.path("lb")
    try:
        yield path
    finally:
        NftBalancer().clear(path)
        HostIngress(SANDBOX_SIDE).clear(lab.path("host"))
        assert nft.tables(path) == []
        assert nft.tables(lab.path("host")) == []


def _vip(vip: str, *names: str, name: str = "web") -> VirtualService:
    dests = tuple(Destination(BACKENDS[n], 0, f"task-{n}") for n in names)
    return VirtualService(f"svc-{name}", name, vip, "", 0, dests)


def _port(protocol: str, port: int, target: int, *names: str) -> VirtualService:
    dests = tuple(Destination(BACKENDS[n], target, f"task-{n}") for n in names)
    return VirtualService("svc-web", "web", "", protocol, port, dests)


def _table(*services: VirtualService, ingress: bool = False) -> BalancerTable:
    return BalancerTable("net1", "ingress" if ingress else "front", ingress, SOURCE, services)


def _counts(answers: list[str]) -> dict[str, int]:
    return dict(collections.Counter(answer.split()[0] for answer in answers))


# --- on real namespaces ----------------------------------------------------------------


def test_vip_round_robin_over_every_backend_with_the_source_as_peer(lab: Lab, lb: str) -> None:
    NftBalancer().program(lb, _table(_vip(VIP, "b1", "b2", "b3")))
    answers = lab.ask("client", VIP, 80, 90)
    assert _counts(answers) == {"b1": 30, "b2": 30, "b3": 30}, answers
    # every port of the VIP, kept; the backend sees the balancer's source (NAT)
    assert {a.split(maxsplit=1)[1] for a in answers} == {f"80 {SOURCE}"}
    assert _counts(lab.ask("client", VIP, 8080, 3)) == {"b1": 1, "b2": 1, "b3": 1}


def test_vip_from_the_namespace_itself(lab: Lab, lb: str) -> None:
    NftBalancer().program(lb, _table(_vip(VIP, "b1", "b2", "b3")))
    assert _counts(lab.ask("lb", VIP, 80, 6)) == {"b1": 2, "b2": 2, "b3": 2}


def test_published_port_goes_to_the_target_port(lab: Lab, lb: str) -> None:
    table = _table(_port("tcp", 30080, 8080, "b1", "b2", "b3"), ingress=True)
    NftBalancer().program(lb, table)
    answers = lab.ask("client", SOURCE, 30080, 30)
    assert _counts(answers) == {"b1": 10, "b2": 10, "b3": 10}, answers
    assert {a.split(maxsplit=1)[1] for a in answers} == {f"8080 {SOURCE}"}


def test_a_table_without_a_backend_moves_its_traffic_to_the_others(lab: Lab, lb: str) -> None:
    balance = NftBalancer()
    balance.program(lb, _table(_vip(VIP, "b1", "b2", "b3")))
    assert _counts(lab.ask("client", VIP, 80, 3)) == {"b1": 1, "b2": 1, "b3": 1}
    balance.program(lb, _table(_vip(VIP, "b1", "b3")))
    assert _counts(lab.ask("client", VIP, 80, 90)) == {"b1": 45, "b3": 45}


def test_a_service_without_destinations_refuses(lab: Lab, lb: str) -> None:
    table = _table(
        _vip(EMPTY_VIP, name="empty"),
        _vip(VIP, "b1", "b2", "b3"),
        _port("tcp", 30081, 8080),
    )
    NftBalancer().program(lb, table)
    assert lab.ask("client", EMPTY_VIP, 80, 2) == ["refused", "refused"]
    assert lab.ask("client", SOURCE, 30081, 2) == ["refused", "refused"]
    assert "reject with tcp reset" in nft.listing(lb, balancer.TABLE)
    assert len(set(lab.ask("client", VIP, 80, 3))) == 3  # the others still balance


def test_clear_leaves_no_table(lab: Lab, lb: str) -> None:
    balance = NftBalancer()
    balance.program(lb, _table(_vip(VIP, "b1")))
    assert nft.tables(lb) == [f"ip {balancer.TABLE}"]
    balance.clear(lb)
    assert nft.tables(lb) == []
    assert lab.ask("client", VIP, 80, 1) == ["refused"]  # the VIP is the namespace's own
    balance.clear(lb)  # clearing twice is fine


def test_a_refused_table_changes_nothing(lab: Lab, lb: str) -> None:
    balance = NftBalancer()
    balance.program(lb, _table(_vip(VIP, "b1", "b2")))
    before = nft.listing(lb, balancer.TABLE)
    broken = dataclasses.replace(_table(_vip(VIP, "b3")), source="10.0.9.300")
    with pytest.raises(nft.NftError):
        balance.program(lb, broken)
    assert nft.listing(lb, balancer.TABLE) == before
    assert _counts(lab.ask("client", VIP, 80, 4)) == {"b1": 2, "b2": 2}


def test_host_ingress_sends_a_published_port_on_any_host_address_to_the_sandbox(
    lab: Lab, lb: str
) -> None:
    mesh = _table(_port("tcp", 30080, 8080, "b1", "b2", "b3"), ingress=True)
    NftBalancer().program(lb, mesh)
    host = lab.path("host")
    HostIngress(SANDBOX_SIDE).program(host, mesh)
    # from the host itself, to an address the sandbox has no route back to (masquerade),
    # to loopback, and from another host through the host's own address (forwarded)
    for where, address in (
        ("host", HOST_LOCAL),
        ("host", "127.0.0.1"),
        ("remote", HOST_REMOTE_SIDE),
    ):
        answers = lab.ask(where, address, 30080, 3)
        assert _counts(answers) == {"b1": 1, "b2": 1, "b3": 1}, (where, address, answers)
    # a port the table does not publish is not forwarded: nothing listens on the host
    assert lab.ask("host", HOST_LOCAL, 30082, 1) == ["refused"]
    HostIngress(SANDBOX_SIDE).clear(host)
    assert nft.tables(host) == []
    assert lab.ask("host", HOST_LOCAL, 30080, 1) == ["refused"]


# --- pure ------------------------------------------------------------------------------


def test_render_is_deterministic_and_the_same_for_equal_tables() -> None:
    services = (_port("tcp", 30080, 8080, "b2", "b1"), _vip(VIP, "b1", "b2", "b3"))
    one = _table(*services)
    other = _table(*(dataclasses.replace(s) for s in services))
    assert render(one) == render(other) == render(one)
    assert render(_table(*reversed(services))) == render(one)
    assert render(_table(_vip(VIP, "b1"))) != render(_table(_vip(VIP, "b2")))


def test_render_shape() -> None:
    script = render(_table(_vip(VIP, "b1", "b2"), _port("udp", 53, 5353, "b3"), _vip(EMPTY_VIP)))
    assert script.startswith("table ip shoal-lb\ndelete table ip shoal-lb\ntable ip shoal-lb {\n")
    assert (
        f"ip daddr {VIP} meta l4proto {{ tcp, udp, sctp }} dnat to numgen inc mod 2 "
        f"map {{ 0 : 10.0.9.11, 1 : 10.0.9.12 }}" in script
    )
    assert (
        "meta l4proto udp th dport 53 dnat to numgen inc mod 1 map { 0 : 10.0.9.13 . 5353 }"
        in script
    )
    assert f"ct status dnat snat to {SOURCE}" in script
    assert f"ip daddr {EMPTY_VIP} meta l4proto tcp reject with tcp reset" in script


def test_host_ingress_render_publishes_each_port_once() -> None:
    table = _table(
        _port("tcp", 30080, 8080, "b1"),
        dataclasses.replace(_port("tcp", 30080, 8080, "b2"), service_id="svc-other"),
        _port("udp", 30080, 53, "b1"),
        _vip(VIP, "b1"),
        ingress=True,
    )
    script = balancer.render_host_ingress(table, SANDBOX_SIDE)
    assert script.count("dnat to") == 2
    assert f"meta l4proto tcp th dport 30080 dnat to {SANDBOX_SIDE}" in script
    assert f"meta l4proto udp th dport 30080 dnat to {SANDBOX_SIDE}" in script
    assert VIP not in script


def test_for_kernel_picks_ipvs_only_where_the_kernel_has_it(tmp_path: Path) -> None:
    assert isinstance(for_kernel(tmp_path / "ip_vs"), NftBalancer)
    (tmp_path / "ip_vs").write_text("")
    assert isinstance(for_kernel(tmp_path / "ip_vs"), IpvsBalancer)
