"""Issue 15 #1: agents learn about managers that joined after they registered. In a
swarm formed through manager-1, manager-2's agent was told only of manager-1; once
manager-1 is gone for good, every other node must stay READY (before, manager-2's
node went DOWN for good and its tasks ran twice: 8 containers for 6 replicas), and a
restarted node must find the managers from its disk."""

from __future__ import annotations

import pytest

from core.model.enums import NodeState
from sim.cluster import ClusterWorld
from tests.cluster.support import node_state, replicated, running, swarm

SURVIVORS = ("manager-2", "manager-3", "worker-1", "worker-2", "worker-3")


def containers(world: ClusterWorld) -> int:
    return sum(len(ids) for ids in world.running_containers().values())


@pytest.mark.parametrize("seed", (1, 2, 3))
def test_every_node_stays_ready_when_the_first_manager_is_gone_for_good(seed: int) -> None:
    world = swarm(seed, managers=3, workers=3)
    service_id = world.call("manager-2", "ServiceCreate", spec=replicated("web", 6)).value
    assert world.run_until(lambda: len(running(world, service_id)) == 6, 60)
    world.hosts["manager-1"].crash()

    def survivors_ready() -> bool:
        return all(node_state(world, h) is NodeState.READY for h in SURVIVORS)

    world.run_for(60)
    assert world.run_until(survivors_ready, 30), {h: node_state(world, h) for h in SURVIVORS}
    assert world.run_until(lambda: len(running(world, service_id)) == 6, 30)
    world.run_for(30)
    assert survivors_ready()
    assert containers(world) == 6
    for name in SURVIVORS:  # the list reached every node's disk
        identity = world.hosts[name].identity
        assert identity is not None
        assert {"manager-2", "manager-3"} <= {h for _, h in identity.managers}, name

    # manager-2 restarts: its agent starts from the list on its disk
    world.hosts["manager-2"].crash(power_loss=False)
    world.hosts["manager-2"].boot()
    world.run_for(30)
    assert world.run_until(survivors_ready, 60), {h: node_state(world, h) for h in SURVIVORS}
