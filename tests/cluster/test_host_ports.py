"""Host-mode published ports (issue 15, item 8): every running task reports the host
ports its container bound in its status (PortStatus), as the engine reports them to
SwarmKit's agent; a port published without a number gets a random ephemeral port, and
``service ps`` shows them under PORTS."""

from __future__ import annotations

import random

from cli.commands.language import parse
from cli.commands.run import execute
from cli.output.views import Context, service_ps
from core.model.enums import PublishMode
from core.model.node import Node
from core.model.service import Service
from core.model.task import Task
from sim.cluster import ClusterWorld
from sim.executor import EPHEMERAL_PORTS
from tests.cluster.support import host_of, running, swarm


def create(world: ClusterWorld, line: str) -> str:
    def send(method: str, params: dict[str, object]) -> object:
        return world.call("manager-1", method, **params)

    (outcome,) = [execute(c, send, "manager-1") for c in parse(line, random.Random(7))]  # type: ignore[arg-type]
    assert outcome.ok, outcome.error
    return str(outcome.value)


def published(task: Task) -> list[tuple[int, int, str]]:
    return [
        (p.target_port, p.published_port, str(p.publish_mode))
        for p in task.status.port_status.ports
    ]


def test_running_host_mode_tasks_report_their_ports_and_service_ps_shows_them() -> None:
    world = swarm(3, managers=1, workers=3)
    fixed = create(
        world,
        "docker service create --name web --replicas 3 --constraint node.role==worker "
        "--publish mode=host,published=8080,target=80 nginx",
    )
    drawn = create(
        world, "docker service create --name any --mode global --publish mode=host,target=81 nginx"
    )
    assert world.run_until(
        lambda: len(running(world, fixed)) == 3 and len(running(world, drawn)) == 4, 120
    )
    world.run_for(5)
    web, anyone = running(world, fixed), running(world, drawn)
    assert {host_of(world, t) for t in web} == {"worker-1", "worker-2", "worker-3"}
    assert all(published(t) == [(80, 8080, PublishMode.HOST)] for t in web)
    low, high = EPHEMERAL_PORTS
    random_ports = [published(t) for t in anyone]
    assert all(len(p) == 1 and p[0][0] == 81 and low <= p[0][1] <= high for p in random_ports)
    assert len({p[0][1] for p in random_ports}) == 4, "each host draws its own port"
    # the executors' truth: what the tasks report is what the containers bound
    for task in anyone:
        bound = world.hosts[host_of(world, task)].executor.bound_ports()
        assert ("tcp", random_ports[anyone.index(task)][0][1]) in bound

    store = world.leader_store()
    assert store is not None
    nodes = {n.id: n for n in store.tables["nodes"].values() if isinstance(n, Node)}
    services = {s.id: s for s in store.tables["services"].values() if isinstance(s, Service)}
    ctx = Context(now=world.env.now, nodes=nodes, services=services)
    rows = service_ps(web, ctx).splitlines()
    assert rows[0].split()[-1] == "PORTS"
    assert all(row.endswith("*:8080->80/tcp") for row in rows[1:]), rows
    rows = service_ps(anyone, ctx).splitlines()
    assert all(row.rstrip().endswith("->81/tcp") for row in rows[1:]), rows


def test_a_task_whose_container_exited_reports_no_ports() -> None:
    world = swarm(4, managers=1, workers=1)
    service = create(
        world, "docker service create --name web --publish mode=host,published=8080,target=80 nginx"
    )
    assert world.run_until(lambda: len(running(world, service)) == 1, 60)
    world.run_for(2)
    (first,) = running(world, service)
    assert published(first) == [(80, 8080, PublishMode.HOST)]
    assert world.hosts[host_of(world, first)].executor.kill(first.id)
    assert world.run_until(
        lambda: any(t.id == first.id and t.status.err for t in world.tasks()), 30
    )
    (failed,) = [t for t in world.tasks() if t.id == first.id]
    assert failed.status.err == "task: non-zero exit (137)"
    assert published(failed) == []
    # the replacement binds the port the killed container freed
    assert world.run_until(
        lambda: [t.id for t in running(world, service)] not in ([], [first.id]), 60
    )
    world.run_for(2)
    (second,) = running(world, service)
    assert published(second) == [(80, 8080, PublishMode.HOST)]
