"""``docker swarm ca --rotate`` without ``-d`` in ``shoal sim shell``: simulated time runs
until the rotation converges, then the progress and the new root as docker/cli shows
them; with ``-q`` nothing is printed; a down node makes the wait give up, bounded,
in Docker's words."""

from __future__ import annotations

import io
import random

from cli.output.ca_progress import CERTS, ROOTS, ROTATION_CONTINUES, bar
from cli.sim_shell import Shell
from core.ca.root import RootCA
from sim.cluster import ClusterConfig, ClusterWorld, standard_hosts
from tests.cluster.test_pki_join import cluster_of


def shell_on(seed: int) -> tuple[ClusterWorld, Shell, io.StringIO]:
    world = ClusterWorld(ClusterConfig(hosts=standard_hosts(3, 2)), seed)
    world.form_swarm()
    out = io.StringIO()
    return world, Shell(world, out, random.Random(seed)), out


def cluster_root(world: ClusterWorld) -> str:
    stored = cluster_of(world).root_ca
    assert stored is not None
    return stored.ca_cert


def test_rotate_waits_and_prints_the_progress_and_the_new_root() -> None:
    world, shell, out = shell_on(41)
    old = cluster_root(world)
    shell.handle("swarm ca --rotate")
    assert not cluster_of(world).root_rotation_in_progress
    new = cluster_root(world)
    assert new != old
    digest = RootCA(new.encode()).digest
    assert out.getvalue() == (
        f"desired root digest: sha256:{digest}\n"
        f"{CERTS}:  {bar(5, 5, 'nodes')}\n"
        f"{ROOTS}:   {bar(5, 5, 'nodes')}\n"
        f"{new.strip()}\n"
    )


def test_rotate_quiet_waits_and_prints_nothing() -> None:
    world, shell, out = shell_on(42)
    old = cluster_root(world)
    shell.handle("swarm ca --rotate -q")
    assert out.getvalue() == ""
    assert not cluster_of(world).root_rotation_in_progress and cluster_root(world) != old


def test_a_down_node_makes_the_wait_give_up_in_dockers_words() -> None:
    world, shell, out = shell_on(43)
    world.crash(world.hosts["worker-2"])
    shell.handle("swarm ca --rotate")
    lines = out.getvalue().splitlines()
    assert "\n".join(lines[3:5]) == ROTATION_CONTINUES
    assert lines[1].startswith(f"{CERTS}:  [") and lines[1].endswith("/5 nodes")
    # the old root, still the cluster's
    assert out.getvalue().endswith(f"{ROTATION_CONTINUES}\n{cluster_root(world).strip()}\n")
    assert cluster_of(world).root_rotation_in_progress
