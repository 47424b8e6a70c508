"""Promotion and demotion survive the loss of the one message each used to hang on.

A demoted manager is removed from Raft's membership, and the leader stops replicating
to it once the removal applies: if it had not yet heard the commit, it stayed a
manager (campaigning, refusing ``docker swarm leave``) for ever. Managers now answer
a removed member's Raft traffic with ``MemberRemoved`` (SwarmKit's
``ErrMemberRemoved``). And a promoted node's ``JoinRaft`` is sent again when the
leader repeats ``Promoted``, so losing it no longer leaves a member that never joins."""

from __future__ import annotations

from core.messages import JoinRaft
from core.model.enums import NodeRole
from core.node import NodeReady
from sim.cluster import ClusterHost, ClusterWorld
from sim.faults.topology import full, one_way_cut
from tests.cluster.support import node_id
from tests.cluster.test_pki_join import world_of
from tests.cluster.test_pki_renewal import role


def is_voter(world: ClusterWorld, host: str) -> bool:
    leader = world.leader()
    manager = leader.node.manager if leader is not None else None
    if manager is None:
        return False
    voters = manager.raft.conf.voters
    return any(name == host for raft_id, name in manager.peers.items() if raft_id in voters)


def promote(world: ClusterWorld, host: str) -> None:
    assert world.call("manager-1", "NodeUpdate", node=node_id(world, host), role="manager").ok
    assert world.run_until(lambda: is_voter(world, host), 60)


def test_a_demoted_manager_that_never_hears_its_removal_becomes_a_worker() -> None:
    world = world_of(1)
    promote(world, "worker-1")
    leader = world.leader()
    assert leader is not None
    # the leader's appends (and the removal's commit) never reach worker-1
    world.network.set_graph(one_way_cut(full(world.names), leader.name, ["worker-1"]))
    node = node_id(world, "worker-1")
    assert world.call(leader.name, "NodeUpdate", node=node, role="worker").ok
    assert world.run_until(lambda: not is_voter(world, "worker-1"), 30)
    demoted = world.run_until(lambda: world.hosts["worker-1"].node.manager is None, 60)
    assert demoted, "worker-1 still runs a manager after its removal from Raft"
    world.network.heal()
    assert world.run_until(lambda: role(world, "worker-1") is NodeRole.WORKER, 60)
    left = world.call("worker-1", "SwarmLeave")
    assert left.ok, left.error


def test_a_promoted_nodes_lost_join_raft_is_sent_again() -> None:
    world = world_of(2)
    dropped: list[JoinRaft] = []
    observe = world.observe

    def lose_first_join(host: ClusterHost, node: object, ready: NodeReady) -> None:
        if host.name == "worker-1" and not dropped:
            dropped.extend(m for _, m in ready.messages if isinstance(m, JoinRaft))
            ready.messages = [(t, m) for t, m in ready.messages if not isinstance(m, JoinRaft)]
        observe(host, node, ready)  # type: ignore[arg-type]

    world.observe = lose_first_join  # type: ignore[assignment,method-assign]
    promote(world, "worker-1")
    assert dropped, "no JoinRaft was lost: the test did not test the loss"
