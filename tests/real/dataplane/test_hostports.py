"""Host-mode published ports on real namespaces (real/agent/hostports.py).

A scratch host namespace stands in for a node (with an address of its own on
``lo``), two plain namespaces for two tasks' sandboxes, each running a tiny TCP
server on its target ports that answers ``<its name> <its port> <the peer it
sees>``, and a remote namespace on another link of the host for a client on another
node. No dockerd: the executor's side is in tests/real/test_host_ports_real.py.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator

import pytest
from pyroute2 import IPRoute

from core.model.enums import PortProtocol, PublishMode
from core.model.service import PortConfig
from real.agent import nft
from real.agent.hostports import (
    TABLE,
    HostPorts,
    Link,
    Published,
    port_label,
    ports_of_label,
    render,
)
from real.testhosts.network import create_namespace, links
from tests.real.dataplane.lab import Lab, built_lab

HOST_LOCAL = "10.98.0.1"
HOST_REMOTE_SIDE, REMOTE = "10.97.0.1", "10.97.0.2"


def _build(lab: Lab) -> None:
    for name in ("host", "remote", "t1", "t2"):
        create_namespace(lab.run.name(name))
    host, remote = lab.path("host"), lab.path("remote")
    with IPRoute(netns=host, flags=0) as ipr:
        ipr.link(
            "add", ifname="to-remote", kind="veth", peer={"ifname": "eth0", "net_ns_fd": remote}
        )
        (index,) = ipr.link_lookup(ifname="to-remote")
        ipr.addr("add", index=index, address=HOST_REMOTE_SIDE, prefixlen=24)
        ipr.link("set", index=index, state="up")
        (lo,) = ipr.link_lookup(ifname="lo")
        ipr.addr("add", index=lo, address=HOST_LOCAL, prefixlen=32)
    with IPRoute(netns=remote, flags=0) as ipr:
        (index,) = ipr.link_lookup(ifname="eth0")
        ipr.addr("add", index=index, address=REMOTE, prefixlen=24)
        ipr.link("set", index=index, state="up")
        ipr.route("add", dst="default", gateway=HOST_REMOTE_SIDE)
    for name in ("t1", "t2"):
        lab.serve(name, "80", "53")


@pytest.fixture
def lab(real_packages: None) -> Iterator[Lab]:
    with built_lab(_build) as built:
        yield built


@pytest.fixture
def ports(lab: Lab) -> Iterator[HostPorts]:
    """The host's host ports; after the test, no table and no link left."""
    made = HostPorts(lab.path("host"))
    try:
        yield made
    finally:
        made.close()
        assert f"ip {TABLE}" not in nft.tables(lab.path("host"))
        assert not [n for n in links(lab.run.name("host")) if n.startswith("shp")]


def _port(published: int, target: int = 80, protocol: str = "tcp") -> PortConfig:
    return PortConfig(
        protocol=PortProtocol(protocol),
        target_port=target,
        published_port=published,
        publish_mode=PublishMode.HOST,
    )


def _names(answers: list[str]) -> dict[str, int]:
    return dict(collections.Counter(a.split()[0] for a in answers))


def test_a_published_port_answers_from_its_task_on_every_host_address(
    lab: Lab, ports: HostPorts
) -> None:
    link = ports.attach("task1", lab.path("t1"), [_port(8080)], "eth0")
    assert link == Link(0, "172.19.0.1", "172.19.0.2", "shp0")

    # another node's client: DNATed in prerouting, seen as itself (no masquerade),
    # the reply back through the sandbox's default route via the host
    assert lab.ask("remote", HOST_REMOTE_SIDE, 8080, 3) == [f"t1 80 {REMOTE}"] * 3
    assert lab.ask("remote", HOST_LOCAL, 8080) == [f"t1 80 {REMOTE}"]
    # the host itself, on its addresses and on 127.0.0.1: output, masqueraded
    for address in (HOST_REMOTE_SIDE, HOST_LOCAL, "127.0.0.1"):
        assert lab.ask("host", address, 8080) == [f"t1 80 {link.host}"], address
    # a port nobody publishes is refused, and so is the target port on the host
    assert lab.ask("remote", HOST_REMOTE_SIDE, 8081) == ["refused"]
    assert lab.ask("remote", HOST_REMOTE_SIDE, 80) == ["refused"]
    # traffic to an address that is not the host's is left alone
    assert lab.ask("remote", "172.19.0.2", 80) == [f"t1 80 {REMOTE}"]  # routed, not DNATed


