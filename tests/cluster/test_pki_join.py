"""Issue 16's PKI in the swarm: init makes the root CA, every node gets a certificate
naming it (CN node ID, OU role, O cluster ID) chained to that root, join tokens carry
the root's digest, a joiner refuses a root its token does not name, and the same seed
issues the same bytes."""

from __future__ import annotations

import json
import random

import pytest

from core.ca.cluster import cluster_root
from core.ca.errors import CAMismatch
from core.ca.root import create_root_ca
from core.ca.tokens import join_token, parse_join_token
from core.ca.verify import verify_node_certificate
from core.manager.requests import REQUEST_TIMEOUT_SECONDS
from core.model.cluster import Cluster
from core.model.enums import NodeRole
from core.model.node import Node
from sim.cluster import ClusterConfig, ClusterWorld, HostSpec, standard_hosts
from tests.cluster.support import node_id

HOURS = 3600 * 10**9
SPARE = HostSpec("worker-9")


def world_of(seed: int, managers: int = 3, workers: int = 2) -> ClusterWorld:
    hosts = (*standard_hosts(managers, workers), SPARE)
    world = ClusterWorld(ClusterConfig(hosts=hosts), seed)
    world.form_swarm(spare=[SPARE.name])
    return world


def cluster_of(world: ClusterWorld) -> Cluster:
    store = world.leader_store()
    assert store is not None
    (cluster,) = store.tables["clusters"].values()
    assert isinstance(cluster, Cluster)
    return cluster


def stored_node(world: ClusterWorld, host: str) -> Node:
    store = world.leader_store()
    assert store is not None
    node = store.tables["nodes"][node_id(world, host)]
    assert isinstance(node, Node)
    return node


def wall(world: ClusterWorld, host: str) -> float:
    return world.hosts[host].clock.wall(world.env.now)


@pytest.mark.parametrize("seed", (1, 2))
def test_every_node_holds_a_certificate_for_its_id_role_and_cluster_from_the_root(
    seed: int,
) -> None:
    world = world_of(seed)
    cluster = cluster_of(world)
    root = cluster_root(cluster).public()
    for name in ("manager-1", "manager-2", "manager-3", "worker-1", "worker-2"):
        host = world.hosts[name]
        credentials = host.credentials
        assert credentials is not None and host.identity is not None
        assert host.identity.credentials == credentials  # durable with the identity
        assert credentials.root_pem == root.cert_pem
        peer = verify_node_certificate(credentials.cert_pem, root, wall(world, name))
        role = NodeRole.MANAGER if name.startswith("manager") else NodeRole.WORKER
        assert peer.node_id == node_id(world, name)
        assert peer.role is role and peer.cluster_id == cluster.id
        recorded = stored_node(world, name).certificate  # SwarmKit's Node.Certificate
        assert recorded is not None and recorded.role is role and recorded.cn == peer.node_id
        assert recorded.certificate.encode() == credentials.cert_pem


def test_both_join_tokens_carry_the_root_digest_and_tls_info_shows_the_root() -> None:
    world = world_of(3)
    cluster = cluster_of(world)
    root = cluster_root(cluster)
    assert root.can_sign and cluster.root_ca is not None
    assert cluster.root_ca.ca_cert_hash == root.digest
    for token in (cluster.join_tokens.worker, cluster.join_tokens.manager):
        assert parse_join_token(token).root_digest == root.digest
    assert cluster.tls_info == root.tls_info()


def test_swarm_inspect_shows_the_trust_root_and_never_the_key() -> None:
    world = world_of(4)
    root = cluster_root(cluster_of(world))
    for host in ("manager-1", "manager-2"):  # the leader, and a follower forwarding
        reply = world.call(host, "SwarmInspect")
        assert reply.ok, reply.error
        text = json.dumps(reply.value.to_json())
        assert "RootCA" not in text and "PRIVATE KEY" not in text
        assert reply.value.tls_info.trust_root == root.cert_pem.decode()


def test_a_token_naming_another_ca_is_refused_with_the_fingerprint_error() -> None:
    world = world_of(5)
    other = create_root_ca(random.Random(99).randbytes, wall(world, "manager-1"))
    forged = join_token(other, random.Random(98).randbytes)
    world.hosts[SPARE.name].boot()
    nodes_before = len(world.leader_store().tables["nodes"])  # type: ignore[union-attr]
    reply = world.call(SPARE.name, "SwarmJoin", remote="manager-1", token=forged)
    assert not reply.ok
    assert reply.error == str(CAMismatch(other.digest))
    assert reply.error.startswith("remote CA does not match fingerprint. Expected: ")
    world.run_for(5)
    # the token (a secret) never reached the manager: no node was made for it
    assert len(world.leader_store().tables["nodes"]) == nodes_before  # type: ignore[union-attr]
    assert world.hosts[SPARE.name].identity is None


