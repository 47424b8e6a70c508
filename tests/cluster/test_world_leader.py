"""The judge's leader: of the hosts that believe they lead, the one in the highest
term, as real mode's judge picks it. A leader cut off from the rest believes it leads
until check-quorum unseats it, and a new one may be elected before that."""

from __future__ import annotations

from sim.cluster import ClusterConfig, ClusterWorld, standard_hosts
from sim.faults.topology import isolate


def believers(world: ClusterWorld) -> dict[str, int]:
    """Each running host that believes it leads, with its term."""
    found = {}
    for host in world.up_hosts():
        manager = host.node.manager if host.node is not None else None
        if manager is not None and manager.is_leader:
            found[host.name] = manager.raft.term
    return found


def test_a_cut_off_leader_gives_way_to_the_one_elected_in_a_higher_term() -> None:
    world = ClusterWorld(ClusterConfig(hosts=standard_hosts(3, 0)), 3)
    world.form_swarm()
    stale = world.leader()
    assert stale is not None
    world.network.set_graph(isolate(world.names, stale.name))
    assert world.run_until(lambda: len(believers(world)) == 2, 40, step=0.1)
    both = believers(world)
    assert stale.name in both and both[stale.name] < max(both.values())
    newer = world.leader()
    assert newer is not None and newer is not stale
    assert both[newer.name] == max(both.values())
