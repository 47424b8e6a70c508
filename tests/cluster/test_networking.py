"""Overlay networking in a simulated swarm (issue 18): the allocator's subnets, VNIs,
VIPs and node endpoints; the dispatcher's network states reaching exactly the nodes
that need them; and simulated clients reaching services through the embedded DNS,
the VIP load balancer and the routing mesh."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from core.allocator.vni import network_vni
from core.dataplane.delta import NetworkDelta
from core.dataplane.state import NetworkState
from core.messages import AssignmentsMessage
from core.model import replace
from core.model.duration import SECOND
from core.model.enums import PublishMode, ResolutionMode
from core.model.network import IPAMConfig, IPAMOptions, Network, NetworkSpec
from core.model.service import (
    EndpointSpec,
    HealthConfig,
    NetworkAttachmentConfig,
    PortConfig,
)
from core.model.task import Task
from core.tasks.states import TaskState
from sim.cluster import ClusterConfig, ClusterWorld, standard_hosts
from sim.executor import ImageBehaviour
from sim.traffic import REFUSED, UNKNOWN_NAME, SimTraffic
from tests.cluster.support import host_of, node_id, replicated, running, swarm
from tests.cluster.updates import service, update_config


def create_network(world: ClusterWorld, name: str, **spec: object) -> str:
    reply = world.call("manager-1", "NetworkCreate", spec=NetworkSpec(name=name, **spec))  # type: ignore[arg-type]
    assert reply.ok, reply.error
    return str(reply.value)


def create_service(
    world: ClusterWorld,
    name: str,
    replicas: int,
    networks: tuple[str, ...] = (),
    ports: tuple[PortConfig, ...] = (),
    mode: ResolutionMode = ResolutionMode.VIP,
    **template: object,
) -> str:
    attached = tuple(NetworkAttachmentConfig(target=n) for n in networks)
    spec = replicated(name, replicas, networks=attached, **template)
    spec = replace(spec, endpoint_spec=EndpointSpec(mode=mode, ports=ports))
    reply = world.call("manager-1", "ServiceCreate", spec=spec)
    assert reply.ok, reply.error
    return str(reply.value)


def store_network(world: ClusterWorld, name: str) -> Network:
    store = world.leader_store()
    assert store is not None
    return next(n for n in store.tables["networks"].values() if n.spec.name == name)


def programmed(world: ClusterWorld, host: str) -> set[str]:
    return {s.name for s in world.hosts[host].dataplane.programmed.values()}


def settle(world: ClusterWorld, *expected: tuple[str, int]) -> None:
    assert world.run_until(lambda: all(len(running(world, s)) == n for s, n in expected), 120), (
        "the services never converged"
    )
    world.run_for(2)  # statuses reach the store, states reach every node


@pytest.fixture(scope="module")
def ten_nodes() -> tuple[ClusterWorld, dict[str, str]]:
    """3 managers and 7 workers; web: 3 replicas on an overlay publishing 8080->80;
    client: 1 replica on the same overlay; dns: 3 replicas in dnsrr mode."""
    world = swarm(18, managers=3, workers=7)
    mynet = create_network(world, "mynet")
    ports = (PortConfig(target_port=80, published_port=8080),)
    ids = {
        "mynet": mynet,
        "web": create_service(world, "web", 3, ("mynet",), ports),
        "client": create_service(world, "client", 1, ("mynet",)),
        "dns": create_service(world, "dns", 3, ("mynet",), mode=ResolutionMode.DNSRR),
    }
    settle(world, (ids["web"], 3), (ids["client"], 1), (ids["dns"], 3))
    return world, ids


def test_ingress_is_made_at_init_and_networks_get_subnets_and_vnis_in_order(ten_nodes) -> None:  # type: ignore[no-untyped-def]
    world, _ = ten_nodes
    ingress, mynet = store_network(world, "ingress"), store_network(world, "mynet")
    assert ingress.spec.ingress
    assert ingress.ipam_options.configs[0].subnet == "10.0.0.0/24"  # type: ignore[union-attr]
    assert mynet.ipam_options.configs[0].subnet == "10.0.1.0/24"  # type: ignore[union-attr]
    assert (network_vni(ingress), network_vni(mynet)) == (4096, 4097)


def test_vip_services_get_one_vip_per_network_and_dnsrr_none(ten_nodes) -> None:  # type: ignore[no-untyped-def]
    world, ids = ten_nodes
    ingress, mynet = store_network(world, "ingress"), store_network(world, "mynet")
    web = service(world, ids["web"])
    assert sorted(v.network_id for v in web.endpoint.virtual_ips) == sorted((ingress.id, mynet.id))
    assert service(world, ids["dns"]).endpoint.virtual_ips == ()
    assert web.endpoint.ports[0].publish_mode is PublishMode.INGRESS


def test_a_node_programs_a_network_only_while_a_task_of_its_own_uses_it(ten_nodes) -> None:  # type: ignore[no-untyped-def]
    world, ids = ten_nodes
    users = {host_of(world, t) for s in ("web", "client", "dns") for t in running(world, ids[s])}
    for host in sorted(world.hosts):
        names = programmed(world, host)
        assert "ingress" in names, f"{host}: the mesh needs ingress on every node"
        assert ("mynet" in names) == (host in users), host


def test_every_node_answers_the_published_port_round_robin_over_the_tasks(ten_nodes) -> None:  # type: ignore[no-untyped-def]
    world, ids = ten_nodes
    traffic = SimTraffic(world, random.Random(1))
    web = {t.id for t in running(world, ids["web"])}
    for host in sorted(world.hosts):
        answers = [traffic.to_port(host, 8080) for _ in range(30)]
        assert all(a.ok for a in answers), (host, answers)
        counts = Counter(a.task_id for a in answers)
        assert set(counts) == web and set(counts.values()) == {10}, (host, counts)
    assert traffic.to_port("worker-1", 8081).error == REFUSED


def test_a_client_resolves_vip_tasks_and_dnsrr_names(ten_nodes) -> None:  # type: ignore[no-untyped-def]
    world, ids = ten_nodes
    traffic = SimTraffic(world, random.Random(1))
    (client,) = running(world, ids["client"])
    mynet = store_network(world, "mynet")
    web = service(world, ids["web"])
    vip = next(v.addr.split("/")[0] for v in web.endpoint.virtual_ips if v.network_id == mynet.id)
    web_addresses = {_address(t, mynet.id) for t in running(world, ids["web"])}
    dns_addresses = {_address(t, mynet.id) for t in running(world, ids["dns"])}
    assert traffic.resolve_from(client, "web") == (vip,)
    assert set(traffic.resolve_from(client, "tasks.web") or ()) == web_addresses
    assert set(traffic.resolve_from(client, "dns") or ()) == dns_addresses
    assert set(traffic.resolve_from(client, "tasks.dns") or ()) == dns_addresses
    assert traffic.resolve_from(client, "nosuch") is None
    assert traffic.from_task(client, "nosuch").error == UNKNOWN_NAME
    answers = Counter(traffic.from_task(client, "web").task_id for _ in range(90))
    assert set(answers) == {t.id for t in running(world, ids["web"])}
    assert set(answers.values()) == {30}
    rr = Counter(traffic.from_task(client, "dns").task_id for _ in range(90))
    assert set(rr) == {t.id for t in running(world, ids["dns"])}


def test_a_killed_task_leaves_the_backends_and_its_replacement_joins() -> None:
    world = swarm(5, managers=1, workers=3)
    ports = (PortConfig(target_port=80, published_port=8080),)
    web = create_service(world, "web", 3, ports=ports)
    settle(world, (web, 3))
    traffic = SimTraffic(world, random.Random(1))
    victim = running(world, web)[0]
    world.hosts[host_of(world, victim)].executor.kill(victim.id)
    killed_at = world.env.now
    assert world.run_until(
        lambda: all(victim.id not in _backends(world, h) for h in sorted(world.hosts)), 10
    )
    assert world.env.now - killed_at < 2.0, "a dead task stays a backend too long"
    answers = [traffic.to_port("worker-1", 8080) for _ in range(20)]
    assert all(a.ok and a.task_id != victim.id for a in answers)
    settle(world, (web, 3))
    assert len({a.task_id for a in (traffic.to_port("manager-1", 8080) for _ in range(9))}) == 3


def test_removing_the_service_and_network_releases_everything() -> None:
    world = swarm(6, managers=1, workers=2)
    net = create_network(world, "app")
    svc = create_service(world, "web", 2, ("app",))
    settle(world, (svc, 2))
    assert any("app" in programmed(world, h) for h in world.hosts)
    assert world.call("manager-1", "ServiceRemove", service=svc).ok
    assert world.run_until(lambda: not any("app" in programmed(world, h) for h in world.hosts), 30)
    assert world.call("manager-1", "NetworkRemove", network=net).ok
    world.run_for(2)
    store = world.leader_store()
    assert store is not None
    for node in store.tables["nodes"].values():
        assert all(a.network.id != net for a in node.attachments), node.id
    leader = world.leader()
    assert leader is not None and leader.node is not None and leader.node.manager is not None
    allocator = leader.node.manager.leadership.allocator  # type: ignore[union-attr]
    assert net not in allocator.pool.subnets and net not in allocator.vnis.held
    again = create_network(world, "app2")
    world.run_for(1)
    assert network_vni(store_network(world, "app2")) == 4098, "VNIs are handed out serially"
    assert again


def _endpoint_hosts(world: ClusterWorld, network: str, task_id: str) -> list[str]:
    """The hosts whose programmed ``network`` has the task's endpoint."""
    return [
        h
        for h in sorted(world.hosts)
        for s in world.hosts[h].dataplane.programmed.values()
        if s.name == network and any(e.task_id == task_id for e in s.endpoints)
    ]