def test_a_malformed_token_is_refused_before_anything_is_sent() -> None:
    world = world_of(6)
    world.hosts[SPARE.name].boot()
    reply = world.call(SPARE.name, "SwarmJoin", remote="manager-1", token="SWMTKN-1-abc-def")
    assert not reply.ok and reply.error == "invalid join token"


def test_a_rotated_token_keeps_the_digest_refuses_new_joins_and_members_keep_theirs() -> None:
    world = world_of(7)
    old = cluster_of(world).join_tokens.worker
    before = {n: world.hosts[n].credentials for n in world.names}
    assert world.call("manager-1", "SwarmUpdate", rotate_worker_token=True).ok
    new = cluster_of(world).join_tokens.worker
    assert new != old and parse_join_token(new).root_digest == parse_join_token(old).root_digest
    world.hosts[SPARE.name].boot()
    refused = world.call(SPARE.name, "SwarmJoin", remote="manager-1", token=old)
    assert not refused.ok and "A valid join token is necessary" in refused.error
    joined = world.call(SPARE.name, "SwarmJoin", remote="manager-1", token=new)
    assert joined.ok, joined.error
    assert {n: world.hosts[n].credentials for n in world.names if n != SPARE.name} == {
        n: c for n, c in before.items() if n != SPARE.name
    }


def test_cert_expiry_is_checked_with_dockers_error_and_sets_new_certificates_life() -> None:
    world = world_of(8)
    short = world.call("manager-1", "SwarmUpdate", node_cert_expiry_ns=HOURS // 2)
    assert not short.ok and short.code == "InvalidArgument"
    assert short.error.endswith("desc = minimum certificate expiry time is: 1h0m0s")
    assert world.call("manager-1", "SwarmUpdate", node_cert_expiry_ns=2 * HOURS).ok
    assert cluster_of(world).spec.ca_config.node_cert_expiry_ns == 2 * HOURS
    world.join(SPARE.name, "manager-1")
    credentials = world.hosts[SPARE.name].credentials
    assert credentials is not None
    cert = credentials.certificate
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert life.total_seconds() == 3 * 3600  # 2 h, and the hour it is backdated by


def test_a_restarted_node_boots_with_the_credentials_it_had() -> None:
    world = world_of(9)
    host = world.hosts["worker-1"]
    credentials = host.credentials
    world.restart(host)
    assert host.node is not None and host.node.identity is not None
    assert host.node.identity.credentials == credentials
    assert host.credentials == credentials


def certificates(seed: int) -> list[bytes]:
    world = world_of(seed)
    root = cluster_root(cluster_of(world))
    issued = [root.cert_pem, root.key_pem or b""]
    for name in world.names:
        credentials = world.hosts[name].credentials
        if credentials is not None:
            issued += [credentials.key_pem, credentials.cert_pem]
    return issued


def test_the_same_seed_issues_the_same_certificate_bytes() -> None:
    assert certificates(11) == certificates(11)
    assert certificates(11) != certificates(12)


def leaderless_world(seed: int) -> tuple[ClusterWorld, str]:
    """Three managers of which two have crashed: manager-1 is left without a leader
    (check-quorum made it step down). The spare is up, holding a worker token."""
    world = world_of(seed)
    token = cluster_of(world).join_tokens.worker
    world.crash(world.hosts["manager-2"])
    world.crash(world.hosts["manager-3"])
    world.run_until(lambda: world.leader() is None, 30)
    assert world.leader() is None
    world.hosts[SPARE.name].boot()
    return world, token


def test_a_join_during_an_election_waits_for_the_leader_and_then_joins() -> None:
    world, token = leaderless_world(11)
    request = world.send_request(SPARE.name, "SwarmJoin", remote="manager-1", token=token)
    world.run_for(4)
    assert request not in world.replies  # waiting, not refused
    world.restart(world.hosts["manager-2"])  # a quorum again: an election
    world.run_until(lambda: request in world.replies, 30)
    reply = world.replies[request]
    assert reply.ok, reply.error
    assert world.hosts[SPARE.name].identity is not None


def test_a_join_that_never_sees_a_leader_says_the_swarm_has_none() -> None:
    world, token = leaderless_world(12)
    started = world.env.now
    reply = world.call(SPARE.name, "SwarmJoin", remote="manager-1", token=token)
    assert not reply.ok
    assert reply.error.startswith("The swarm does not have a leader.")
    assert world.env.now - started == pytest.approx(REQUEST_TIMEOUT_SECONDS, abs=0.1)
    world.run_for(10)  # over: it asks nothing more and holds no half-made identity
    assert world.hosts[SPARE.name].identity is None
    assert world.hosts[SPARE.name].node.pending_join is None  # type: ignore[union-attr]
