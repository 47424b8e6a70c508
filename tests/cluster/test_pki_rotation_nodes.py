"""A root rotation as ``docker node inspect`` and ``docker node rm`` see it: mid-rotation
a node reports only the cluster's root as its ``TrustRoot`` (SwarmKit's nodes trust the
old root alone until the end), and a node that is down holds the rotation open until
it is removed."""

from __future__ import annotations

import io
import json
import random

from cli.sim_shell import Shell
from core.ca.chain import split_pems
from core.ca.root import RootCA
from sim.cluster import ClusterConfig, ClusterWorld, standard_hosts
from tests.cluster.test_pki_join import cluster_of
from tests.cluster.test_pki_rotation import ROTATION_SECONDS_MAX, rotation_done


def docker(world: ClusterWorld, line: str) -> str:
    out = io.StringIO()
    Shell(world, out, random.Random(1)).handle(line)
    return out.getvalue()


def rotating_with_a_node_down(seed: int) -> tuple[ClusterWorld, RootCA]:
    """A swarm of 3 managers and 2 workers rotating its root while worker-2 is down."""
    world = ClusterWorld(ClusterConfig(hosts=standard_hosts(3, 2)), seed)
    world.form_swarm()
    stored = cluster_of(world).root_ca
    assert stored is not None
    world.crash(world.hosts["worker-2"])
    assert world.call("manager-1", "SwarmUpdate", rotate_ca=True).ok
    return world, RootCA(stored.ca_cert.encode())


def renewed(world: ClusterWorld, name: str) -> bool:
    credentials = world.hosts[name].credentials
    return credentials is not None and len(split_pems(credentials.cert_pem)) == 2


def test_mid_rotation_node_inspect_shows_only_the_clusters_root() -> None:
    world, old = rotating_with_a_node_down(31)
    assert world.run_until(lambda: renewed(world, "worker-1"), 30, 0.1)
    world.run_for(2.0)  # its description reaches the store
    assert cluster_of(world).root_rotation_in_progress
    (shown,) = json.loads(docker(world, "node inspect worker-1"))
    tls = shown["Description"]["TLSInfo"]
    assert tls["TrustRoot"] == old.cert_pem.decode()
    rotation = cluster_of(world).root_ca
    assert rotation is not None and rotation.root_rotation is not None
    new = RootCA(rotation.root_rotation.ca_cert.encode())
    assert tls["CertIssuerPublicKey"] == new.tls_info().cert_issuer_public_key
    # the swarm shows the old root as its trust root and the new one as the desired
    # issuer (dockerd's SwarmFromGRPC), which docker swarm ca's progress counts against
    inspected = world.call("manager-1", "SwarmInspect").value
    assert inspected.tls_info.trust_root == old.cert_pem.decode()
    assert inspected.tls_info.cert_issuer_public_key == new.tls_info().cert_issuer_public_key
    assert inspected.tls_info.cert_issuer_subject == new.tls_info().cert_issuer_subject


def test_a_down_node_holds_the_rotation_open_until_it_is_removed() -> None:
    world, old = rotating_with_a_node_down(32)
    world.run_for(ROTATION_SECONDS_MAX)
    assert all(renewed(world, name) for name in world.names if name != "worker-2")
    assert cluster_of(world).root_rotation_in_progress
    assert not rotation_done(world, old.digest)
    assert docker(world, "node rm worker-2").strip() == "worker-2"
    assert world.run_until(lambda: rotation_done(world, old.digest), ROTATION_SECONDS_MAX)