def test_a_node_keeps_a_network_while_a_task_of_a_removed_service_stops_there() -> None:
    """``service rm`` of tasks that ignore SIGTERM: they run out their 10 s stop
    grace period, and their nodes keep the network (the container is still on it)
    until they end."""
    world = swarm(7, managers=1, workers=2, stubborn=ImageBehaviour(stop_signals=()))
    create_network(world, "app")
    svc = create_service(world, "web", 2, ("app",), image="stubborn")
    settle(world, (svc, 2))
    tasks = running(world, svc)
    hosts = {t.id: host_of(world, t) for t in tasks}
    assert world.call("manager-1", "ServiceRemove", service=svc).ok
    world.run_for(5)
    for task in tasks:
        assert world.hosts[hosts[task.id]].executor.containers[task.id].running
        assert hosts[task.id] in _endpoint_hosts(world, "app", task.id), (
            "a node dropped the network while its stopping task is still on it"
        )
    assert world.run_until(lambda: not any("app" in programmed(world, h) for h in world.hosts), 15)


def test_a_network_dropped_by_an_update_stays_on_nodes_until_their_old_tasks_end() -> None:
    world = swarm(8, managers=1, workers=4)
    create_network(world, "neta")
    create_network(world, "netb")
    app = create_service(world, "app", 2, ("neta", "netb"))
    settle(world, (app, 2))
    spec = service(world, app).spec
    template = replace(spec.task_template, networks=(NetworkAttachmentConfig(target="neta"),))
    spec = replace(spec, task_template=template, update_config=update_config(delay=300))
    assert world.call("manager-1", "ServiceUpdate", service=app, spec=spec).ok
    world.run_for(20)  # one task replaced, the other waits out the delay
    old = [t for t in running(world, app) if len(t.networks_attachments) == 2]
    assert len(old) == 1, "the update did not stop after one task"
    assert _endpoint_hosts(world, "netb", old[0].id) == [host_of(world, old[0])]
    world.run_for(300)
    settle(world, (app, 2))
    assert not any("netb" in programmed(world, h) for h in world.hosts)


