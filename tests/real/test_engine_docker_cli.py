"""The stock ``docker`` CLI (Debian's docker.io client) and docker-py drive a three-host
shoal swarm through each daemon's Engine API socket, and their outputs read as they
read against Docker's own swarm."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest

from real.agent.images import IMAGE, SECOND_IMAGE
from real.testhosts.hosts import TestHosts
from real.testhosts.swarm import PATIENCE, ShoalSwarm

Make = Callable[..., TestHosts]


@pytest.fixture
def swarm(testhosts: Make) -> Iterator[ShoalSwarm]:
    hosts = testhosts(3, docker=True)
    swarm = ShoalSwarm(hosts)
    swarm.start()
    yield swarm


def docker_ok(swarm: ShoalSwarm, host: str, *words: str) -> str:
    done = swarm.docker(host, *words)
    assert done.returncode == 0, (
        f"docker {' '.join(words)} on {host}: {done.returncode}\n{done.stdout}{done.stderr}"
        f"\n{swarm.logs()}"
    )
    return done.stdout


def until(check: Callable[[], Any], what: str) -> Any:
    """Poll until ``check()`` is truthy; its value."""
    deadline = time.monotonic() + PATIENCE
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.3)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.slow
def test_the_docker_cli_forms_and_drives_a_swarm(swarm: ShoalSwarm) -> None:
    h1 = swarm.host("h1")
    init = docker_ok(swarm, "h1", "swarm", "init", "--advertise-addr", h1.address)
    assert init.startswith("Swarm initialized: current node (")
    assert "docker swarm join --token SWMTKN-1-" in init and f"{h1.address}:2377" in init
    manager_token = docker_ok(swarm, "h1", "swarm", "join-token", "-q", "manager").strip()
    worker_token = docker_ok(swarm, "h1", "swarm", "join-token", "-q", "worker").strip()
    assert manager_token.startswith("SWMTKN-1-") and manager_token != worker_token
    joined = docker_ok(swarm, "h2", "swarm", "join", "--token", manager_token, swarm.address("h1"))
    assert joined.strip() == "This node joined a swarm as a manager."
    joined = docker_ok(swarm, "h3", "swarm", "join", "--token", worker_token, swarm.address("h1"))
    assert joined.strip() == "This node joined a swarm as a worker."

    fmt = "{{.Hostname}} {{.Status}} {{.Availability}} {{.ManagerStatus}} {{.Self}}"

    def ready() -> list[str]:
        table = lines(docker_ok(swarm, "h1", "node", "ls", "--format", fmt))
        return table if len(table) == 3 and all(" Ready " in row for row in table) else []

    table = sorted(until(ready, "3 Ready nodes in docker node ls"))
    assert table == [
        "h1 Ready Active Leader true",
        "h2 Ready Active Reachable false",
        "h3 Ready Active  false",
    ]
    refused = swarm.docker("h3", "node", "ls")
    assert refused.returncode == 1 and "This node is not a swarm manager" in refused.stderr

    # node inspect / update / promote / demote
    inspected = json.loads(docker_ok(swarm, "h2", "node", "inspect", "h3"))
    assert inspected[0]["Spec"]["Role"] == "worker"
    assert inspected[0]["Description"]["Hostname"] == "h3"
    docker_ok(swarm, "h1", "node", "update", "--label-add", "zone=east", "h3")
    labels = docker_ok(swarm, "h1", "node", "inspect", "-f", "{{json .Spec.Labels}}", "h3")
    assert json.loads(labels) == {"zone": "east"}
    promoted = docker_ok(swarm, "h1", "node", "promote", "h3")
    assert promoted.strip() == "Node h3 promoted to a manager in the swarm."
    assert docker_ok(swarm, "h1", "node", "inspect", "-f", "{{.Spec.Role}}", "h3").strip() == (
        "manager"
    )
    demoted = docker_ok(swarm, "h1", "node", "demote", "h3")
    assert demoted.strip() == "Manager h3 demoted in the swarm."

    # services: create (waits for convergence), ps, scale, update, rollback, logs, rm
    created = docker_ok(
        swarm, "h1", "service", "create", "--name", "web", "--replicas", "3",
        "--stop-grace-period", "1s", IMAGE,
    )  # fmt: skip
    service_id = lines(created)[0]
    assert len(service_id) == 25
    shown = json.loads(docker_ok(swarm, "h2", "service", "inspect", "web"))[0]
    assert shown["ID"] == service_id and shown["Spec"]["Mode"]["Replicated"]["Replicas"] == 3

    def running(count: int) -> Callable[[], list[str]]:
        def check() -> list[str]:
            shown = "{{.Name}} {{.Image}} {{.Node}} {{.CurrentState}}"
            words = ("service", "ps", "web", "--filter", "desired-state=running")
            rows = lines(docker_ok(swarm, "h1", *words, "--format", shown))
            ok = len(rows) == count and all(" Running " in r for r in rows)
            return rows if ok else []

        return check

    rows = until(running(3), "3 running tasks")
    assert sorted(r.split()[0] for r in rows) == ["web.1", "web.2", "web.3"]
    listed = docker_ok(swarm, "h1", "service", "ls", "--format", "{{.Name}} {{.Replicas}}")
    assert listed.strip() == "web 3/3"

    scaled = docker_ok(swarm, "h1", "service", "scale", "web=5")
    assert lines(scaled)[0] == "web scaled to 5"
    until(running(5), "5 running tasks")

    docker_ok(swarm, "h1", "service", "update", "--image", SECOND_IMAGE, "web")
    rows = until(running(5), "5 running tasks after the update")
    assert all(SECOND_IMAGE in row for row in rows)
    rolled = docker_ok(swarm, "h1", "service", "rollback", "web")
    assert lines(rolled)[0] == "web"
    rows = until(running(5), "5 running tasks after the rollback")
    assert all(f" {IMAGE} " in f" {row} " for row in rows)

    docker_ok(
        swarm, "h1", "service", "create", "--name", "talk", "--detach",
        IMAGE, "sh", "-c", "echo hello from $(hostname); sleep 3600",
    )  # fmt: skip

    def said() -> str:
        out = swarm.docker("h1", "service", "logs", "talk")
        return out.stdout if "hello from" in out.stdout else ""

    logged = until(said, "the talk service's output in docker service logs")
    prefix, _, line = logged.splitlines()[0].partition("|")
    assert prefix.startswith("talk.1.") and "@h" in prefix
    assert line.strip().startswith("hello from")

    assert docker_ok(swarm, "h1", "service", "rm", "web", "talk").split() == ["web", "talk"]
    assert docker_ok(swarm, "h1", "service", "ls", "-q").strip() == ""

    # leave and remove
    left = docker_ok(swarm, "h3", "swarm", "leave")
    assert left.strip() == "Node left the swarm."

    def down() -> bool:
        status = docker_ok(swarm, "h1", "node", "inspect", "-f", "{{.Status.State}}", "h3")
        return status.strip() == "down"

    until(down, "h3 down after it left")
    docker_ok(swarm, "h1", "node", "rm", "h3")
    hostnames = docker_ok(swarm, "h1", "node", "ls", "--format", "{{.Hostname}}").split()
    assert sorted(hostnames) == ["h1", "h2"]


@pytest.mark.slow
def test_docker_py_drives_a_swarm(swarm: ShoalSwarm) -> None:
    clients = {
        name: docker.APIClient(base_url=f"unix://{swarm.socket(name)}", version="auto")
        for name in ("h1", "h2", "h3")
    }
    try:
        h1, h2, h3 = clients["h1"], clients["h2"], clients["h3"]
        assert h1.api_version == "1.41"
        node_id = h1.init_swarm(advertise_addr=swarm.host("h1").address)
        tokens = h1.inspect_swarm()["JoinTokens"]
        assert h2.join_swarm([swarm.address("h1")], tokens["Manager"])
        assert h3.join_swarm([swarm.address("h1")], tokens["Worker"])
        info = h3.info()["Swarm"]
        assert info["LocalNodeState"] == "active" and info["ControlAvailable"] is False
        assert h2.info()["Swarm"]["ControlAvailable"] is True

        def three_ready() -> bool:
            nodes = h1.nodes()
            return len(nodes) == 3 and all(n["Status"]["State"] == "ready" for n in nodes)

        until(three_ready, "3 ready nodes")
        managers = h1.nodes(filters={"role": "manager"})
        assert {n["Description"]["Hostname"] for n in managers} == {"h1", "h2"}
        me = h1.inspect_node(node_id)
        assert me["ManagerStatus"]["Leader"] is True
        worker = h1.inspect_node("h3")
        spec = {**worker["Spec"], "Labels": {"disk": "ssd"}}
        assert h1.update_node("h3", worker["Version"]["Index"], spec)
        with pytest.raises(docker.errors.APIError) as stale:
            h1.update_node("h3", worker["Version"]["Index"], spec)
        assert stale.value.status_code == 500 and "update out of sequence" in str(stale.value)

        task = docker.types.TaskTemplate(
            container_spec=docker.types.ContainerSpec(image=IMAGE), restart_policy=None
        )
        created = h2.create_service(
            task, name="web", mode=docker.types.ServiceMode("replicated", replicas=4)
        )
        service_id = created["ID"]

        def running(count: int, image: str) -> bool:
            tasks = h1.tasks(filters={"service": "web", "desired-state": "running"})
            return len(tasks) == count and all(
                t["Status"]["State"] == "running" and t["Spec"]["ContainerSpec"]["Image"] == image
                for t in tasks
            )

        until(lambda: running(4, IMAGE), "4 running tasks")
        service = h1.inspect_service("web")
        task2 = docker.types.TaskTemplate(
            container_spec=docker.types.ContainerSpec(image=SECOND_IMAGE)
        )
        h1.update_service(
            service_id, service["Version"]["Index"], task_template=task2, name="web",
            mode=docker.types.ServiceMode("replicated", replicas=4),
        )  # fmt: skip
        until(lambda: running(4, SECOND_IMAGE), "4 tasks of the new image")
        service = h1.inspect_service(service_id)
        assert service["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Image"] == IMAGE
        model = docker.DockerClient(base_url=f"unix://{swarm.socket('h1')}", version="auto")
        try:
            assert model.services.get("web").scale(2)  # docker-py has no rollback call
        finally:
            model.close()
        until(lambda: running(2, SECOND_IMAGE), "2 tasks after scaling down")
        assert h1.services(filters={"name": "we"})[0]["ID"] == service_id
        assert h1.remove_service(service_id)
        assert h1.services() == []
        assert h3.leave_swarm()
        assert h3.info()["Swarm"]["LocalNodeState"] == "inactive"
    finally:
        for client in clients.values():
            client.close()
