"""A shoal swarm on three test hosts, each a network namespace with its own dockerd and
its own ``shoal daemon``: managers and a worker join, a service runs real containers
spread over the hosts, scales and rolls; a restarted worker adopts its containers."""

from __future__ import annotations

from typing import Any

import docker
import pytest

from real.agent import labels
from real.agent.images import IMAGE
from real.testhosts.hosts import TestHost
from real.testhosts.swarm import ShoalSwarm, rows

IMAGE_2 = IMAGE.replace(":1", ":2")


def containers(host: TestHost, service_id: str, running: bool = True) -> list[dict[str, Any]]:
    """The containers of a service's tasks on one host, inspected."""
    assert host.dockerd is not None
    client = host.dockerd.client(timeout=30)
    try:
        api = client.api
        listed = api.containers(
            all=not running, filters={"label": f"{labels.SERVICE_ID}={service_id}"}
        )
        inspected = []
        for listed_container in listed:
            try:
                inspected.append(api.inspect_container(listed_container["Id"]))
            except docker.errors.NotFound:
                continue  # removed between the list and the inspect
        return inspected
    finally:
        client.close()


def spread(swarm: ShoalSwarm, service_id: str) -> dict[str, list[dict[str, Any]]]:
    """Running containers of the service, by host name."""
    return {host.name: containers(host, service_id) for host in swarm.hosts}


def everywhere(on: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [container for found in on.values() for container in found]


def manager_status(table: str) -> dict[str, str]:
    """``node ls``: each hostname's MANAGER STATUS ("" for a worker)."""
    header = table.splitlines()[0]
    start, end = header.index("MANAGER STATUS"), header.index("ENGINE VERSION")
    return {row.replace(" * ", "   ").split()[1]: row[start:end].strip() for row in rows(table)}


@pytest.mark.slow
def test_managers_and_a_worker_run_a_service_that_scales_and_rolls(swarm: ShoalSwarm) -> None:
    swarm.form(managers=["h1", "h2"], workers=["h3"])
    assert manager_status(swarm.must("h1", "node", "ls")) == {
        "h1": "Leader",
        "h2": "Reachable",
        "h3": "",
    }
    assert manager_status(swarm.must("h2", "node", "ls"))["h1"] == "Leader"
    assert swarm.info("h3")["manager"] is False and swarm.info("h2")["manager"] is True

    created = swarm.must(
        "h1", "service", "create", "--name", "web", "--replicas", "6",
        "--stop-grace-period", "1s", IMAGE,
    )  # fmt: skip
    assert "verify: Service converged" in created
    service_id = created.splitlines()[0]
    on = spread(swarm, service_id)
    assert {name: len(found) for name, found in on.items()} == {"h1": 2, "h2": 2, "h3": 2}
    assert all(c["State"]["Running"] and c["Config"]["Image"] == IMAGE for c in everywhere(on))
    for container in on["h3"]:  # the worker, which has no store, names them as Docker does
        task_id = container["Config"]["Labels"][labels.TASK_ID]
        assert container["Config"]["Labels"][labels.SERVICE_NAME] == "web"
        assert container["Name"].startswith("/web.") and container["Name"].endswith(task_id)
    listed = rows(swarm.must("h1", "service", "ps", "web"))
    assert len(listed) == 6 and all(" Running " in row for row in listed), listed

    assert "verify: Service converged" in swarm.must("h1", "service", "scale", "web=9")
    assert sorted(len(found) for found in spread(swarm, service_id).values()) == [3, 3, 3]
    assert "verify: Service converged" in swarm.must("h2", "service", "scale", "web=3")
    assert sum(len(found) for found in spread(swarm, service_id).values()) == 3

    rolled = swarm.must(
        "h1", "service", "update", "--update-parallelism", "3", "--image", IMAGE_2, "web"
    )
    assert "verify: Service converged" in rolled
    running = everywhere(spread(swarm, service_id))
    assert len(running) == 3 and {c["Config"]["Image"] for c in running} == {IMAGE_2}
    ps = rows(swarm.must("h1", "service", "ps", "web"))
    assert sum(IMAGE_2 in row and " Running " in row for row in ps) == 3
    assert sum(IMAGE in row and " Shutdown " in row for row in ps) == 3


@pytest.mark.slow
def test_a_restarted_worker_adopts_its_containers_and_removes_the_rest(
    swarm: ShoalSwarm,
) -> None:
    swarm.form(managers=["h1"], workers=["h2", "h3"])
    # h3 must not be marked Down while its daemon restarts (13 s at the default 5 s
    # period, which a loaded machine can take): a Down node's tasks are replaced.
    swarm.must("h1", "swarm", "update", "--dispatcher-heartbeat", "60s")
    on_h3 = ("--constraint", "node.hostname==h3", "--stop-grace-period", "1s")
    keep = swarm.must("h1", "service", "create", "--name", "keep", "--replicas", "2", *on_h3, IMAGE)
    gone = swarm.must("h1", "service", "create", "--name", "gone", "--replicas", "1", *on_h3, IMAGE)
    keep_id, gone_id = keep.splitlines()[0], gone.splitlines()[0]
    h3 = swarm.hosts["h3"]
    before = {c["Id"]: c["State"]["StartedAt"] for c in containers(h3, keep_id)}
    assert len(before) == 2 and len(containers(h3, gone_id)) == 1
    stray = _plant_stray_container(h3)

    swarm.kill("h3")  # the daemon alone: dockerd and the containers run on
    swarm.must("h1", "service", "rm", "gone")  # while h3 cannot hear of it
    swarm.start_daemon("h3")

    swarm.wait(lambda: not containers(h3, gone_id, running=False), "gone's container removed")
    after = {c["Id"]: c["State"]["StartedAt"] for c in containers(h3, keep_id)}
    assert after == before, "the kept tasks' containers run on, not restarted"
    assert _exists(h3, stray) is False, "a container of a task nobody owns is removed"
    ps = rows(swarm.must("h1", "service", "ps", "keep"))
    assert len(ps) == 2 and all(" Running " in row for row in ps), ps


def _plant_stray_container(host: TestHost) -> str:
    """A container labelled as a task this node has never owned."""
    assert host.dockerd is not None
    client = host.dockerd.client(timeout=30)
    try:
        created = client.api.create_container(
            IMAGE, labels={labels.TASK_ID: "nosuchtask0000000000000000"}, command=["sleep", "600"]
        )
        client.api.start(created["Id"])
        return str(created["Id"])
    finally:
        client.close()


def _exists(host: TestHost, container_id: str) -> bool:
    assert host.dockerd is not None
    client = host.dockerd.client(timeout=30)
    try:
        return any(c["Id"] == container_id for c in client.api.containers(all=True))
    finally:
        client.close()