def _record_network_messages(world: ClusterWorld) -> list[tuple[str, NetworkDelta]]:
    """Every network delta the nodes send from now on, with the host it goes to."""
    sent: list[tuple[str, NetworkDelta]] = []
    observe = world.observe

    def recording(host, node, ready) -> None:  # type: ignore[no-untyped-def]
        for to, message in ready.messages:
            if isinstance(message, AssignmentsMessage):
                sent.extend((to, delta) for delta in message.networks)
        observe(host, node, ready)

    world.observe = recording  # type: ignore[method-assign]
    return sent


def test_a_node_is_sent_a_network_whole_once_then_only_what_changed() -> None:
    world = swarm(10, managers=1, workers=3)
    create_network(world, "app")
    web = create_service(world, "web", 9, ("app",))
    settle(world, (web, 9))
    sent = _record_network_messages(world)
    victim = running(world, web)[0]
    world.hosts[host_of(world, victim)].executor.kill(victim.id)
    settle(world, (web, 9))
    app = [delta for _, delta in sent if delta.header.name == "app"]
    assert app and all(delta.base for delta in app), "a state was resent whole"
    assert max(len(delta.endpoints) for delta in app) == 1
    states = _leader_states(world)
    for host in ("worker-1", "worker-2", "worker-3"):
        held = {s.network_id: s for s in world.hosts[host].dataplane.programmed.values()}
        assert held == {i: states[i] for i in held}, f"{host} rebuilt another state"
    sent.clear()
    world.restart(world.hosts["worker-2"])  # a new session gets every state whole
    settle(world, (web, 9))
    again = [delta for to, delta in sent if to == "worker-2" and delta.header.name == "app"]
    assert again and again[0].base == 0


def _leader_states(world: ClusterWorld) -> dict[str, NetworkState]:
    leader = world.leader()
    assert leader is not None and leader.node is not None and leader.node.manager is not None
    return leader.node.manager.leadership.dispatcher.networks.states  # type: ignore[union-attr]


def _address(task: Task, network_id: str) -> str:
    return next(
        a.addresses[0].split("/")[0]
        for a in task.networks_attachments
        if a.network.id == network_id
    )


def _backends(world: ClusterWorld, host: str) -> set[str]:
    return {
        b.task_id
        for s in world.hosts[host].dataplane.programmed.values()
        for binding in s.services
        for b in binding.backends
    }


