"""The allocator as the store sees it: networks, services and tasks in, the objects
to write back out (NEW tasks leave as PENDING)."""

from __future__ import annotations

import pytest

from core.allocator.allocator import PENDING_MESSAGE, Allocator
from core.allocator.ipam import AddressPool
from core.allocator.ports import PortConflict
from core.model.enums import PublishMode, ResolutionMode
from core.model.network import IPAMConfig, IPAMOptions, Network, NetworkSpec
from core.model.node import Node
from core.model.service import (
    EndpointSpec,
    NetworkAttachmentConfig,
    PortConfig,
    Service,
    ServiceSpec,
    TaskSpec,
)
from core.model.task import Task, TaskStatus
from core.tasks.states import TaskState


def network(network_id: str, name: str, ingress: bool = False, subnet: str = "") -> Network:
    options = IPAMOptions(configs=(IPAMConfig(subnet=subnet),)) if subnet else None
    return Network(
        id=network_id, spec=NetworkSpec(name=name, ingress=ingress, ipam_options=options)
    )


def service(
    service_id: str,
    networks: tuple[str, ...] = (),
    ports: tuple[PortConfig, ...] = (),
    mode: ResolutionMode | None = None,
) -> Service:
    template = TaskSpec(networks=tuple(NetworkAttachmentConfig(target=n) for n in networks))
    endpoint = EndpointSpec(mode=mode or ResolutionMode.VIP, ports=ports)
    return Service(
        id=service_id,
        spec=ServiceSpec(name=service_id, task_template=template, endpoint_spec=endpoint),
    )


def new_task(task_id: str, service_id: str) -> Task:
    return Task(id=task_id, service_id=service_id, status=TaskStatus(state=TaskState.NEW))


def test_networks_get_subnets_and_gateways() -> None:
    allocator = Allocator()
    ingress = allocator.network_changed(network("i", "ingress", ingress=True))
    app = allocator.network_changed(network("a", "app", subnet="10.20.0.0/16"))
    assert ingress is not None and app is not None
    assert ingress.ipam_options.configs == (IPAMConfig(subnet="10.0.0.0/24", gateway="10.0.0.1"),)  # type: ignore[union-attr]
    assert app.ipam_options.configs == (IPAMConfig(subnet="10.20.0.0/16", gateway="10.20.0.1"),)  # type: ignore[union-attr]
    assert allocator.network_changed(app) is None  # already has one


def test_a_service_gets_ports_and_a_vip_on_each_network() -> None:
    allocator = Allocator()
    allocator.network_changed(network("i", "ingress", ingress=True))
    allocator.network_changed(network("a", "app"))
    web = allocator.service_changed(service("web", ("app",), (PortConfig(target_port=80),)))
    assert [p.published_port for p in web.endpoint.ports] == [30000]
    assert [(v.network_id, v.addr) for v in web.endpoint.virtual_ips] == [
        ("i", "10.0.0.2/24"),
        ("a", "10.0.1.2/24"),
    ]


def test_dnsrr_services_get_no_vip_and_host_ports_no_ingress() -> None:
    allocator = Allocator()
    allocator.network_changed(network("i", "ingress", ingress=True))
    host = PortConfig(target_port=80, published_port=8080, publish_mode=PublishMode.HOST)
    glob = allocator.service_changed(service("glob", ports=(host,), mode=ResolutionMode.DNSRR))
    assert glob.endpoint.virtual_ips == () and glob.endpoint.ports == (host,)


def test_a_taken_port_is_refused_and_nothing_changes() -> None:
    allocator = Allocator()
    allocator.service_changed(
        service("web", ports=(PortConfig(target_port=80, published_port=8080),))
    )
    with pytest.raises(PortConflict):
        allocator.service_changed(
            service("api", ports=(PortConfig(target_port=80, published_port=8080),))
        )
    assert "api" not in allocator.ready_services


def test_a_new_task_gets_addresses_and_becomes_pending() -> None:
    allocator = Allocator()
    allocator.network_changed(network("a", "app"))
    web = allocator.service_changed(service("web", ("a",)))
    task = allocator.task_changed(new_task("t1", "web"), web, wall=7.0)
    assert task is not None
    assert (task.status.state, task.status.message) == (TaskState.PENDING, PENDING_MESSAGE)
    assert [a.addresses for a in task.networks_attachments] == [("10.0.0.3/24",)]
    assert allocator.task_changed(task, web, 8.0) is None  # not NEW any more


def test_a_task_waits_for_its_service_and_goes_at_once_without_networks() -> None:
    allocator = Allocator()
    plain = service("plain")
    assert allocator.task_changed(new_task("t1", "plain"), plain, 0.0) is None
    allocated = allocator.service_changed(plain)
    task = allocator.task_changed(new_task("t1", "plain"), allocated, 0.0)
    assert task is not None and task.networks_attachments == ()


def test_addresses_come_back_when_tasks_and_services_go() -> None:
    allocator = Allocator(AddressPool("10.0.0.0/30", prefix=30))  # one usable address
    allocator.network_changed(network("a", "app"))
    web = allocator.service_changed(service("web", ("a",), mode=ResolutionMode.DNSRR))
    first = allocator.task_changed(new_task("t1", "web"), web, 0.0)
    assert first is not None
    assert allocator.task_changed(new_task("t2", "web"), web, 0.0) is None  # exhausted: waits
    allocator.task_removed("t1")
    assert allocator.task_changed(new_task("t2", "web"), web, 0.0) is not None


def test_a_nodes_endpoints_add_up_when_two_allocations_precede_the_first_write() -> None:
    """The store's node lags the allocator's writes: a second network asked for
    before the first write commits must not drop the first."""
    allocator = Allocator()
    for network_id, name in (("a", "app"), ("b", "back")):
        allocator.network_changed(network(network_id, name))
    node = Node(id="n1")
    first = allocator.node_needs(node, {"a"})
    second = allocator.node_needs(node, {"b"})  # the store still has ``node``
    assert first is not None and second is not None
    assert [a.network.id for a in first.attachments] == ["a"]
    assert [a.network.id for a in second.attachments] == ["a", "b"]
    assert second.attachments[0] == first.attachments[0], "the node's address on a moved"
    assert allocator.node_needs(second, {"a", "b"}) is None
    allocator.network_removed("a")
    after = allocator.node_needs(second, set())
    assert after is not None and [a.network.id for a in after.attachments] == ["b"]
