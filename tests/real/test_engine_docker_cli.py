"""The stock ``docker`` CLI (Debian's docker.io client) and docker-py drive a three-host
shoal swarm through each daemon's Engine API socket, and their outputs read as they
read against Docker's own swarm."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import docker
import pytest

from real.agent.images import IMAGE, SECOND_IMAGE
from real.testhosts.swarm import ShoalSwarm
from tests.engine import docker_py_story
from tests.engine.docker_py_story import until


def docker_ok(swarm: ShoalSwarm, host: str, *words: str) -> str:
    done = swarm.docker(host, *words)
    assert done.returncode == 0, (
        f"docker {' '.join(words)} on {host}: {done.returncode}\n{done.stdout}{done.stderr}"
        f"\n{swarm.logs()}"
    )
    return done.stdout


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

    def worker_again() -> bool:
        shown = docker_ok(swarm, "h3", "info", "-f", "{{.Swarm.ControlAvailable}}")
        return shown.strip() == "false"

    until(worker_again, "h3 no longer a manager by its own account")

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

    # a secret and a config: created from files, read by the task at Docker's paths
    secret_file = swarm.host("h1").dir / "db_pw.txt"
    secret_file.write_text("pw-marker")
    secret_id = docker_ok(swarm, "h1", "secret", "create", "db_pw", str(secret_file)).strip()
    config_file = swarm.host("h1").dir / "app.conf"
    config_file.write_text("x=1")
    docker_ok(swarm, "h1", "config", "create", "app.conf", str(config_file))
    docker_ok(
        swarm, "h1", "service", "create", "--name", "reader", "--detach",
        "--secret", "db_pw", "--config", "source=app.conf,target=/etc/app.conf,mode=0440",
        IMAGE, "sh", "-c",
        "echo read $(sha256sum < /run/secrets/db_pw | cut -c1-12) $(cat /etc/app.conf); "
        "sleep 3600",
    )  # fmt: skip
    digest = hashlib.sha256(b"pw-marker").hexdigest()[:12]

    def read() -> str:
        out = swarm.docker("h1", "service", "logs", "reader")
        return out.stdout if " read " in out.stdout else ""

    assert f"read {digest} x=1" in until(read, "the reader's output")
    refused = swarm.docker("h1", "secret", "rm", "db_pw")
    assert refused.returncode == 1 and (
        "secret 'db_pw' is in use by the following service: reader" in refused.stderr
    ), refused.stderr
    assert docker_ok(swarm, "h1", "service", "rm", "reader").strip() == "reader"
    assert docker_ok(swarm, "h1", "secret", "rm", secret_id).strip() == secret_id

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
    urls = {name: f"unix://{swarm.socket(name)}" for name in ("h1", "h2", "h3")}
    clients = {name: docker.APIClient(base_url=url, version="auto") for name, url in urls.items()}
    try:
        docker_py_story.tell(clients, swarm.address, urls, (IMAGE, SECOND_IMAGE), said="hello")
    finally:
        for client in clients.values():
            client.close()
