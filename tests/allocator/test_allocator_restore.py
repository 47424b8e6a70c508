"""What the allocator handed out stays: a service keeps its published ports and VIPs
through its updates, and a new leader's allocator, restored from the store, holds
exactly what the old one gave and hands out only what nobody holds (issue 15,
items 11 and 14a)."""

from __future__ import annotations

from core.allocator.allocator import Allocator
from core.model.network import Network
from core.model.service import PortConfig, Service
from core.model.task import Task
from core.model.wire import replace
from tests.allocator.test_allocator import network, new_task, service


def allocated_world() -> tuple[list[Network], list[Service], list[Task]]:
    """Two networks, two services with a dynamic port each and two tasks, as the
    store holds them once the first leader's allocator has written them back. The
    later service sorts first, the order a new leader reads them in."""
    allocator = Allocator()
    networks = [
        allocator.network_changed(network("zz-ingress", "ingress", ingress=True)),
        allocator.network_changed(network("aa-app", "app")),
    ]
    first = allocator.service_changed(service("zz-web", ("app",), (PortConfig(target_port=80),)))
    second = allocator.service_changed(service("aa-api", ("app",), (PortConfig(target_port=8080),)))
    tasks = [
        allocator.task_changed(new_task("t1", "zz-web"), first, 0.0),
        allocator.task_changed(new_task("t2", "aa-api"), second, 0.0),
    ]
    assert all(n is not None for n in networks) and all(t is not None for t in tasks)
    return networks, [first, second], tasks  # type: ignore[return-value]


def addresses(services: list[Service], tasks: list[Task]) -> list[str]:
    vips = [v.addr for s in services for v in s.endpoint.virtual_ips]
    return vips + [a for t in tasks for n in t.networks_attachments for a in n.addresses]


def test_a_restored_allocator_changes_nothing_and_hands_out_only_free_things() -> None:
    networks, services, tasks = allocated_world()
    assert [p.published_port for s in services for p in s.endpoint.ports] == [30000, 30001]
    restored = Allocator()
    restored.restore(
        sorted(networks, key=lambda n: n.id), sorted(services, key=lambda s: s.id), tasks
    )
    # the new leader's pass over the store writes nothing back
    assert [restored.network_changed(n) for n in sorted(networks, key=lambda n: n.id)] == [None] * 2
    for old in sorted(services, key=lambda s: s.id):
        assert restored.service_changed(old) == old
    assert [restored.task_changed(t, None, 1.0) for t in tasks] == [None, None]
    # what comes next is what nobody holds
    third = restored.service_changed(service("db", ("app",), (PortConfig(target_port=5432),)))
    assert [p.published_port for p in third.endpoint.ports] == [30002]
    task = restored.task_changed(new_task("t3", "db"), third, 2.0)
    assert task is not None
    taken = addresses([*services, third], [*tasks, task])
    assert len(taken) == len(set(taken)) == 12  # 2 VIPs and 2 addresses each
    subnets = {n.id: n.ipam_options for n in networks}
    assert {n.id: n.ipam_options for n in restored.networks.values()} == subnets


def test_an_unallocated_network_does_not_take_an_allocated_ones_subnet() -> None:
    networks, services, tasks = allocated_world()
    restored = Allocator()
    fresh = network("a-first", "fresh")  # sorts before both, never allocated
    restored.restore([fresh, *networks], services, tasks)
    allocated = restored.network_changed(fresh)
    assert allocated is not None and allocated.ipam_options is not None
    assert allocated.ipam_options.configs[0].subnet == "10.0.2.0/24"


def test_a_service_keeps_its_dynamic_port_and_vips_through_updates() -> None:
    allocator = Allocator()
    allocator.network_changed(network("i", "ingress", ingress=True))
    low = allocator.service_changed(service("low", ports=(PortConfig(target_port=80),)))
    web = allocator.service_changed(service("web", ports=(PortConfig(target_port=80),)))
    allocator.service_removed(low.id)  # 30000 is free again, and lower
    labelled = replace(web, spec=replace(web.spec, labels={"tier": "front"}))
    again = allocator.service_changed(labelled)
    assert again.endpoint.ports == web.endpoint.ports  # 30001, not 30000
    assert again.endpoint.virtual_ips == web.endpoint.virtual_ips
    # a different target is a different port: it gets a new one
    moved = replace(web.spec.endpoint_spec, ports=(PortConfig(target_port=81),))
    other = allocator.service_changed(replace(web, spec=replace(web.spec, endpoint_spec=moved)))
    assert [p.published_port for p in other.endpoint.ports] == [30000]
