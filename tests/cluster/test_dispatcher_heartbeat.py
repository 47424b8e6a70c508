"""Issue 15 #14e: ``swarm update --dispatcher-heartbeat 10s`` changes the heartbeat
period: a crashed worker is DOWN after 3 periods of the new length (28.5-31.5 s),
not of the old one (13.5-16.5 s). Simulated seconds."""

from __future__ import annotations

import pytest

from core.model.duration import SECOND
from core.model.enums import NodeState
from tests.cluster.support import node_state, swarm


@pytest.mark.parametrize("seed", (1, 2))
def test_a_new_dispatcher_heartbeat_sets_when_a_silent_node_is_down(seed: int) -> None:
    world = swarm(seed, managers=1, workers=2)
    updated = world.call("manager-1", "SwarmUpdate", dispatcher_heartbeat_ns=10 * SECOND)
    assert updated.ok, updated.error
    world.run_for(12)  # every agent has heartbeated since, and got a 10 s period
    crashed_at = world.env.now
    world.hosts["worker-1"].crash()
    assert world.run_until(lambda: node_state(world, "worker-1") is NodeState.DOWN, 60, 0.05)
    down_after = world.env.now - crashed_at
    # silent from its last heartbeat, 0-10.5 s before the crash; + status write
    assert 28.5 - 10.5 <= down_after <= 31.5 + 0.6
    assert down_after > 16.5 + 0.6  # the default period would have said DOWN by now
    assert node_state(world, "worker-2") is NodeState.READY
