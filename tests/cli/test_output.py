"""Listings in Docker's shape: the columns, names and ages of node ls, service ls
and service ps (seeds-features NODE-01, SVC-05, SVC-06, OUT-14, OUT-16)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from cli.output.tables import human_duration, table
from cli.output.views import Context, filtered, node_ls, service_ls, service_ps
from core.model.common import Version
from core.model.enums import NodeRole, NodeState, Reachability
from core.model.node import (
    EngineDescription,
    ManagerStatus,
    Node,
    NodeDescription,
    NodeSpec,
    NodeStatus,
)
from core.model.service import (
    ContainerSpec,
    Endpoint,
    PortConfig,
    ReplicatedService,
    Service,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
)
from core.model.task import Task, TaskStatus
from core.model.timestamp import Timestamp
from core.tasks.states import TaskState

NOW = 1_767_225_700.0


def node(node_id: str, host: str, *, leader: bool = False, manager: bool = False) -> Node:
    return Node(
        id=node_id,
        spec=NodeSpec(role=NodeRole.MANAGER if manager or leader else NodeRole.WORKER),
        description=NodeDescription(
            hostname=host, engine=EngineDescription(engine_version="27.5.1")
        ),
        status=NodeStatus(state=NodeState.READY),
        manager_status=ManagerStatus(leader=leader, reachability=Reachability.REACHABLE)
        if manager or leader
        else None,
    )


SERVICE = Service(
    id="8q4i3wqkhekdujazxhiwbhsuw",
    spec=ServiceSpec(
        name="web",
        task_template=TaskSpec(container_spec=ContainerSpec(image="nginx:2")),
        mode=ServiceMode(replicated=ReplicatedService(replicas=3)),
    ),
    endpoint=Endpoint(ports=(PortConfig(target_port=80, published_port=8080),)),
)


def task(
    task_id: str, slot: int, state: TaskState, desired: TaskState, age: float, **more: object
) -> Task:
    return Task(
        id=task_id,
        service_id=SERVICE.id,
        slot=slot,
        node_id="n1",
        spec=TaskSpec(container_spec=ContainerSpec(image=str(more.pop("image", "nginx:2")))),
        status=TaskStatus(
            timestamp=Timestamp.from_seconds(NOW - age), state=state, err=str(more.pop("err", ""))
        ),
        desired_state=desired,
        spec_version=Version(index=1),
        created_at=Timestamp.from_seconds(NOW - float(more.pop("created_ago", age))),  # type: ignore[arg-type]
    )


NODES = {"n1": node("n1", "manager-1", leader=True), "n2": node("n2", "worker-1")}


def test_tables_pad_as_tabwriter_does() -> None:
    assert table(("A", "LONGER HEADER", "Z"), [("x", "y", "z")]) == (
        "A         LONGER HEADER   Z\nx         y               z"
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.4, "Less than a second"),
        (1, "1 second"),
        (47, "47 seconds"),
        (90, "About a minute"),
        (120, "2 minutes"),
        (3600, "About an hour"),
        (3 * 3600, "3 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (90 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_ages_read_as_docker_writes_them(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_node_ls_marks_this_node_and_the_leader() -> None:
    out = node_ls(list(NODES.values()), Context(now=NOW, self_node_id="n1")).splitlines()
    assert out[0].split() == [
        "ID",
        "HOSTNAME",
        "STATUS",
        "AVAILABILITY",
        "MANAGER",
        "STATUS",
        "ENGINE",
        "VERSION",
    ]
    assert out[1].split() == ["n1", "*", "manager-1", "Ready", "Active", "Leader", "27.5.1"]
    assert out[2].split() == ["n2", "worker-1", "Ready", "Active", "27.5.1"]
    assert node_ls(list(NODES.values()), Context(now=NOW), quiet=True) == "n1\nn2"


def test_service_ls_shows_replicas_image_and_ports() -> None:
    tasks = [
        task("t1", 1, TaskState.RUNNING, TaskState.RUNNING, 5),
        task("t2", 2, TaskState.STARTING, TaskState.RUNNING, 5),
        task("t3", 3, TaskState.RUNNING, TaskState.RUNNING, 5),
    ]
    out = service_ls([SERVICE], Context(now=NOW, tasks=tasks)).splitlines()
    assert out[0].split() == ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]
    assert out[1].split() == [
        "8q4i3wqkhekd",
        "web",
        "replicated",
        "2/3",
        "nginx:2",
        "*:8080->80/tcp",
    ]
    (line,) = service_ls([SERVICE], Context(now=NOW), fmt="json").splitlines()
    assert json.loads(line) == {  # docker/cli's row, not the service
        "ID": "8q4i3wqkhekd",
        "Image": "nginx:2",
        "Mode": "replicated",
        "Name": "web",
        "Ports": "*:8080->80/tcp",
        "Replicas": "0/3",
    }


def test_service_ps_names_slots_ages_and_history() -> None:
    tasks = [
        task(
            "old1aaaaaaaaaaaaaaaaaaaaa",
            1,
            TaskState.SHUTDOWN,
            TaskState.SHUTDOWN,
            120,
            image="nginx:1",
        ),
        task("new1aaaaaaaaaaaaaaaaaaaaa", 1, TaskState.RUNNING, TaskState.RUNNING, 47),
        task(
            "bad2aaaaaaaaaaaaaaaaaaaaa",
            2,
            TaskState.FAILED,
            TaskState.SHUTDOWN,
            20,
            err="task: non-zero exit (1)",
        ),
    ]
    ctx = Context(now=NOW, nodes=NODES, services={SERVICE.id: SERVICE})
    out = service_ps(tasks, ctx).splitlines()
    header = ["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS"]
    assert [h for h in header if h in out[0]] == header
    assert out[1].split()[:4] == ["new1aaaaaaaa", "web.1", "nginx:2", "manager-1"]
    assert "Running 47 seconds ago" in out[1]
    assert out[2].split()[1:3] == ["\\_", "web.1"]
    assert "Shutdown 2 minutes ago" in out[2]
    assert '"task: non-zero exit (1)"' in out[3] and "Failed 20 seconds ago" in out[3]
    long_error = task(
        "x" * 25, 4, TaskState.REJECTED, TaskState.SHUTDOWN, 1, err="No such container: " + "w" * 40
    )
    (row,) = service_ps([long_error], ctx).splitlines()[1:]
    assert '"No such container: wwwwwwwwww…"' in row


def test_service_ps_orders_a_slot_by_creation_not_by_status_time() -> None:
    """A failed task whose status changed last still sorts under its newer
    replacement (docker/cli: newest created first), in service ps and node ps, with
    or without filters; slots sort as numbers (web.2 before web.10)."""
    failed = task(
        "fail1aaaaaaaaaaaaaaaaaaaa", 1, TaskState.FAILED, TaskState.SHUTDOWN, 2, created_ago=120
    )
    replacement = task(
        "repl1aaaaaaaaaaaaaaaaaaaa", 1, TaskState.RUNNING, TaskState.RUNNING, 25, created_ago=30
    )
    tenth = task("tenthaaaaaaaaaaaaaaaaaaaa", 10, TaskState.RUNNING, TaskState.RUNNING, 5)
    second = task("secondaaaaaaaaaaaaaaaaaaa", 2, TaskState.RUNNING, TaskState.RUNNING, 5)
    ctx = Context(now=NOW, nodes=NODES, services={SERVICE.id: SERVICE})
    for listed in ([failed, replacement, tenth, second], [second, tenth, replacement, failed]):
        rows = [line.split()[:3] for line in service_ps(listed, ctx).splitlines()[1:]]
        assert rows == [
            ["repl1aaaaaaa", "web.1", "nginx:2"],
            ["fail1aaaaaaa", "\\_", "web.1"],
            ["secondaaaaaa", "web.2", "nginx:2"],
            ["tenthaaaaaaa", "web.10", "nginx:2"],
        ]
        on_node = filtered("task", listed, [("node", "manager-1")], ctx)
        assert service_ps(on_node, ctx, quiet=True).splitlines()[:2] == [
            "repl1aaaaaaa",
            "fail1aaaaaaa",
        ]
    names = service_ps([failed, replacement], ctx, fmt="{{.Name}} {{.CurrentState}}")
    assert names.splitlines() == [  # no history mark outside a table
        "web.1 Running 25 seconds ago",
        "web.1 Failed 2 seconds ago",
    ]


def test_service_inspect_pretty_shows_the_defaults_as_docker_does() -> None:
    from cli.output.views import service_pretty
    from core.model.enums import UpdateState
    from core.model.service import UpdateStatus

    updating = UpdateStatus(
        state=UpdateState.UPDATING,
        started_at=Timestamp.from_seconds(NOW - 27),
        message="update in progress",
    )
    lines = service_pretty(replace(SERVICE, update_status=updating), NOW).splitlines()
    assert lines[:2] == [f"ID:\t\t{SERVICE.id}", "Name:\t\tweb"]
    assert "Service Mode:\tReplicated" in lines and " Replicas:\t3" in lines
    assert lines[lines.index("UpdateStatus:") + 1 :][:3] == [
        " State:\t\tupdating",
        " Started:\t27 seconds ago",
        " Message:\tupdate in progress",
    ]
    update = lines[lines.index("UpdateConfig:") + 1 :][:5]
    assert update == [
        " Parallelism:\t1",
        " On failure:\tpause",
        " Monitoring Period: 5s",
        " Max failure ratio: 0",
        " Update order:      stop-first",
    ]
    assert " Rollback order:    stop-first" in lines
    assert "Endpoint Mode:\tvip" in lines and " PublishedPort = 8080" in lines
