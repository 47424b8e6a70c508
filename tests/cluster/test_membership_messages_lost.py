"""Promotion and demotion, whatever message is lost or late, and whenever the demotion
lands during the promotion.

A demoted manager is removed from Raft's membership, and the leader stops replicating
to it once the removal applies: if it had not yet heard the commit, it stayed a
manager (campaigning, refusing ``docker swarm leave``) for ever. Managers now answer a
removed member's Raft traffic with ``MemberRemoved`` (SwarmKit's ``ErrMemberRemoved``).
A promoted node is told only once its Raft id is recorded, and sends ``JoinRaft``
again when told again. Demoted before it became a member, it is told it is no member
(if it holds a manager's certificate) or gets a worker's certificate and stops its
manager; its late ``JoinRaft`` is not let in. A member not yet removed keeps a
manager's certificate, as SwarmKit's ``node.Role`` changes only after the removal."""

from __future__ import annotations

import functools

from cryptography import x509

from core.ca.issue import new_csr
from core.ca.renewal import role_changed
from core.messages import CertificateIssued, JoinRaft, RenewCertificate
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


def settled(world: ClusterWorld) -> bool:
    """worker-1 is a worker again, and the membership the three managers."""
    leader = world.leader()
    manager = leader.node.manager if leader is not None else None
    voters = len(manager.raft.conf.voters) if manager is not None else 0
    return (
        world.hosts["worker-1"].node.manager is None
        and role(world, "worker-1") is NodeRole.WORKER
        and voters == 3
    )


def test_demoted_at_any_point_of_its_promotion_a_node_ends_a_worker() -> None:
    """Docker lets ``node demote`` follow ``node promote`` at once (the docker CLI test
    does): the node may be told of its promotion, hold a manager's certificate or have
    asked to join Raft when the demotion lands. Whatever the point, it ends a worker,
    no longer running a manager, and the membership is the three managers again."""
    stuck = []
    for tenths in range(0, 40):
        world = world_of(3)
        node = node_id(world, "worker-1")
        assert world.call("manager-1", "NodeUpdate", node=node, role="manager").ok
        if tenths:
            world.run_for(tenths / 10)
        assert world.call("manager-1", "NodeUpdate", node=node, role="worker").ok

        if not world.run_until(functools.partial(settled, world), 60):
            stuck.append(tenths / 10)
    assert not stuck, f"demoted this many seconds after its promotion, it stayed a manager: {stuck}"


def holding(world: ClusterWorld, host: str, kind: type, held: list[object]) -> None:
    """Hold back every ``kind`` message ``host`` sends, into ``held`` (not sent)."""
    observe = world.observe

    def hold(source: ClusterHost, node: object, ready: NodeReady) -> None:
        if source.name == host:
            held.extend(m for _, m in ready.messages if isinstance(m, kind))
            ready.messages = [(t, m) for t, m in ready.messages if not isinstance(m, kind)]
        observe(source, node, ready)  # type: ignore[arg-type]

    world.observe = hold  # type: ignore[assignment,method-assign]


def a_manager_is_running(world: ClusterWorld, host: str) -> bool:
    return world.hosts[host].node.manager is not None


def test_a_node_whose_renewal_comes_back_a_workers_stops_its_manager() -> None:
    """Told of its promotion, the node starts a manager and asks for a manager's
    certificate; demoted before that is signed, it gets a worker's, and stops."""
    world = world_of(4)
    held: list[object] = []
    holding(world, "worker-1", RenewCertificate, held)
    node = node_id(world, "worker-1")
    assert world.call("manager-1", "NodeUpdate", node=node, role="manager").ok
    assert world.run_until(lambda: a_manager_is_running(world, "worker-1") and bool(held), 30)
    assert world.call("manager-1", "NodeUpdate", node=node, role="worker").ok
    world.observe = type(world).observe.__get__(world)  # type: ignore[method-assign]
    assert world.run_until(lambda: not a_manager_is_running(world, "worker-1"), 60)
    assert role(world, "worker-1") is NodeRole.WORKER


def test_a_node_demoted_before_it_joined_raft_is_told_it_is_no_member() -> None:
    """It holds a manager's certificate and runs a manager, but its JoinRaft never
    got through before the demotion: the leader tells it it is no member."""
    world = world_of(5)
    held: list[object] = []
    holding(world, "worker-1", JoinRaft, held)
    node = node_id(world, "worker-1")
    assert world.call("manager-1", "NodeUpdate", node=node, role="manager").ok
    assert world.run_until(lambda: role(world, "worker-1") is NodeRole.MANAGER and bool(held), 30)
    assert world.call("manager-1", "NodeUpdate", node=node, role="worker").ok
    assert world.run_until(lambda: not a_manager_is_running(world, "worker-1"), 60)
    assert world.run_until(lambda: role(world, "worker-1") is NodeRole.WORKER, 60)
    assert not is_voter(world, "worker-1")


def test_a_join_raft_that_comes_after_the_demotion_is_not_let_in() -> None:
    world = world_of(6)
    held: list[JoinRaft] = []
    holding(world, "worker-1", JoinRaft, held)
    node = node_id(world, "worker-1")
    assert world.call("manager-1", "NodeUpdate", node=node, role="manager").ok
    assert world.run_until(lambda: bool(held), 30)
    assert world.call("manager-1", "NodeUpdate", node=node, role="worker").ok
    leader = world.leader()
    assert leader is not None and leader.node.manager is not None
    raft_id = held[0].raft_id
    world.hosts[leader.name].node.receive("worker-1", held[0])  # it arrives late
    for _ in range(20):
        world.run_for(0.25)
        manager = leader.node.manager
        assert manager is not None and raft_id not in manager.raft.conf.voters


def test_a_demoted_member_not_yet_removed_is_still_certified_a_manager() -> None:
    """The leader signs the role a node has in Raft's membership, as SwarmKit's
    ``node.Role``: a worker's certificate would cut a voter off Raft's traffic."""
    world = world_of(7)
    promote(world, "worker-1")
    node = node_id(world, "worker-1")
    leader = world.leader()
    assert leader is not None and leader.node.manager is not None
    leader.node.manager._demote = lambda node: None  # type: ignore[method-assign]  # not yet
    assert world.call(leader.name, "NodeUpdate", node=node, role="worker").ok
    assert is_voter(world, "worker-1")
    answers: list[CertificateIssued] = []
    csr = new_csr(lambda n: b"\x07" * n).csr_pem
    leader.node.manager.renew(RenewCertificate(node, csr), answers.append)  # type: ignore[arg-type]
    assert world.run_until(lambda: bool(answers), 10)
    assert answers[0].certificate and not answers[0].error
    issued = x509.load_pem_x509_certificate(answers[0].certificate)
    assert not role_changed(issued, NodeRole.MANAGER)
