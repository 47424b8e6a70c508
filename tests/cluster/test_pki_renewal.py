"""Issue 16's PKI over time: certificates are renewed at a random point of 50-80% of
their life, at once when the node's role changes (with the role from the store), and a
node cut off past its certificate's expiry cannot renew: it stays down until it leaves
and joins again, as in Docker."""

from __future__ import annotations

import pytest

from core.ca.credentials import NodeCredentials
from core.ca.validity import cert_window
from core.messages import JoinRaft
from core.model.enums import NodeRole, NodeState
from core.model.node import Node
from sim.cluster import ClusterWorld
from sim.faults.topology import isolate
from tests.cluster.support import node_id, node_state
from tests.cluster.test_pki_join import SPARE, stored_node, wall, world_of

HOUR_NS = 3600 * 10**9


def credentials(world: ClusterWorld, host: str) -> NodeCredentials:
    found = world.hosts[host].credentials
    assert found is not None
    return found


def role(world: ClusterWorld, host: str) -> NodeRole:
    return credentials(world, host).identity.role


@pytest.mark.parametrize("seed", (1, 2))
def test_promotion_and_demotion_reissue_the_certificate_with_the_new_role(seed: int) -> None:
    world = world_of(seed)
    first = credentials(world, "worker-1")
    node = node_id(world, "worker-1")
    assert world.call("manager-1", "NodeUpdate", node=node, role="manager").ok
    assert world.run_until(lambda: role(world, "worker-1") is NodeRole.MANAGER, 30)
    promoted = credentials(world, "worker-1")
    assert promoted.identity.node_id == node and promoted.key_pem != first.key_pem
    recorded = stored_node(world, "worker-1").certificate
    assert recorded is not None and recorded.role is NodeRole.MANAGER
    assert world.call("manager-1", "NodeUpdate", node=node, role="worker").ok
    assert world.run_until(lambda: role(world, "worker-1") is NodeRole.WORKER, 60)
    assert credentials(world, "worker-1").identity.node_id == node
    assert world.run_until(lambda: world.all_ready(5), 60)


def test_certificates_are_renewed_between_half_and_four_fifths_of_their_life() -> None:
    world = world_of(3, managers=1, workers=1)
    assert world.call("manager-1", "SwarmUpdate", node_cert_expiry_ns=HOUR_NS).ok
    world.join(SPARE.name, "manager-1")
    renewals: list[tuple[float, NodeCredentials]] = []
    current = credentials(world, SPARE.name)
    for _ in range(3):
        assert world.run_until(lambda old=current: credentials(world, SPARE.name) != old, 7200, 1.0)
        renewed = credentials(world, SPARE.name)
        renewals.append((wall(world, SPARE.name), current))
        assert renewed.identity == current.identity and renewed.key_pem != current.key_pem
        current = renewed
    for at, cert in renewals:
        not_before, not_after = cert_window(cert.certificate)
        life = not_after - not_before
        assert life == 2 * 3600  # 1 h, and the hour it is backdated by
        assert not_before + 0.5 * life <= at <= not_before + 0.8 * life + 2.0
    assert node_state(world, SPARE.name) is NodeState.READY


def isolated(world: ClusterWorld, victim: str, seconds: float) -> None:
    world.network.set_graph(isolate(world.names, victim))
    world.run_for(seconds)
    world.network.heal()


def test_a_node_cut_off_past_its_renewal_point_renews_once_back() -> None:
    world = world_of(4, managers=1, workers=1)
    assert world.call("manager-1", "SwarmUpdate", node_cert_expiry_ns=HOUR_NS).ok
    world.join(SPARE.name, "manager-1")
    before = credentials(world, SPARE.name)
    not_before, not_after = cert_window(before.certificate)
    past_renewal = not_before + 0.85 * (not_after - not_before)
    isolated(world, SPARE.name, past_renewal - wall(world, SPARE.name))
    assert credentials(world, SPARE.name) == before  # no leader reached
    assert world.run_until(lambda: credentials(world, SPARE.name) != before, 180, 1.0)
    assert world.run_until(lambda: node_state(world, SPARE.name) is NodeState.READY, 60)


def test_a_node_cut_off_past_its_expiry_stays_down_until_it_rejoins() -> None:
    world = world_of(5, managers=1, workers=1)
    assert world.call("manager-1", "SwarmUpdate", node_cert_expiry_ns=HOUR_NS).ok
    world.join(SPARE.name, "manager-1")
    old_id = node_id(world, SPARE.name)
    expired = credentials(world, SPARE.name)
    isolated(world, SPARE.name, expired.not_after - wall(world, SPARE.name) + 60)
    world.run_for(1800)  # back on the network: it cannot talk to anyone any more
    assert credentials(world, SPARE.name) == expired
    assert expired.expired(wall(world, SPARE.name))
    assert node_state(world, SPARE.name) is NodeState.DOWN
    left = world.call(SPARE.name, "SwarmLeave", force=True)
    assert left.ok, left.error
    world.join(SPARE.name, "manager-1")
    fresh = credentials(world, SPARE.name)
    new_id = fresh.identity.node_id
    assert new_id != old_id and not fresh.expired(wall(world, SPARE.name))
    assert world.run_until(lambda: state_of(world, new_id) is NodeState.READY, 60)
    assert state_of(world, old_id) is NodeState.DOWN  # the old node stays, as in Docker


def state_of(world: ClusterWorld, node: str) -> NodeState | None:
    store = world.leader_store()
    assert store is not None
    found = store.tables["nodes"][node]
    assert isinstance(found, Node)
    return found.status.state


def test_a_promoted_node_joins_raft_only_with_a_managers_certificate() -> None:
    """The managers' transport refuses Raft's messages from a worker's certificate
    (real/transport/policy.py), so a JoinRaft sent before the new certificate would be
    lost and the node never become a member (nor, later, be demoted)."""
    world = world_of(5)
    sent: list[NodeRole] = []
    observe = world.observe

    def watch(host: object, node: object, ready: object) -> None:
        for _, message in getattr(ready, "messages", ()):
            if isinstance(message, JoinRaft) and getattr(host, "name", "") == "worker-1":
                new = getattr(ready, "credentials", None)  # installed with this output
                sent.append(new.identity.role if new is not None else role(world, "worker-1"))
        observe(host, node, ready)  # type: ignore[arg-type]

    world.observe = watch  # type: ignore[method-assign]
    assert world.call("manager-1", "NodeUpdate", node=node_id(world, "worker-1"), role="manager").ok
    assert world.run_until(lambda: role(world, "worker-1") is NodeRole.MANAGER, 30)
    assert world.run_until(lambda: bool(sent), 30)
    assert sent == [NodeRole.MANAGER]
