"""PKI-07/PKI-08 and CL-14 in the swarm: ``docker swarm ca --rotate`` moves every node to
a new root through a cross-signed intermediate while services keep running; once every
node's certificate is from the new root, the old root is trusted by nobody, the
intermediate is gone and the join tokens name the new root's digest (ERR-16). A leader
change in the middle does not stop it: the state is in the store."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest

from core.ca.chain import chain_issuer, issued_by, split_pems
from core.ca.errors import CAError
from core.ca.root import RootCA
from core.ca.tokens import parse_join_token
from core.tasks.states import TaskState
from sim.cluster import ClusterConfig, ClusterWorld, standard_hosts
from tests.cluster.support import replicated, running
from tests.cluster.test_pki_join import cluster_of

ROTATION_SECONDS_MAX = 120.0


def swarm_with_service(seed: int) -> tuple[ClusterWorld, str]:
    world = ClusterWorld(ClusterConfig(hosts=standard_hosts(3, 2)), seed)
    world.form_swarm()
    service_id = world.call("manager-1", "ServiceCreate", spec=replicated("web", 6)).value
    assert world.run_until(lambda: len(running(world, service_id)) == 6, 60)
    return world, service_id


def rotation_done(world: ClusterWorld, old_digest: str) -> bool:
    store = world.leader_store()
    if store is None:
        return False
    cluster = cluster_of(world)
    root = cluster.root_ca
    return (
        root is not None
        and root.ca_cert_hash != old_digest
        and not (cluster.root_rotation_in_progress or root.root_rotation)
    )


def nodes_settled(world: ClusterWorld, new_root: RootCA) -> bool:
    """Every host trusts the new root alone and presents a certificate it signed,
    with no intermediate."""
    for name in world.names:
        credentials = world.hosts[name].credentials
        if credentials is None or credentials.root_pem != new_root.cert_pem:
            return False
        if len(split_pems(credentials.cert_pem)) != 1:
            return False
    return True


@functools.cache
def accepts(chain_pem: bytes, roots_pem: bytes) -> bool:
    try:
        chain_issuer(chain_pem, roots_pem)
    except CAError:
        return False
    return True


def assert_mutual_trust(world: ClusterWorld) -> None:
    """Every two running nodes would complete a mutual TLS handshake: each one's roots
    vouch for the other's certificate chain (the simulator's network does not check)."""
    up = [h for h in world.up_hosts() if h.credentials is not None]
    for one in up:
        for other in up:
            assert one.credentials is not None and other.credentials is not None
            assert accepts(one.credentials.cert_pem, other.credentials.root_pem), (
                f"{other.name} would refuse {one.name}'s certificate"
            )


def watch(
    world: ClusterWorld, service_id: str, seconds: float, until: Callable[[], bool] | None = None
) -> set[str]:
    """Run for ``seconds`` (or until ``until`` holds), failing if a task of the service
    stops running or two nodes would refuse each other's TLS; the ids of the tasks
    that ran throughout."""
    before = {t.id for t in running(world, service_id)}
    for _ in range(int(seconds / 0.25)):
        world.run_for(0.25)
        assert_mutual_trust(world)
        if world.leader_store() is None:
            continue  # between leaders: nothing to read, the containers run on
        stopped = [
            t for t in world.tasks() if t.id in before and t.status.state is not TaskState.RUNNING
        ]
        assert not stopped, f"tasks stopped during the rotation: {stopped}"
        if until is not None and until():
            break
    else:
        assert until is None, "the rotation did not finish in time"
    return before


def assert_rotated(world: ClusterWorld, old: RootCA, old_tokens: tuple[str, str]) -> RootCA:
    cluster = cluster_of(world)
    assert cluster.root_ca is not None
    new_root = RootCA(cluster.root_ca.ca_cert.encode())
    assert new_root.digest != old.digest
    assert cluster.tls_info.trust_root == new_root.cert_pem.decode()
    assert world.run_until(lambda: nodes_settled(world, new_root), 30)
    for name in world.names:
        credentials = world.hosts[name].credentials
        assert credentials is not None
        assert issued_by(credentials.certificate, new_root.certificate), name
        with pytest.raises(CAError):  # a certificate of the old root is refused now
            chain_issuer(old_leaf(world), credentials.root_pem)
    tokens = (cluster.join_tokens.worker, cluster.join_tokens.manager)
    for token, before in zip(tokens, old_tokens, strict=True):
        assert token != before
        assert parse_join_token(token).root_digest == new_root.digest
    return new_root


OLD_LEAVES: dict[int, bytes] = {}


def old_leaf(world: ClusterWorld) -> bytes:
    return OLD_LEAVES[id(world)]


def start(world: ClusterWorld) -> tuple[RootCA, tuple[str, str]]:
    cluster = cluster_of(world)
    assert cluster.root_ca is not None
    old = RootCA(cluster.root_ca.ca_cert.encode())
    credentials = world.hosts["worker-1"].credentials
    assert credentials is not None
    OLD_LEAVES[id(world)] = credentials.cert_pem
    tokens = (cluster.join_tokens.worker, cluster.join_tokens.manager)
    reply = world.call("manager-2", "SwarmUpdate", rotate_ca=True)
    assert reply.ok, reply.error
    rotating = cluster_of(world)
    assert rotating.root_rotation_in_progress
    assert rotating.root_ca is not None and rotating.root_ca.root_rotation is not None
    assert rotating.join_tokens.worker == tokens[0]  # tokens change only at the end
    return old, tokens


@pytest.mark.parametrize("seed", (1, 2))
def test_a_root_rotation_moves_every_node_to_the_new_root_and_services_keep_running(
    seed: int,
) -> None:
    world, service_id = swarm_with_service(seed)
    old, tokens = start(world)
    done = functools.partial(rotation_done, world, old.digest)
    ran = watch(world, service_id, ROTATION_SECONDS_MAX, done)
    ran &= watch(world, service_id, 10.0)
    assert len(ran) == 6
    assert_rotated(world, old, tokens)
    assert world.all_ready()
    assert {t.id for t in running(world, service_id)} == ran


def test_during_a_rotation_nodes_trust_both_roots_and_carry_the_intermediate() -> None:
    world, _ = swarm_with_service(3)
    start(world)
    cluster = cluster_of(world)
    assert cluster.root_ca is not None and cluster.root_ca.root_rotation is not None
    new_pem = cluster.root_ca.root_rotation.ca_cert.encode()
    crossed = cluster.root_ca.root_rotation.cross_signed_ca_cert.encode()

    def renewed(name: str) -> bool:
        credentials = world.hosts[name].credentials
        return credentials is not None and split_pems(credentials.cert_pem)[1:] == [crossed]

    assert world.run_until(lambda: renewed("worker-2"), 30, 0.1)
    credentials = world.hosts["worker-2"].credentials
    assert credentials is not None
    assert split_pems(credentials.root_pem) == [cluster.root_ca.ca_cert.encode(), new_pem]
    # a peer that still trusts only the old root accepts the new certificate
    assert chain_issuer(credentials.cert_pem, cluster.root_ca.ca_cert.encode())


def test_a_rotation_survives_a_leader_change_in_the_middle() -> None:
    world, service_id = swarm_with_service(4)
    old, tokens = start(world)
    world.run_for(1.0)
    leader = world.leader()
    assert leader is not None and leader.node is not None and leader.node.manager is not None
    leader.node.manager.raft.transfer_leadership()
    assert world.run_until(lambda: world.leader() not in (None, leader), 30, 0.1)
    assert cluster_of(world).root_rotation_in_progress  # the new leader carries it on
    ran = watch(world, service_id, ROTATION_SECONDS_MAX, lambda: rotation_done(world, old.digest))
    ran &= watch(world, service_id, 10.0)
    assert_rotated(world, old, tokens)
    assert {t.id for t in running(world, service_id)} >= ran


def test_a_rotation_finishes_after_the_leader_crashes_and_comes_back() -> None:
    world, _ = swarm_with_service(5)
    old, tokens = start(world)
    leader = world.leader()
    assert leader is not None
    world.crash(leader)
    assert world.run_until(lambda: world.leader() is not None, 60)
    world.run_for(20.0)
    world.restart(leader)
    assert world.run_until(lambda: rotation_done(world, old.digest), ROTATION_SECONDS_MAX * 2)
    assert_rotated(world, old, tokens)
