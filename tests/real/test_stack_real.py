"""A stack on a real three-host shoal swarm: the stock ``docker`` CLI deploys a
compose file through shoal's Engine API (an overlay network, a secret, a config,
two services), a task reads its secret and config at Docker's paths, a redeploy
changes nothing, and ``shoal stack`` lists and removes it through the control
socket."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from real.agent.images import IMAGE
from real.testhosts.hosts import TestHosts
from real.testhosts.swarm import ShoalSwarm
from tests.engine.docker_py_story import until

Make = Callable[..., TestHosts]
STACK = f"""
version: "3.8"
services:
  reader:
    image: {IMAGE}
    command: ["sh", "-c", "echo read $$(cat /run/secrets/db_pw) $$(cat /etc/app.conf); sleep 3600"]
    stop_grace_period: 1s
    networks: [back]
    secrets: [db_pw]
    configs:
      - source: app_conf
        target: /etc/app.conf
  web:
    image: {IMAGE}
    command: sleep 3600
    stop_grace_period: 1s
    networks: [back]
    deploy:
      replicas: 2
networks:
  back:
    driver: overlay
secrets:
  db_pw:
    file: ./db_pw.txt
configs:
  app_conf:
    file: ./app.conf
"""


@pytest.fixture
def swarm(testhosts: Make) -> Iterator[ShoalSwarm]:
    swarm = ShoalSwarm(testhosts(3, docker=True))
    swarm.start()
    swarm.form(["h1"], ["h2", "h3"])
    yield swarm


def ok(done: object) -> str:
    assert getattr(done, "returncode", 1) == 0, f"{done}"
    return str(getattr(done, "stdout", ""))


@pytest.mark.slow
def test_a_stack_deployed_by_the_docker_cli_runs_and_reads_its_secret(swarm: ShoalSwarm) -> None:
    folder = swarm.host("h1").dir / "stack"
    folder.mkdir()
    (folder / "stack.yml").write_text(STACK)
    (folder / "db_pw.txt").write_text("pw-marker")
    (folder / "app.conf").write_text("x=1")
    compose = str(folder / "stack.yml")

    deployed = swarm.docker("h1", "stack", "deploy", "-c", compose, "app")
    assert sorted(ok(deployed).splitlines()) == [
        "Creating config app_app_conf",
        "Creating network app_back",
        "Creating secret app_db_pw",
        "Creating service app_reader",
        "Creating service app_web",
    ]

    def read() -> str:
        out = swarm.docker("h1", "service", "logs", "app_reader").stdout
        return out if " read " in out else ""

    assert "read pw-marker x=1" in until(read, "the reader's output")

    def services() -> str:
        out = swarm.docker("h1", "stack", "services", "--format", "{{.Name}} {{.Replicas}}", "app")
        return out.stdout if out.stdout.split() == ["app_reader", "1/1", "app_web", "2/2"] else ""

    until(services, "both services running")
    assert ok(swarm.docker("h1", "stack", "ls")).split() == ["NAME", "SERVICES", "app", "2"]
    tasks = ok(swarm.docker("h1", "stack", "ps", "-q", "app")).split()

    again = swarm.shoal("h1", "stack", "deploy", "-c", compose, "app")
    assert [line.split(" (id:")[0] for line in ok(again).splitlines()] == [
        "Updating service app_reader",
        "Updating service app_web",
    ]
    # the same spec as the docker CLI made it: no rollout (and none for its own redeploy)
    assert ok(swarm.docker("h1", "stack", "ps", "-q", "app")).split() == tasks
    assert ok(swarm.docker("h1", "stack", "deploy", "-c", compose, "app")).count("Updating") == 2
    assert ok(swarm.docker("h1", "stack", "ps", "-q", "app")).split() == tasks

    removed = swarm.shoal("h1", "stack", "rm", "app")
    assert ok(removed).splitlines() == [
        "Removing service app_reader",
        "Removing service app_web",
        "Removing secret app_db_pw",
        "Removing config app_app_conf",
        "Removing network app_back",
    ]
    assert ok(swarm.docker("h1", "stack", "ls")).split() == ["NAME", "SERVICES"]
    gone = swarm.docker("h1", "stack", "rm", "app")
    assert gone.returncode == 0 and gone.stderr.strip() == "Nothing found in stack: app"
