"""The test-only faults of a real daemon on a test host (started, as every test host's
daemon, with --allow-test-faults): a stepped wall clock stamps what the node creates, a
stalled WAL holds a write until the stall ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from random import Random

import pytest

from cli.commands.language import parse
from cli.commands.run import Outcome, execute
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


def stamped_by_create(swarm: ShoalSwarm, name: str) -> tuple[float, float, float]:
    """(this machine's clock before the create, the service's CreatedAt, the clock after):
    the stamp is bracketed however long a loaded machine takes to run the commands."""
    before = time.time()
    swarm.must("h1", "service", "create", "-d", "--name", name, IMAGE, "sleep", "1000")
    after = time.time()
    return before, created_at(swarm, name), after


@pytest.mark.slow
def test_a_stepped_wall_clock_stamps_what_the_node_creates(swarm: ShoalSwarm) -> None:
    before = time.time()
    state = swarm.test_fault("h1", "skew", 40.0)
    assert state["offset"] == 40.0
    assert before + 40.0 <= state["wall"] <= time.time() + 40.0
    before, stamp, after = stamped_by_create(swarm, "ahead")
    assert before + 40.0 - 1.0 <= stamp <= after + 40.0 + 1.0  # a second for the stamp's rounding
    swarm.test_fault("h1", "skew", 0.0)
    before, stamp, after = stamped_by_create(swarm, "back")
    assert before - 1.0 <= stamp <= after + 1.0


@pytest.mark.slow
def test_a_stalled_wal_holds_a_write_until_the_stall_ends(swarm: ShoalSwarm) -> None:
    """The create goes through the control API from this process (a CLI's start-up on a
    loaded machine could outlast the stall before its request is even sent)."""
    client = swarm.control("h1")
    outcome: list[Outcome] = []

    def create() -> None:
        (command,) = parse(["service", "create", "-d", "--name", "held", IMAGE], Random(1))
        outcome.append(execute(command, client.call, ""))

    writer = threading.Thread(target=create, daemon=True)
    try:
        assert swarm.test_fault("h1", "stall-disk", 1)["stalled"] is True
        try:
            writer.start()
            writer.join(3.0)
            assert not outcome  # held: its entry cannot be synced
        finally:
            swarm.test_fault("h1", "stall-disk", 0)
        writer.join(60.0)
        assert outcome and outcome[0].ok, outcome
    finally:
        client.close()
    swarm.until("h1", ("service", "ls"), lambda out: " held " in out)
