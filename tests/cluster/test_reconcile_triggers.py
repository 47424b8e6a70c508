"""What makes the leader reconcile a replicated service when a node changes: as
SwarmKit's ``handleNodeChange``, only a node that became invalid (DOWN, drained,
removed) moves tasks. A node coming back READY reconciles nothing; in the reference
cluster's faulted window those reconciles were 277 of 347."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.model.enums import NodeState
from core.store import WriteTx
from sim.cluster import ClusterWorld
from tests.cluster.support import host_of, node_state, replicated, running, swarm


def reconciles_of(world: ClusterWorld) -> list[tuple[float, str]]:
    """(simulated time, service id) of every reconcile job the leader starts."""
    host = world.leader()
    assert host is not None and host.node is not None and host.node.manager is not None
    leadership = host.node.manager.leadership
    assert leadership is not None
    orchestration = leadership.orchestration
    job = orchestration._reconcile_job
    seen: list[tuple[float, str]] = []

    def counted(service_id: str, *args: object, **kwargs: object) -> Callable[[WriteTx], None]:
        seen.append((world.env.now, service_id))
        return job(service_id, *args, **kwargs)  # type: ignore[arg-type]

    orchestration._reconcile_job = counted  # type: ignore[method-assign]
    return seen


@pytest.mark.parametrize("seed", [1, 2])
def test_a_node_down_reconciles_its_services_and_its_return_does_not(seed: int) -> None:
    world = swarm(seed)
    service_id = world.call("manager-1", "ServiceCreate", spec=replicated("web", 6)).value
    assert world.run_until(lambda: len(running(world, service_id)) == 6, 60)
    world.run_for(5)
    seen = reconciles_of(world)
    victim = world.hosts[next(host_of(world, t) for t in running(world, service_id)
                              if host_of(world, t).startswith("worker"))]  # fmt: skip
    victim.crash()
    assert world.run_until(lambda: node_state(world, victim.name) is NodeState.DOWN, 60)
    assert world.run_until(lambda: len(running(world, service_id)) == 6, 60)
    assert service_id in {s for _, s in seen}, "the DOWN node's tasks were not moved"
    world.run_for(5)
    before_return = len(seen)
    victim.boot()
    assert world.run_until(lambda: node_state(world, victim.name) is NodeState.READY, 60)
    world.run_for(10)
    assert seen[before_return:] == []  # READY again: nothing to reconcile
    assert len(running(world, service_id)) == 6
