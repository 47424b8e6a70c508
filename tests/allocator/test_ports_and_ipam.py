"""Ingress ports and overlay addresses: what Swarm hands out, and what it refuses."""

from __future__ import annotations

import ipaddress

import pytest

from core.allocator.ipam import AddressesExhausted, AddressPool, PoolExhausted, SubnetOverlap
from core.allocator.ports import (
    DYNAMIC_PORT_MAX,
    DYNAMIC_PORT_MIN,
    PortAllocator,
    PortConflict,
    PortsExhausted,
)
from core.model.enums import PortProtocol, PublishMode
from core.model.service import PortConfig


def ingress(
    target: int, published: int = 0, protocol: PortProtocol = PortProtocol.TCP
) -> PortConfig:
    return PortConfig(target_port=target, published_port=published, protocol=protocol)


# -- ports ---------------------------------------------------------------------------------


def test_unpublished_ingress_ports_get_the_lowest_free_dynamic_port() -> None:
    ports = PortAllocator()
    [web] = ports.allocate("s1", "web", (ingress(80),))
    [api, admin] = ports.allocate("s2", "api", (ingress(8080), ingress(9090)))
    assert (web.published_port, api.published_port, admin.published_port) == (30000, 30001, 30002)
    assert web.publish_mode is PublishMode.INGRESS


def test_an_explicit_port_taken_by_another_service_is_refused_in_dockers_words() -> None:
    ports = PortAllocator()
    ports.allocate("s1", "web", (ingress(80, 8080),))
    with pytest.raises(
        PortConflict,
        match=r"^port '8080' is already in use by service 'web' \(s1\) as an ingress port$",
    ):
        ports.allocate("s2", "api", (ingress(80, 8080),))


def test_tcp_and_udp_are_separate_spaces() -> None:
    ports = PortAllocator()
    ports.allocate("s1", "dns", (ingress(53, 53),))
    [udp] = ports.allocate("s2", "dns-udp", (ingress(53, 53, PortProtocol.UDP),))
    assert udp.published_port == 53


def test_host_mode_ports_are_left_to_the_nodes() -> None:
    ports = PortAllocator()
    host = PortConfig(target_port=80, published_port=8080, publish_mode=PublishMode.HOST)
    assert ports.allocate("s1", "a", (host,)) == (host,)
    assert ports.allocate("s2", "b", (host,)) == (host,)
    assert ports.holder("tcp", 8080) is None


def test_an_update_may_keep_its_own_ports_and_a_refused_one_keeps_the_old_ones() -> None:
    ports = PortAllocator()
    ports.allocate("s1", "web", (ingress(80, 8080),))
    ports.allocate("s2", "api", (ingress(80, 9090),))
    assert (
        ports.allocate("s1", "web", (ingress(80, 8080), ingress(443, 8443)))[1].published_port
        == 8443
    )
    with pytest.raises(PortConflict):
        ports.allocate("s1", "web", (ingress(80, 8081), ingress(81, 9090)))
    assert ports.holder("tcp", 8080).service_id == "s1"  # type: ignore[union-attr]
    assert ports.holder("tcp", 8443).service_id == "s1"  # type: ignore[union-attr]
    assert ports.holder("tcp", 8081) is None


def test_released_ports_are_free_again() -> None:
    ports = PortAllocator()
    ports.allocate("s1", "web", (ingress(80),))
    assert [p.published_port for p in ports.release("s1")] == [30000]
    assert ports.allocate("s2", "api", (ingress(80),))[0].published_port == 30000


def test_the_dynamic_range_runs_out() -> None:
    ports = PortAllocator()
    count = DYNAMIC_PORT_MAX - DYNAMIC_PORT_MIN + 1
    ports.allocate("s1", "many", tuple(ingress(i + 1) for i in range(count)))
    with pytest.raises(PortsExhausted, match="no free tcp port left in the dynamic range"):
        ports.allocate("s2", "one-more", (ingress(80),))


# -- addresses ---------------------------------------------------------------------------------


def test_networks_get_the_lowest_free_slash_24_of_10_0_0_0_8() -> None:
    pool = AddressPool()
    ingress_net = pool.allocate("n0", "ingress")
    app = pool.allocate("n1", "app")
    assert (str(ingress_net.network), str(app.network)) == ("10.0.0.0/24", "10.0.1.0/24")
    assert str(app.gateway) == "10.0.1.1"
    pool.release("n0")
    assert str(pool.allocate("n2", "db").network) == "10.0.0.0/24"


def test_an_explicit_subnet_must_not_overlap_another() -> None:
    pool = AddressPool()
    pool.allocate("n0", "ingress")
    explicit = pool.allocate("n1", "app", "10.0.1.0/25")
    assert str(explicit.network) == "10.0.1.0/25"
    with pytest.raises(SubnetOverlap, match=r"10\.0\.0\.0/16 overlaps 10\.0\.0\.0/24"):
        pool.allocate("n2", "wide", "10.0.0.0/16")
    assert str(pool.allocate("n3", "next").network) == "10.0.2.0/24"  # skips the /25


def test_addresses_are_handed_out_serially_and_not_reused_at_once() -> None:
    subnet = AddressPool().allocate("n1", "app")
    first, second = subnet.allocate(), subnet.allocate()
    assert (str(first), str(second)) == ("10.0.0.2", "10.0.0.3")
    subnet.release(first)
    assert str(subnet.allocate()) == "10.0.0.4"  # not 10.0.0.2 again yet


def test_a_slash_24_holds_253_addresses_besides_its_gateway() -> None:
    subnet = AddressPool().allocate("n1", "app")
    addresses = [subnet.allocate() for _ in range(253)]
    assert addresses[0] == ipaddress.IPv4Address("10.0.0.2")
    assert addresses[-1] == ipaddress.IPv4Address("10.0.0.254")
    with pytest.raises(AddressesExhausted, match="address pools: app"):
        subnet.allocate()
    subnet.release(ipaddress.IPv4Address("10.0.0.77"))
    assert str(subnet.allocate()) == "10.0.0.77"  # wrapped round to the one freed


def test_a_requested_address_must_be_free_and_inside() -> None:
    subnet = AddressPool().allocate("n1", "app")
    assert str(subnet.allocate("10.0.0.9")) == "10.0.0.9"
    for taken in ("10.0.0.9", "10.0.0.1", "10.0.0.255", "10.0.1.5"):
        with pytest.raises(AddressesExhausted):
            subnet.allocate(taken)


def test_the_pool_runs_out() -> None:
    pool = AddressPool("10.0.0.0/22")
    for i in range(4):
        pool.allocate(f"n{i}", f"net{i}")
    with pytest.raises(PoolExhausted, match="non-overlapping IPv4 address pool"):
        pool.allocate("n4", "net4")
