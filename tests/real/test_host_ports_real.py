"""Host-mode published ports on three real test hosts (NET-31..33): a task's port is
published on the node that runs it, by that node's own task, and nowhere else; a port
published without a number gets an ephemeral one, which answers and is the one the
task reports; removing the services removes the host's rules and links.

The dockerds run with no bridge: the host data plane joins each such task's sandbox to
the host and DNATs its ports (real/agent/hostports.py). Driven with the stock docker
CLI against shoal's Engine API, as a user would."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any, cast

import pytest

from core.model.enums import PublishMode
from core.model.service import ContainerSpec, Endpoint, PortConfig, TaskSpec
from core.model.task import Task, TaskStatus
from core.tasks.executor import Outcome
from core.tasks.states import TaskState
from real.agent import labels
from real.agent.executor import DockerExecutor
from real.agent.hostports import LINK_PREFIX, PORTS_LABEL, TABLE
from real.agent.images import IMAGE
from real.agent.sandbox import SANDBOX_TASK, Sandboxes
from real.dockerd import Dockerd
from real.scenario.traffic import http_get
from real.testhosts.hosts import TestHost
from real.testhosts.swarm import ShoalSwarm
from tests.real.swarm_support import WEB, api, docker, running_tasks

pytestmark = pytest.mark.slow

_ids = itertools.count(1)


def host_links(host: TestHost) -> list[str]:
    out = host.run(["ip", "-o", "link"]).stdout
    return sorted(
        name.split("@")[0]
        for name in (line.split(": ")[1] for line in out.splitlines() if ": " in line)
        if name.startswith(LINK_PREFIX)
    )


def host_tables(host: TestHost) -> str:
    return host.run(["nft", "list", "tables"]).stdout


def answers(host: TestHost, address: str, port: int, count: int = 3) -> Counter[str]:
    return Counter(http_get(host.netns_path, address, port, count))


def test_host_mode_ports_answer_on_the_nodes_that_run_the_task(swarm: ShoalSwarm) -> None:
    swarm.form(managers=["h1"], workers=["h2", "h3"])
    docker(
        swarm, "service", "create", "--detach", "--name", "web", "--mode", "global",
        "--publish", "mode=host,published=8080,target=80", "--constraint", "node.role==worker",
        "--stop-grace-period", "1s", IMAGE, *WEB,
    )  # fmt: skip
    docker(
        swarm, "service", "create", "--detach", "--name", "eph",
        "--publish", "mode=host,target=80", "--constraint", "node.role==manager",
        "--stop-grace-period", "1s", IMAGE, *WEB,
    )  # fmt: skip
    ps = lambda: swarm.docker("h1", "service", "ps", "--no-trunc", "web", "eph").stdout  # noqa: E731
    swarm.wait(lambda: len(running_tasks(swarm, "web")) == 2, lambda: f"2 web tasks:\n{ps()}")
    swarm.wait(lambda: len(running_tasks(swarm, "eph")) == 1, lambda: f"the eph task:\n{ps()}")
    web = {host: task for task, host in running_tasks(swarm, "web").items()}
    assert sorted(web) == ["h2", "h3"]
    h1, h2, h3 = (swarm.host(name) for name in ("h1", "h2", "h3"))

    # 8080 answers on h2 and h3, each from its own task, from any host and locally
    # (its address and 127.0.0.1); h1 runs no web task and refuses it
    for host in (h2, h3):
        mine = web[host.name][:12]
        for client in swarm.hosts:
            got = answers(client, host.address, 8080)
            assert got == Counter({mine: 3}), (client.name, host.name, got)
        assert answers(host, "127.0.0.1", 8080) == Counter({mine: 3}), host.name
    for client in swarm.hosts:
        assert answers(client, h1.address, 8080) == Counter({"": 3}), client.name

    # no published number: an ephemeral port, the one the task reports, answers on h1
    ((eph, eph_host),) = running_tasks(swarm, "eph").items()
    assert eph_host == "h1"
    shown = docker(swarm, "inspect", "--type", "task", "--format", "{{json .Status}}", eph)
    status = json.loads(shown)["PortStatus"]
    ((bound,),) = [status["Ports"]]
    assert bound["PublishMode"] == "host" and bound["TargetPort"] == 80, bound
    port = int(bound["PublishedPort"])
    assert port != 0
    assert f"*:{port}->80/tcp" in docker(
        swarm, "service", "ps", "--no-trunc", "--format", "{{.Ports}}", "eph"
    )
    for client in swarm.hosts:
        assert answers(client, h1.address, port) == Counter({eph[:12]: 3}), client.name
    for host in (h2, h3):
        assert answers(h1, host.address, port) == Counter({"": 3}), host.name

    # the host's rules and links, while the tasks run
    for host in swarm.hosts:
        assert f"ip {TABLE}" in host_tables(host), host.name
        assert len(host_links(host)) == 1, (host.name, host_links(host))
    assert f"dport {port} dnat to" in h1.run(["nft", "list", "table", "ip", TABLE]).stdout

    # removing the services removes every rule, link and sandbox they made
    docker(swarm, "service", "rm", "web", "eph")

    def clean() -> bool:
        return all(
            not api(host).containers(all=True, filters={"label": SANDBOX_TASK})
            and not api(host).containers(all=True, filters={"label": labels.TASK_ID})
            and f"ip {TABLE}" not in host_tables(host)
            and not host_links(host)
            for host in swarm.hosts
        )

    left = lambda: [(h.name, host_tables(h), host_links(h)) for h in swarm.hosts]  # noqa: E731
    swarm.wait(clean, lambda: f"every rule, link and sandbox to go: {left()}")


class Recorder:
    """Stands in for the host data plane: what the sandboxes asked it to publish."""

    def __init__(self) -> None:
        self.attached: dict[str, tuple[PortConfig, ...]] = {}
        self.detached: list[str] = []

    def attach(self, task: Task, netns_path: str, ports: Sequence[PortConfig] = ()) -> None:
        self.attached[task.id] = tuple(ports)

    def detach(self, task_id: str) -> None:
        self.detached.append(task_id)
        self.attached.pop(task_id, None)

    def has_joined(self, task_id: str) -> bool:
        return task_id in self.attached


def published_task(port: int) -> Task:
    n = next(_ids)
    ports = (PortConfig(target_port=80, published_port=port, publish_mode=PublishMode.HOST),)
    return Task(
        id=f"hostport{n:017d}",
        service_id="svc0000000000000000000001",
        slot=n,
        node_id="node000000000000000000001",
        spec=TaskSpec(container_spec=ContainerSpec(image=IMAGE, args=("sleep", "1000"))),
        endpoint=Endpoint(ports=ports),
        status=TaskStatus(state=TaskState.ASSIGNED, message="assigned"),
    )


def test_the_executor_publishes_the_ports_it_bound_and_refuses_a_taken_one(
    busybox_dockerd: Dockerd,
) -> None:
    """One dockerd, no test host: the sandboxes' data plane is a recorder."""
    client = busybox_dockerd.client()
    plane = Recorder()
    sandboxes = Sandboxes(client, cast(Any, plane))
    executor = DockerExecutor(
        client, service_name=lambda task: "web", rng=random.Random(7), sandboxes=sandboxes
    )
    executor.open()
    try:
        unnumbered, first, second = published_task(0), published_task(8080), published_task(8080)
        for task in (unnumbered, first, second):
            assert executor.prepare(task).outcome is Outcome.OK
            assert executor.prepare(task).outcome is Outcome.ALREADY
        # the data plane got the ports the executor bound, and START reports the same
        started = executor.start(unnumbered)
        assert started.outcome is Outcome.OK
        ((port,),) = [started.ports or ()]
        assert port.target_port == 80 and port.published_port != 0
        assert plane.attached[unnumbered.id] == (port,)
        assert executor.inspect(unnumbered).ports == (port,)
        (summary,) = client.api.containers(filters={"label": f"{labels.TASK_ID}={unnumbered.id}"})
        attrs = client.api.inspect_container(summary["Id"])
        assert attrs["HostConfig"]["NetworkMode"].startswith("container:")
        assert attrs["Config"]["Labels"][PORTS_LABEL] == f"{port.published_port}:80/tcp"

        assert [p.published_port for p in plane.attached[first.id]] == [8080]
        assert executor.start(first).outcome is Outcome.OK
        refused = executor.start(second)
        assert refused.outcome is Outcome.FATAL
        assert "Bind for 0.0.0.0:8080 failed: port is already allocated" in (refused.error or "")

        for task in (unnumbered, first, second):
            assert executor.remove(task).outcome is Outcome.OK
        assert sorted(plane.detached) == sorted(t.id for t in (unnumbered, first, second))
        assert client.api.containers(all=True, filters={"label": SANDBOX_TASK}) == []
    finally:
        executor.close()
        for label in (labels.TASK_ID, SANDBOX_TASK):
            for c in client.api.containers(all=True, filters={"label": label}):
                client.api.remove_container(c["Id"], force=True)
        client.close()
