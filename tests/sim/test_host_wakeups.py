"""A simulated host keeps one wake-up for its node's next deadline: a step that
leaves the deadline where it was arms no second SimPy event (most steps are such;
each stale wake-up used to be an event of its own), and the one pending still
wakes the node when it is due."""

from __future__ import annotations

import networkx as nx

from sim.cluster import ClusterHost, ClusterWorld
from tests.cluster.support import swarm


def stepped_worker() -> tuple[ClusterWorld, ClusterHost, float]:
    """A one-worker swarm whose worker has just stepped: the world, the worker, and
    the deadline its wake-up is armed for."""
    world = swarm(1, managers=1, workers=1)
    world.run_for(3)
    host = world.hosts["worker-1"]
    assert host.node is not None
    host.step()
    assert host._deadline is not None
    return world, host, host._deadline


def test_a_step_that_keeps_the_deadline_arms_no_second_wakeup() -> None:
    world, host, deadline = stepped_worker()
    queued = len(world.env._queue)
    for _ in range(3):
        host.step()  # nothing came in: the node's deadline stays
        assert host._deadline == deadline
    assert len(world.env._queue) == queued


def test_the_kept_wakeup_still_wakes_the_node_when_it_is_due() -> None:
    world, host, deadline = stepped_worker()
    host.step()  # kept: the wake-up armed by the first step must still fire
    assert host.node is not None and host._deadline == deadline
    woken: list[float] = []
    advance = host.node.advance

    def recorded(mono: float, wall: float) -> None:
        woken.append(mono)
        advance(mono, wall)

    host.node.advance = recorded  # type: ignore[method-assign]
    due = host.clock.sim_time_at_mono(deadline, world.env.now)
    world.network.set_graph(nx.DiGraph())  # nothing arrives: only the wake-up can advance it
    world.run_until(lambda: bool(woken), due - world.env.now + 1.0)
    assert woken and woken[0] >= deadline
