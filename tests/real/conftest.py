"""Fixtures for real-mode tests: packages, leftovers of crashed runs, test hosts.

Real-mode tests need root and Debian's docker.io, busybox-static, nftables and iproute2.
``real_packages`` installs what is missing; only when that cannot be done (not root) are
the tests skipped, with a reason that says plainly they did not run. A skip is not a pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from real.agent.images import ensure_busybox_image
from real.dockerd import Dockerd
from real.testhosts import packages, sweep
from real.testhosts.hosts import TestHosts
from real.testhosts.naming import RunId
from real.testhosts.swarm import ShoalSwarm


@pytest.fixture(scope="session")
def real_packages() -> None:
    """Install the packages real mode needs, and sweep leftovers of crashed runs."""
    try:
        packages.ensure_root()
        packages.ensure()
    except packages.Unavailable as why:
        pytest.skip(f"REAL-MODE TESTS DID NOT RUN: {why}")
    sweep.sweep()


@pytest.fixture
def run_id(real_packages: None) -> Iterator[RunId]:
    """A run id for what a test makes by hand (namespaces, dockerd roots: name them with
    ``run_id.name(...)``); removed after the test, and by the next session's sweep if
    pytest was killed first."""
    run = RunId.new()
    yield run
    sweep.remove_run(run)


@pytest.fixture
def testhosts(real_packages: None) -> Iterator[Callable[..., TestHosts]]:
    """``make(n, **options)`` builds and opens a :class:`TestHosts`; all are removed after
    the test, whether it passed, failed or was interrupted."""
    made: list[TestHosts] = []

    def make(n: int = 3, **options: Any) -> TestHosts:
        hosts = TestHosts(n, **options)
        made.append(hosts)
        hosts.open()
        return hosts

    yield make
    for hosts in reversed(made):
        hosts.close()


@contextlib.contextmanager
def _busybox_dockerd() -> Iterator[Dockerd]:
    """A private dockerd in the root namespace with the busybox image imported. Named
    after a run, so that the sweeper finds its directory and its containers' cgroup
    (``shoal-<dir name>``) if the run is killed before it cleans up."""
    run = RunId.new()
    daemon = Dockerd(sweep.default_base() / run.name("dd"))
    try:
        daemon.start()
        ensure_busybox_image(daemon.client())
        yield daemon
    finally:
        daemon.remove()
        sweep.remove_run(run)


@pytest.fixture(scope="module")
def busybox_dockerd(real_packages: None) -> Iterator[Dockerd]:
    """A private dockerd with the busybox image, for one test module."""
    with _busybox_dockerd() as daemon:
        yield daemon


@pytest.fixture(scope="module")
def second_busybox_dockerd(real_packages: None) -> Iterator[Dockerd]:
    """Another, for a second host in the same module."""
    with _busybox_dockerd() as daemon:
        yield daemon


@pytest.fixture
def swarm(testhosts: Callable[..., TestHosts]) -> Iterator[ShoalSwarm]:
    """Three test hosts with dockerd and a shoal daemon each, not yet a swarm (a test
    module may define its own ``swarm``)."""
    hosts = testhosts(3, docker=True)
    swarm = ShoalSwarm(hosts)
    swarm.start()
    yield swarm
