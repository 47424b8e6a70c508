"""Issue 15 #3 (the agents' side): after ``swarm init --force-new-cluster`` every
node registers with the new leader within a heartbeat period. Before, agents went
on cycling through the lost managers with a backoff grown to 8 s (a 5 s register
timeout each), and stayed ``unknown`` for 18-28 s. Simulated seconds."""

from __future__ import annotations

import pytest

from core.model.enums import NodeState
from sim.cluster import ClusterWorld
from tests.cluster.support import node_id, node_state, replicated, running, swarm

HOSTS = ("manager-1", "worker-1", "worker-2")
HEARTBEAT_SECONDS = 5.0


def in_session(world: ClusterWorld, host: str) -> bool:
    """The node has a session with the leader's dispatcher, and its node is READY."""
    leader = world.leader()
    if leader is None or leader.node is None or leader.node.manager is None:
        return False
    leadership = leader.node.manager.leadership
    if leadership is None:
        return False
    return (
        node_id(world, host) in leadership.dispatcher.sessions
        and node_state(world, host) is NodeState.READY
    )


@pytest.mark.parametrize("seed", (1, 2, 3))
def test_every_node_registers_within_a_heartbeat_after_force_new_cluster(seed: int) -> None:
    world = swarm(seed, managers=3, workers=2)
    service_id = world.call("manager-1", "ServiceCreate", spec=replicated("web", 4)).value
    assert world.run_until(lambda: len(running(world, service_id)) == 4, 60)
    world.hosts["manager-2"].crash()
    world.hosts["manager-3"].crash()
    world.run_for(50)  # quorum lost: the agents back off between the managers they know
    reply = world.call("manager-1", "SwarmInit", force_new_cluster=True)
    assert reply.ok, reply.error
    assert world.run_until(lambda: world.leader() is not None, 30, step=0.05)
    led_at = world.env.now

    def registered() -> bool:
        return all(in_session(world, h) for h in HOSTS)

    assert world.run_until(registered, HEARTBEAT_SECONDS, step=0.05)
    assert world.env.now - led_at <= HEARTBEAT_SECONDS
    world.run_for(10)
    assert all(in_session(world, h) for h in HOSTS)
