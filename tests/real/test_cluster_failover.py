"""kill -9 of the leader daemon in the middle of a burst of service updates, on three
managers on three test hosts: no acknowledged update is lost, neither when a new leader
takes over nor when the old one comes back from its WAL and the next leader is killed."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from core.model.service import Service
from real.control import ControlClient, ControlError
from real.testhosts.hosts import TestHosts
from real.testhosts.swarm import ShoalSwarm, rows

Make = Callable[..., TestHosts]
UPDATES = 1000
KILL_AT = 300
SERVICE = "burst"
RETRY_SECONDS = 0.2
#: Attempts at one update before the test gives up (each is bounded by the node's
#: request timeout): a cluster that never answers fails the test, it does not hang it.
ATTEMPTS = 200


def label(i: int) -> str:
    return f"update-{i:04d}"


def inspect(client: ControlClient) -> Service:
    reply = client.call("ServiceInspect", {"service": SERVICE})
    assert reply.ok, reply.error
    assert isinstance(reply.value, Service)
    return reply.value


class Writer:
    """One update at a time, each a label of its own, through whichever of the live
    managers answers; an update counts as acknowledged only when its reply says ok."""

    def __init__(self, swarm: ShoalSwarm, managers: list[str]) -> None:
        self.swarm, self.managers = swarm, managers
        self.acked: list[int] = []
        self.failed_attempts = 0
        self._turn = 0
        self._client: ControlClient | None = None

    def _connect(self) -> ControlClient:
        if self._client is None:
            name = self.managers[self._turn % len(self.managers)]
            self._client = self.swarm.control(name, timeout=60)
        return self._client

    def _next_manager(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._turn += 1

    def write(self, i: int) -> None:
        for _ in range(ATTEMPTS):
            try:
                client = self._connect()
                service = inspect(client)
                labels = service.spec.labels.updated({label(i): "acked"})
                params = {
                    "service": service.id,
                    "version": service.version.index,
                    "spec": replace(service.spec, labels=labels),
                    "force": False,
                }
                reply = client.call("ServiceUpdate", params)
                if reply.ok:
                    self.acked.append(i)
                    return
            except (ControlError, AssertionError):
                pass
            self.failed_attempts += 1
            self._next_manager()
            time.sleep(RETRY_SECONDS)
        raise AssertionError(f"update {i} found no manager to take it\n{self.swarm.logs()}")

    def use(self, managers: list[str]) -> None:
        """From now on, only these managers (the others are dead)."""
        self.managers = managers
        self._next_manager()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def hostname(row: str) -> str:
    """A ``node ls`` row's HOSTNAME (the row of the node asked has a ``*`` after its ID)."""
    return row.replace(" * ", "   ").split()[1]


def leader(swarm: ShoalSwarm, via: str) -> str:
    table = swarm.must(via, "node", "ls")
    return next(hostname(row) for row in rows(table) if "Leader" in row)


def missing(swarm: ShoalSwarm, via: str, acked: list[int]) -> list[int]:
    """The acknowledged updates the swarm's store, read through ``via``, lacks."""
    client = swarm.control(via)
    try:
        labels = inspect(client).spec.labels
    finally:
        client.close()
    return [i for i in acked if labels.get(label(i)) != "acked"]


@pytest.mark.slow
def test_killing_the_leader_mid_burst_loses_no_acknowledged_update(testhosts: Make) -> None:
    hosts = testhosts(3, docker=True)
    swarm = ShoalSwarm(hosts)
    swarm.start()
    swarm.form(managers=["h1", "h2", "h3"])
    swarm.must(
        "h1", "service", "create", "-d", "--name", SERVICE, "--replicas", "0", "local/busybox:1"
    )
    assert leader(swarm, "h2") == "h1"

    writer = Writer(swarm, ["h1", "h2", "h3"])
    try:
        for i in range(UPDATES):
            if i == KILL_AT:
                swarm.kill("h1")  # kill -9 of the leader's daemon
                writer.use(["h2", "h3"])
            writer.write(i)
    finally:
        writer.close()
    assert len(writer.acked) == UPDATES, "every update was retried until acknowledged"
    assert writer.failed_attempts > 0, "the leader's death was felt by the writer"
    first_successor = leader(swarm, "h2")
    assert first_successor in ("h2", "h3")
    assert missing(swarm, "h2", writer.acked) == []

    swarm.start_daemon("h1")  # back from its WAL
    swarm.wait(lambda: _reachable(swarm, "h2", "h1"), "h1 reachable again")
    swarm.kill(first_successor)  # the next leader dies too: h1 and the third elect one
    survivor = "h3" if first_successor == "h2" else "h2"
    swarm.wait(lambda: _has_leader(swarm, survivor, first_successor), "a third leader")
    assert missing(swarm, survivor, writer.acked) == []
    assert missing(swarm, "h1", writer.acked) == []


def _reachable(swarm: ShoalSwarm, via: str, host: str) -> bool:
    table = swarm.shoal(via, "node", "ls").stdout
    return any(hostname(row) == host and "Reachable" in row for row in rows(table))


def _has_leader(swarm: ShoalSwarm, via: str, dead: str) -> bool:
    table = swarm.shoal(via, "node", "ls", timeout=60).stdout
    leaders = [hostname(row) for row in rows(table) if "Leader" in row]
    return bool(leaders) and leaders[0] != dead
