"""A worker that cannot reach the leader but reaches another manager keeps its
session through that manager (SwarmKit's raft proxy): it stays READY, its tasks stay
put, and it is still told what to run."""

from __future__ import annotations

import pytest

from core.model.enums import NodeState
from sim.faults.topology import full, one_way_cut
from tests.cluster.support import node_id, node_state, replicated, running, swarm

SEEDS = (1, 2, 3)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_worker_cut_off_from_the_leader_only_stays_ready_through_a_follower(seed: int) -> None:
    world = swarm(seed, managers=3, workers=2)
    service_id = world.call("manager-1", "ServiceCreate", spec=replicated("web", 10)).value
    assert world.run_until(lambda: len(running(world, service_id)) == 10, 60)
    leader = world.leader()
    assert leader is not None
    worker = "worker-1"
    mine = sorted(t.id for t in running(world, service_id) if t.node_id == node_id(world, worker))
    assert mine
    graph = one_way_cut(
        one_way_cut(full(world.names), worker, [leader.name]), leader.name, [worker]
    )
    world.network.set_graph(graph)
    for _ in range(12):  # a minute: far past the 16.5 s a silent node gets
        world.run_for(5)
        assert node_state(world, worker) is NodeState.READY
    assert (
        sorted(t.id for t in running(world, service_id) if t.node_id == node_id(world, worker))
        == mine
    )
    assert world.running_containers()[worker] == mine
    # it is still told what to run: scaling up puts new tasks there too
    assert world.call(leader.name, "ServiceScale", service=service_id, replicas=20).ok
    assert world.run_until(lambda: len(running(world, service_id)) == 20, 60)
    on_worker = [t for t in running(world, service_id) if t.node_id == node_id(world, worker)]
    assert len(on_worker) > len(mine)
    assert sorted(world.running_containers()[worker]) == sorted(t.id for t in on_worker)
