"""A second host joins a real swarm: two ``shoal daemon`` processes on loopback, each
with a private dockerd, joined with ``swarm join`` over the transport's join path; the
joined host keeps its credentials across kill -9."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from real.agent import labels
from real.agent.images import IMAGE
from real.dockerd import Dockerd
from real.driver import with_port
from tests.real.test_daemon import Daemon, _rows, _until

REFUSED = (
    "Error response from daemon: rpc error: code = InvalidArgument "
    "desc = A valid join token is necessary to join this cluster"
)


@pytest.fixture(scope="module")
def second_dockerd(second_busybox_dockerd: Dockerd) -> Dockerd:
    return second_busybox_dockerd


@pytest.fixture
def hosts(
    busybox_dockerd: Dockerd, second_dockerd: Dockerd, tmp_path: Path
) -> Iterator[tuple[Daemon, Daemon]]:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    first = Daemon(tmp_path / "one" / "data", busybox_dockerd.url)
    second = Daemon(tmp_path / "two" / "data", second_dockerd.url)
    try:
        yield first, second
    finally:
        second.kill()
        first.kill()


def _worker_token(manager: Daemon) -> str:
    token = manager.shoal("swarm", "join-token", "-q", "worker")
    assert token.returncode == 0, token.stderr + manager.log()
    return token.stdout.strip()


def _wrong_secret(token: str) -> str:
    """``token`` with its secret (the last part) changed: the right root, no entry."""
    *head, secret = token.split("-")
    return "-".join([*head, secret[1:] + ("a" if secret[0] != "a" else "b")])


def _service_containers(dockerd: Dockerd, service_id: str) -> list[dict[str, Any]]:
    """The containers of a service's tasks on one host (by id: a worker has no store
    to name the service from)."""
    api = dockerd.client().api
    listed = api.containers(filters={"label": f"{labels.SERVICE_ID}={service_id}"})
    return [api.inspect_container(c["Id"]) for c in listed]


@pytest.mark.slow
def test_a_second_host_joins_and_runs_tasks(
    hosts: tuple[Daemon, Daemon], busybox_dockerd: Dockerd, second_dockerd: Dockerd
) -> None:
    first, second = hosts
    for daemon in hosts:
        daemon.start()
    init = first.shoal("swarm", "init")
    assert init.returncode == 0, init.stderr + first.log()
    _until(first, ("node", "ls"), lambda out: "Leader" in out and "Ready" in out)
    token = _worker_token(first)

    refused = second.shoal("swarm", "join", "--token", _wrong_secret(token), first.listen)
    assert refused.returncode == 1, refused.stdout + second.log()
    assert refused.stderr.strip() == REFUSED
    assert "Traceback" not in refused.stderr

    joined = second.shoal("swarm", "join", "--token", token, first.listen)
    assert joined.returncode == 0, joined.stderr + second.log() + first.log()
    assert joined.stdout.strip() == "This node joined a swarm as a worker."

    def leader_and_ready_worker(out: str) -> bool:
        rows = _rows(out)
        workers = [row for row in rows if "Leader" not in row]
        return (
            len(rows) == 2
            and any("Leader" in row and "Ready" in row for row in rows)
            and len(workers) == 1
            and "Ready" in workers[0]
            and "Active" in workers[0]
        )

    _until(first, ("node", "ls"), leader_and_ready_worker)

    created = first.shoal("service", "create", "--name", "web", "--replicas", "4", IMAGE)
    assert created.returncode == 0, created.stderr + first.log() + second.log()
    assert "verify: Service converged" in created.stdout
    service_id = created.stdout.splitlines()[0]
    on_first = _service_containers(busybox_dockerd, service_id)
    on_second = _service_containers(second_dockerd, service_id)
    assert len(on_first) + len(on_second) == 4
    assert on_first and on_second, (len(on_first), len(on_second))
    for attrs in [*on_first, *on_second]:
        assert attrs["State"]["Running"]

    second.kill()  # kill -9: its key and certificate are in its WAL alone
    second.start()
    again = second.shoal("swarm", "join", "--token", token, first.listen)
    assert again.returncode == 1 and "This node is already part of a swarm." in again.stderr
    more = first.shoal("service", "create", "--name", "more", "--replicas", "4", IMAGE)
    assert more.returncode == 0, more.stderr + first.log() + second.log()
    assert "verify: Service converged" in more.stdout
    assert _service_containers(second_dockerd, more.stdout.splitlines()[0])


def test_a_remote_without_a_port_means_dockers() -> None:
    """The CLI drops ``:2377`` (the simulator's hosts are names); the daemon puts it
    back, and keeps any other port."""
    assert with_port("127.0.0.1") == "127.0.0.1:2377"
    assert with_port("10.0.0.1:40001") == "10.0.0.1:40001"
    assert with_port("[::1]:40001") == "[::1]:40001"