def test_node_ids_resolve(ten_nodes) -> None:  # type: ignore[no-untyped-def]
    world, _ = ten_nodes
    assert node_id(world, "worker-1")


CHECK_INTERVAL, CHECK_RETRIES = 5, 3


def checked_web(world: ClusterWorld, image: str) -> str:
    """web: 3 replicas publishing 8080, checked every 5 s, unhealthy after 3 failures."""
    check = HealthConfig(
        test=("CMD", "true"), interval_ns=CHECK_INTERVAL * SECOND, retries=CHECK_RETRIES
    )
    spec = replicated("web", 3)
    template = spec.task_template
    container = replace(template.container_spec, image=image, healthcheck=check)  # type: ignore[type-var]
    spec = replace(spec, task_template=replace(template, container_spec=container))
    ports = (PortConfig(target_port=80, published_port=8080),)
    spec = replace(spec, endpoint_spec=EndpointSpec(ports=ports))
    reply = world.call("manager-1", "ServiceCreate", spec=spec)
    assert reply.ok, reply.error
    return str(reply.value)


def _left_all_backends(world: ClusterWorld, task_id: str) -> bool:
    return all(task_id not in _backends(world, h) for h in sorted(world.hosts))


def test_a_killed_healthchecked_task_leaves_the_backends_within_its_check_period() -> None:
    world = swarm(8, managers=1, workers=3)
    web = checked_web(world, "nginx")
    settle(world, (web, 3))
    victim = running(world, web)[0]
    assert all(victim.id in _backends(world, h) for h in sorted(world.hosts))
    world.hosts[host_of(world, victim)].executor.kill(victim.id)
    killed_at = world.env.now
    assert world.run_until(lambda: _left_all_backends(world, victim.id), 60)
    assert world.env.now - killed_at <= CHECK_INTERVAL


def test_a_task_turning_unhealthy_leaves_the_backends_once_its_check_says_so() -> None:
    """Probes fail from 30 s after the start: the task is unhealthy after 3 failed
    probes (within 3 intervals), is stopped and fails, and leaves every node's
    backends; a healthy task is a backend throughout."""
    world = swarm(9, managers=1, workers=3, sick=ImageBehaviour(unhealthy_after=30.0))
    web = checked_web(world, "sick")
    settle(world, (web, 3))
    first = running(world, web)
    for task in first:
        container = world.hosts[host_of(world, task)].executor.containers[task.id]
        assert container.started_at is not None
        failing_from = container.started_at + 30.0
        assert world.run_until(lambda t=task: _left_all_backends(world, t.id), 120)
        assert failing_from < world.env.now
        assert world.env.now - failing_from <= CHECK_INTERVAL * (CHECK_RETRIES + 1)


def test_the_swarms_default_address_pool_and_subnet_size_carve_the_networks() -> None:
    """``swarm init --default-addr-pool 10.20.0.0/16 --default-addr-pool-mask-length 26``:
    ingress takes the pool's first /26, the next network the second."""
    config = ClusterConfig(hosts=standard_hosts(1, 0))
    world = ClusterWorld(config, 3)
    world.hosts["manager-1"].boot()
    reply = world.call(
        "manager-1", "SwarmInit", default_addr_pool=("10.20.0.0/16",), subnet_size=26
    )
    assert reply.ok, reply.error
    assert world.run_until(lambda: world.leader() is not None, 60)
    create_network(world, "app")
    world.run_for(2)
    subnets = {
        name: store_network(world, name).ipam_options.configs[0].subnet  # type: ignore[union-attr]
        for name in ("ingress", "app")
    }
    assert subnets == {"ingress": "10.20.0.0/26", "app": "10.20.0.64/26"}


def test_a_network_whose_subnet_overlaps_another_is_made_but_what_uses_it_waits() -> None:
    """SwarmKit's allocator: the create succeeds, the network stays unallocated (the
    leader runs on), and a service attached to it is not allocated, its tasks NEW."""
    world = swarm(71, managers=1, workers=2)
    ingress = store_network(world, "ingress")
    assert ingress.ipam_options is not None
    taken = ingress.ipam_options.configs[0].subnet
    clash = create_network(
        world, "clash", ipam_options=IPAMOptions(configs=(IPAMConfig(subnet=taken),))
    )
    stuck = create_service(world, "stuck", 2, networks=(clash,))
    fine = create_service(world, "fine", 2)
    world.run_for(20)
    assert store_network(world, "clash").ipam_options in (None, IPAMOptions())
    tasks = [t for t in world.tasks() if t.service_id == stuck]
    assert len(tasks) == 2 and {t.status.state for t in tasks} == {TaskState.NEW}
    assert len(running(world, fine)) == 2
