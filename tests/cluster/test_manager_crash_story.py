"""Issue 15's story: three managers, one fails. Crash any manager (the leader or
not) for 60 s: ``node ls`` shows it Down and Unreachable meanwhile, Ready and
Reachable after; no service ever holds more containers than its replicas once
converged; every node is ready 60 s after the fault heals."""

from __future__ import annotations

import pytest

from core.model.enums import NodeState, Reachability
from core.model.node import Node
from sim.cluster import ClusterWorld
from tests.cluster.support import replicated, running, swarm

SEEDS = range(1, 21)
MANAGERS = ("manager-1", "manager-2", "manager-3")
REPLICAS = 6
OUTAGE_SECONDS = 60.0
# Down after 3 silent heartbeat periods (5.5 s at most each), or, when the leader
# itself failed, after an election (at most 2 election timeouts of 20 ticks) and the
# new leader's grace of 6 periods for nodes it has not heard from yet.
DOWN_BY_SECONDS = 58.0


def listed(world: ClusterWorld, via: str) -> dict[str, Node]:
    """``node ls`` through ``via``: the nodes by hostname."""
    reply = world.call(via, "NodeList")
    assert reply.ok, reply.error
    return {n.description.hostname: n for n in reply.value}


def containers_per_service(world: ClusterWorld, service_of: dict[str, str]) -> dict[str, int]:
    for task in world.tasks():
        service_of[task.id] = task.service_id
    counts: dict[str, int] = {}
    for ids in world.running_containers().values():
        for task_id in ids:
            service = service_of.get(task_id, f"unknown task {task_id}")
            counts[service] = counts.get(service, 0) + 1
    return counts


@pytest.mark.parametrize("seed", SEEDS)
def test_a_crashed_manager_is_down_then_back(seed: int) -> None:
    world = swarm(seed, managers=3, workers=2)
    service_id = world.call("manager-1", "ServiceCreate", spec=replicated("web", REPLICAS)).value
    assert world.run_until(lambda: len(running(world, service_id)) == REPLICAS, 60)

    service_of: dict[str, str] = {}
    most: dict[str, int] = {}

    def watch(seconds: float) -> None:
        for _ in range(int(seconds)):
            world.run_for(1.0)
            for service, count in containers_per_service(world, service_of).items():
                most[service] = max(most.get(service, 0), count)

    containers_per_service(world, service_of)  # learn the tasks while a leader answers
    victim = MANAGERS[seed % 3]
    was_leader = world.leader() is world.hosts[victim]
    world.hosts[victim].crash()
    watch(DOWN_BY_SECONDS)
    survivor = next(m for m in MANAGERS if m != victim)
    during = listed(world, survivor)[victim]
    assert during.status.state is NodeState.DOWN, (was_leader, during.status)
    assert during.manager_status is not None
    assert during.manager_status.reachability is Reachability.UNREACHABLE
    assert not during.manager_status.leader
    watch(OUTAGE_SECONDS - DOWN_BY_SECONDS)

    world.hosts[victim].boot()
    watch(60.0)
    nodes = listed(world, victim)
    assert {h: n.status.state for h, n in nodes.items()} == dict.fromkeys(
        sorted(world.hosts), NodeState.READY
    )
    statuses = [nodes[m].manager_status for m in MANAGERS]
    assert all(s is not None and s.reachability is Reachability.REACHABLE for s in statuses)
    assert sum(1 for s in statuses if s is not None and s.leader) == 1
    assert most == {service_id: REPLICAS}, most
    assert len(running(world, service_id)) == REPLICAS
