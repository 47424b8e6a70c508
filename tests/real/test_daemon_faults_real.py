"""The test-only faults of a real daemon on a test host (started, as every test host's
daemon, with --allow-test-faults): a stepped wall clock stamps what the node creates, a
stalled WAL holds a write until the stall ends."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest

from real.agent.images import IMAGE
from real.testhosts.hosts import TestHosts
from real.testhosts.swarm import ShoalSwarm


@pytest.fixture
def swarm(testhosts: Callable[..., TestHosts]) -> Iterator[ShoalSwarm]:
    hosts = testhosts(1, docker=True)
    swarm = ShoalSwarm(hosts)
    swarm.start()
    swarm.form(["h1"])
    yield swarm


def created_at(swarm: ShoalSwarm, name: str) -> float:
    """The service's CreatedAt (stamped by the node's wall clock), as a timestamp."""
    shown = swarm.must("h1", "service", "inspect", "--format", "{{json .CreatedAt}}", name)
    stamp = shown.strip().strip('"')
    return datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00").timestamp()


@pytest.mark.slow
def test_a_stepped_wall_clock_stamps_what_the_node_creates(swarm: ShoalSwarm) -> None:
    state = swarm.test_fault("h1", "skew", 40.0)
    assert state["offset"] == 40.0
    assert state["wall"] - time.time() == pytest.approx(40.0, abs=2.0)
    swarm.must("h1", "service", "create", "-d", "--name", "ahead", IMAGE, "sleep", "1000")
    assert created_at(swarm, "ahead") - time.time() == pytest.approx(40.0, abs=5.0)
    swarm.test_fault("h1", "skew", 0.0)
    swarm.must("h1", "service", "create", "-d", "--name", "back", IMAGE, "sleep", "1000")
    assert created_at(swarm, "back") - time.time() == pytest.approx(0.0, abs=5.0)


@pytest.mark.slow
def test_a_stalled_wal_holds_a_write_until_the_stall_ends(swarm: ShoalSwarm) -> None:
    assert swarm.test_fault("h1", "stall-disk", 1)["stalled"] is True
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            swarm.shoal("h1", "service", "create", "-d", "--name", "held", IMAGE, timeout=5)
    finally:
        swarm.test_fault("h1", "stall-disk", 0)
    swarm.until("h1", ("service", "ls"), lambda out: " held " in out)
