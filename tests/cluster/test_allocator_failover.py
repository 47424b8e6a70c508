"""Issue 15 items 11 and 14a, issue 18: a new leader rebuilds the allocator from the
store, so the published ports, virtual IPs, task addresses, networks' subnets and
VNIs and nodes' load-balancer addresses the old leader handed out survive a failover
unchanged, and the next ones go to nobody who holds them (moby#31694)."""

from __future__ import annotations

import pytest

from core.allocator.vni import network_vni
from core.model.network import Network, NetworkSpec
from core.model.node import Node
from core.model.service import (
    EndpointSpec,
    NetworkAttachmentConfig,
    PortConfig,
    Service,
    ServiceSpec,
)
from core.model.wire import replace
from core.tasks.states import TaskState
from sim.cluster import ClusterWorld
from tests.cluster.support import replicated, running, swarm

SEEDS = (1, 2)


def published(name: str, replicas: int) -> ServiceSpec:
    """A service on ``app`` whose ingress port is left for the swarm to pick
    (``-p 80 --network app``)."""
    ports = (PortConfig(target_port=80),)
    spec = replicated(name, replicas, networks=(NetworkAttachmentConfig(target="app"),))
    return replace(spec, endpoint_spec=EndpointSpec(ports=ports))


def add_networks(world: ClusterWorld) -> None:
    """An overlay ``app`` beside the ``ingress`` network ``swarm init`` made."""
    reply = world.call(leader_name(world), "NetworkCreate", spec=NetworkSpec(name="app"))
    assert reply.ok, reply.error
    store = world.leader_store
    assert world.run_until(lambda: len(store().tables["networks"]) == 2, 10)  # type: ignore[union-attr]


def allocations(world: ClusterWorld) -> dict[str, object]:
    """Each service's published ports and VIPs, and each task's addresses."""
    store = world.leader_store()
    assert store is not None
    found: dict[str, object] = {}
    for service in store.tables["services"].values():
        assert isinstance(service, Service)
        ports = tuple(p.published_port for p in service.endpoint.ports)
        vips = tuple((v.network_id, v.addr) for v in service.endpoint.virtual_ips)
        found[service.spec.name] = (ports, vips)
    for task in world.tasks():
        found[task.id] = tuple(a.addresses for a in task.networks_attachments)
    for network in store.tables["networks"].values():
        assert isinstance(network, Network)
        found[network.spec.name] = (network.ipam_options, network_vni(network))
    for node in store.tables["nodes"].values():
        assert isinstance(node, Node)
        found[node.id] = tuple((a.network.id, a.addresses) for a in node.attachments)
    return found


def leader_name(world: ClusterWorld) -> str:
    leader = world.leader()
    assert leader is not None
    return leader.name


@pytest.mark.parametrize("seed", SEEDS)
def test_ports_vips_and_addresses_survive_a_failover(seed: int) -> None:
    world = swarm(seed, managers=3, workers=2)
    add_networks(world)
    ids = [world.call(leader_name(world), "ServiceCreate", spec=published("a", 2)).value]
    ids.append(world.call(leader_name(world), "ServiceCreate", spec=published("b", 2)).value)
    assert world.run_until(lambda: all(len(running(world, i)) == 2 for i in ids), 60)
    before = allocations(world)
    assert {before["a"][0], before["b"][0]} == {(30000,), (30001,)}  # type: ignore[index]
    assert all(len(before[name][1]) == 2 for name in ("a", "b"))  # type: ignore[index, arg-type]

    old = leader_name(world)
    world.hosts[old].crash()
    assert world.run_until(lambda: world.leader() not in (None, world.hosts[old]), 60)
    world.run_for(10)  # the new leader has started and written whatever it meant to
    assert allocations(world) == before

    third = world.call(leader_name(world), "ServiceCreate", spec=published("c", 1))
    assert third.ok, third.error
    assert world.run_until(lambda: len(running(world, third.value)) == 1, 60)
    after = allocations(world)
    assert after["c"][0] == (30002,)  # type: ignore[index]
    vips = [v for name in ("a", "b", "c") for v in after[name][1]]  # type: ignore[index]
    addresses = [
        a for t in world.tasks() if t.status.state <= TaskState.RUNNING for a in after[t.id]
    ]
    nodes = list(world.leader_store().tables["nodes"].values())  # type: ignore[union-attr]
    on_app = {t.node_id for t in world.tasks() if t.status.state <= TaskState.RUNNING}
    endpoints = [a for n in nodes for x in n.attachments for a in x.addresses]  # type: ignore[attr-defined]
    # every node on ingress (the mesh is in use), and on app where an app task runs
    assert len(endpoints) == len(nodes) + len(on_app)
    taken = vips + addresses + endpoints
    assert len(set(taken)) == len(taken)  # no address twice
    fresh = world.call(leader_name(world), "NetworkCreate", spec=NetworkSpec(name="later"))
    assert fresh.ok, fresh.error
    world.run_for(2)
    assert allocations(world)["later"][1] == 4098  # type: ignore[index]
