"""``docker swarm ca --rotate --ca-cert --ca-key`` in the swarm with roots SwarmKit would
refuse (not a CA, not yet valid), which leave the cluster as it was, and with a root
that has no SubjectKeyIdentifier, which Go accepts: the rotation runs to its end and
the leader (and the one after it) keeps signing."""

from __future__ import annotations

import datetime as dt

import pytest

from core.ca.chain import issued_by
from core.ca.root import RootCA
from sim.cluster import ClusterConfig, ClusterWorld, standard_hosts
from tests.ca.support import given_root
from tests.cluster.test_pki_join import cluster_of
from tests.cluster.test_pki_rotation import ROTATION_SECONDS_MAX, rotation_done

DAY = dt.timedelta(days=1)


def formed(seed: int) -> tuple[ClusterWorld, float]:
    world = ClusterWorld(ClusterConfig(hosts=standard_hosts(3, 1)), seed)
    world.form_swarm()
    return world, world.hosts["manager-1"].clock.wall(world.env.now)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"ca": False}, "the certificate is not a CA"),
        ({"starts_in": DAY}, "certificate has expired or is not yet valid"),
    ],
    ids=["not-a-ca", "not-yet-valid"],
)
def test_an_unusable_given_root_is_refused_and_nothing_changes(
    options: dict[str, object], error: str
) -> None:
    world, wall = formed(21)
    before = cluster_of(world)
    cert, key = given_root(wall, **options)  # type: ignore[arg-type]
    reply = world.call("manager-1", "SwarmUpdate", ca_cert=cert, ca_key=key)
    assert not reply.ok and error in str(reply.error)
    world.run_for(5.0)
    after = cluster_of(world)
    assert after.root_ca == before.root_ca and after.spec == before.spec
    assert not after.root_rotation_in_progress


def test_a_given_root_without_a_subject_key_identifier_rotates_to_the_end() -> None:
    world, wall = formed(22)
    old = cluster_of(world).root_ca
    assert old is not None
    cert, key = given_root(wall, ski=False, starts_in=-DAY)
    reply = world.call("manager-1", "SwarmUpdate", ca_cert=cert, ca_key=key)
    assert reply.ok, reply.error
    leader = world.leader()
    assert leader is not None
    world.run_for(2.0)
    world.crash(leader)  # the next leader signs with the same root
    assert world.run_until(lambda: world.leader() is not None, 60)
    world.run_for(10.0)
    world.restart(leader)
    assert world.run_until(lambda: rotation_done(world, old.ca_cert_hash), ROTATION_SECONDS_MAX)
    world.run_for(10.0)
    new_root = RootCA(cert.encode())
    for name in world.names:
        credentials = world.hosts[name].credentials
        assert credentials is not None and issued_by(credentials.certificate, new_root.certificate)