def test_two_tasks_get_their_own_link_and_ports_and_detach_releases_them(
    lab: Lab, ports: HostPorts
) -> None:
    one = ports.attach("task1", lab.path("t1"), [_port(8080)], "eth0")
    two = ports.attach("task2", lab.path("t2"), [_port(8081), _port(30000, 53)], "eth1")
    assert (one.index, two.index) == (0, 1)
    assert two.sandbox == "172.19.0.6"
    assert lab.ask("remote", HOST_LOCAL, 8080) == [f"t1 80 {REMOTE}"]
    assert lab.ask("remote", HOST_LOCAL, 8081) == [f"t2 80 {REMOTE}"]
    assert lab.ask("remote", HOST_LOCAL, 30000) == [f"t2 53 {REMOTE}"]
    host_links = links(lab.run.name("host"))
    assert "shp0" in host_links and "shp1" in host_links
    assert "eth1" in links(lab.run.name("t2"))

    ports.detach("task1")
    assert "shp0" not in links(lab.run.name("host"))
    assert "eth0" not in links(lab.run.name("t1"))
    assert lab.ask("remote", HOST_LOCAL, 8080) == ["refused"]
    assert lab.ask("remote", HOST_LOCAL, 8081) == [f"t2 80 {REMOTE}"]
    listing = nft.listing(lab.path("host"), TABLE)
    assert "8080" not in listing and "172.19.0.6:80" in listing

    # its /30 is free again; a second attach of the same task keeps its own
    again = ports.attach("task1", lab.path("t1"), [_port(8082)], "eth0")
    assert again.index == 0
    assert ports.attach("task2", lab.path("t2"), [_port(8083)], "eth1") == two
    assert lab.ask("remote", HOST_LOCAL, 8081) == ["refused"]
    assert lab.ask("remote", HOST_LOCAL, 8083) == [f"t2 80 {REMOTE}"]

    ports.detach("task1")
    ports.detach("task2")
    ports.detach("task2")  # idempotent
    assert f"ip {TABLE}" not in nft.tables(lab.path("host"))
    assert not [n for n in links(lab.run.name("host")) if n.startswith("shp")]


def test_a_port_two_tasks_name_stays_with_the_first(lab: Lab, ports: HostPorts) -> None:
    ports.attach("task1", lab.path("t1"), [_port(8080)], "eth0")
    ports.attach("task2", lab.path("t2"), [_port(8080)], "eth0")
    assert _names(lab.ask("remote", HOST_LOCAL, 8080, 4)) == {"t1": 4}
    ports.detach("task1")
    assert _names(lab.ask("remote", HOST_LOCAL, 8080, 4)) == {"t2": 4}


def test_a_link_left_by_an_earlier_agent_is_not_handed_out(lab: Lab, ports: HostPorts) -> None:
    ports.attach("task1", lab.path("t1"), [_port(8080)], "eth0")
    restarted = HostPorts(lab.path("host"))  # knows nothing of task1
    link = restarted.attach("task2", lab.path("t2"), [_port(8081)], "eth0")
    assert link.index == 1
    restarted.detach("task2")


def test_a_restarted_agent_plumbs_its_adopted_task_again(lab: Lab, ports: HostPorts) -> None:
    """An agent killed with -9 leaves its task's link; the next one joins the same
    sandbox again (the old link's sandbox end has the interface name it wants) and
    the port answers from it, with the old link gone."""
    ports.attach("task1", lab.path("t1"), [_port(8080)], "eth0")
    restarted = HostPorts(lab.path("host"))
    link = restarted.attach("task1", lab.path("t1"), [_port(8080)], "eth0")
    assert link.ifname == "shp1"  # shp0 was still on the host when it looked
    assert [n for n in links(lab.run.name("host")) if n.startswith("shp")] == ["shp1"]
    assert lab.ask("remote", HOST_LOCAL, 8080) == [f"t1 80 {REMOTE}"]
    restarted.close()


def test_a_port_without_a_number_is_refused_not_resolved(lab: Lab, ports: HostPorts) -> None:
    with pytest.raises(ValueError, match="was not given a number"):
        ports.attach("task1", lab.path("t1"), [_port(0)], "eth0")
    assert ports.links() == {}


def test_the_table_dnats_local_addresses_and_masquerades_the_hosts_own() -> None:
    script = render(
        [
            Published("tcp", 8080, "172.19.0.2", 80),
            Published("udp", 5353, "172.19.0.6", 53),
            Published("tcp", 8080, "172.19.0.6", 80),  # a second owner: not rendered
        ]
    )
    assert script.count("fib daddr type local jump ports") == 2
    assert "meta l4proto tcp th dport 8080 dnat to 172.19.0.2:80" in script
    assert "meta l4proto udp th dport 5353 dnat to 172.19.0.6:53" in script
    assert "172.19.0.6:80" not in script
    assert "ip daddr 172.19.0.0/16 ct status dnat fib saddr type local masquerade" in script


def test_the_label_round_trips_the_bound_ports() -> None:
    bound = (_port(8080), _port(31234, 53, "udp"))
    assert port_label(bound) == "8080:80/tcp 31234:53/udp"
    assert ports_of_label(port_label(bound)) == bound


def test_a_link_whose_sandbox_died_keeps_its_slash_30_until_detached(
    lab: Lab, ports: HostPorts
) -> None:
    ports.attach("task1", lab.path("t1"), [_port(8080)], "eth0")
    with IPRoute(netns=lab.path("t1"), flags=0) as ipr:  # its namespace went: the veth too
        (index,) = ipr.link_lookup(ifname="eth0")
        ipr.link("del", index=index)
    assert ports.attach("task2", lab.path("t2"), [_port(8081)], "eth0").index == 1
    ports.detach("task1")
    assert ports.attach("task3", lab.path("t1"), [_port(8082)], "eth0").index == 0
