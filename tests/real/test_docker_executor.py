"""The docker executor against a private dockerd (real containers, no registry)."""

from __future__ import annotations

import itertools
import queue
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.model.common import Limit, ResourceRequirements
from core.model.duration import MILLISECOND, SECOND
from core.model.enums import PublishMode
from core.model.service import ContainerSpec, Endpoint, HealthConfig, PortConfig, TaskSpec
from core.model.task import Task, TaskStatus
from core.model.wire import Labels, replace
from core.tasks.controller import TaskController
from core.tasks.executor import (
    UNHEALTHY_ERROR,
    ExecutorCommand,
    ExecutorResult,
    Operation,
    OperationToken,
    Outcome,
)
from core.tasks.states import TaskState
from real.agent import labels
from real.agent.executor import DockerExecutor
from real.agent.images import IMAGE, SECOND_IMAGE, ensure_busybox_image
from real.dockerd import Dockerd
from real.testhosts import packages

_ids = itertools.count(1)


@pytest.fixture(scope="module")
def daemon() -> Iterator[Dockerd]:
    try:
        packages.ensure()
    except packages.Unavailable as why:
        pytest.skip(f"REAL-MODE TESTS SKIPPED: {why}")
    d = Dockerd(Path(tempfile.mkdtemp(prefix="shoal-dx-", dir="/tmp")))
    try:
        d.start()
        ensure_busybox_image(d.client())
        yield d
    finally:
        d.remove()


@pytest.fixture
def results() -> queue.Queue[ExecutorResult]:
    return queue.Queue()


@pytest.fixture
def executor(daemon: Dockerd, results: queue.Queue[ExecutorResult]) -> Iterator[DockerExecutor]:
    client = daemon.client()
    ex = DockerExecutor(
        client,
        results.put,
        service_name=lambda task: "web",
        rng=random.Random(7),
    )
    ex.open()
    try:
        yield ex
    finally:
        ex.close()
        for c in client.api.containers(all=True, filters={"label": labels.TASK_ID}):
            client.api.remove_container(c["Id"], force=True)
        client.close()


def make_task(**container: Any) -> Task:
    n = next(_ids)
    endpoint = container.pop("endpoint", None)
    resources = container.pop("resources", None)
    spec = ContainerSpec(**{"image": IMAGE, "init": True, **container})
    return Task(
        id=f"task{n:021d}",
        service_id="svc0000000000000000000001",
        slot=n,
        node_id="node000000000000000000001",
        spec=TaskSpec(container_spec=spec, resources=resources),
        endpoint=endpoint,
        status=TaskStatus(state=TaskState.ASSIGNED, message="assigned"),
    )


def attrs_of(daemon: Dockerd, task: Task) -> dict[str, Any]:
    api = daemon.client().api
    (summary,) = api.containers(all=True, filters={"label": f"{labels.TASK_ID}={task.id}"})
    found: dict[str, Any] = api.inspect_container(summary["Id"])
    return found


def test_controller_drives_a_task_through_its_life(
    executor: DockerExecutor, results: queue.Queue[ExecutorResult], daemon: Dockerd
) -> None:
    task = make_task()
    controller = TaskController(task, epoch=3)
    out = controller.start(0.0, 0.0)
    states: list[TaskState] = []
    for _ in range(10):
        for command in out.commands:
            executor.submit(command)
        states.extend(r.state for r in out.reports)
        if controller.task.status.state is TaskState.RUNNING:
            break
        result = results.get(timeout=30)
        assert result.token == out.commands[-1].token  # results echo the token
        out = controller.on_result(result, 0.0, 0.0)
    states.extend(r.state for r in out.reports)
    assert states[-1] is TaskState.RUNNING
    assert TaskState.READY in states and TaskState.STARTING in states
    status = controller.task.status.container_status
    assert status is not None and status.pid > 0
    assert attrs_of(daemon, task)["State"]["Running"]
    assert attrs_of(daemon, task)["Name"] == f"/web.{task.slot}.{task.id}"
    # WAIT is out; the manager wants it shut down: shutdown, then remove on close.
    for command in out.commands:
        executor.submit(command)
    out = controller.update(replace(task, desired_state=TaskState.SHUTDOWN), 0.0, 0.0)
    out2 = controller.close(0.0, 0.0)
    pending = [*out.commands, *out2.commands]
    for command in pending:
        executor.submit(command)
    for _ in range(10):
        if controller.phase.value == "done":
            break
        result = results.get(timeout=30)
        out = controller.on_result(result, 0.0, 0.0)  # the stale WAIT result is dropped
        for command in out.commands:
            executor.submit(command)
    assert controller.phase.value == "done"
    assert controller.task.status.state is TaskState.SHUTDOWN
    api = daemon.client().api
    assert api.containers(all=True, filters={"label": f"{labels.TASK_ID}={task.id}"}) == []


@pytest.mark.parametrize(
    ("args", "code"), [(("true",), 0), (("sh", "-c", "exit 3"), 3)], ids=["zero", "three"]
)
def test_wait_answers_the_exit_code(
    executor: DockerExecutor, args: tuple[str, ...], code: int
) -> None:
    task = make_task(args=args)
    assert executor.prepare(task).outcome is Outcome.OK
    assert executor.prepare(task).outcome is Outcome.ALREADY
    executor.start(task)
    result = executor.wait(task)
    assert (result.outcome, result.exit_code) == (Outcome.EXITED, code)
    assert executor.inspect(task).exit_code == code


def test_killed_container_exits_137(executor: DockerExecutor, daemon: Dockerd) -> None:
    task = make_task()
    executor.prepare(task)
    executor.start(task)
    waited: list[ExecutorResult] = []
    executor.deliver = waited.append
    executor.submit(ExecutorCommand(OperationToken(task.id, 1, 1), Operation.WAIT, task))
    daemon.client().api.kill(attrs_of(daemon, task)["Id"])
    for _ in range(200):
        if waited:
            break
        time.sleep(0.05)
    assert waited and waited[0].result.exit_code == 137


def test_stop_signal_honoured_within_grace_period(executor: DockerExecutor) -> None:
    # sh traps USR1 and exits 7: the stop signal ends it long before the grace period.
    script = "trap 'exit 7' USR1; while true; do sleep 0.1; done"
    task = make_task(
        args=("sh", "-c", script), init=False, stop_signal="SIGUSR1",
        stop_grace_period_ns=20 * SECOND,
    )  # fmt: skip
    executor.prepare(task)
    executor.start(task)
    stopped = executor.shutdown(task)
    assert stopped.outcome is Outcome.OK
    assert stopped.container is not None and stopped.container.exit_code == 7


def test_ignored_stop_signal_is_killed_at_grace_period(executor: DockerExecutor) -> None:
    # busybox sleep as PID 1 ignores SIGTERM: killed at the (1 s) grace period.
    task = make_task(init=False, stop_grace_period_ns=1 * SECOND)
    executor.prepare(task)
    executor.start(task)
    stopped = executor.shutdown(task)
    assert stopped.container is not None and stopped.container.exit_code == 137


def test_missing_image_is_rejected_with_dockers_message(executor: DockerExecutor) -> None:
    task = make_task(image="local/nosuch:9")
    result = executor.prepare(task)
    assert result.outcome is Outcome.FATAL
    assert "No such image: local/nosuch:9" in result.error
    controller = TaskController(task, epoch=1)
    out = controller.start(0.0, 0.0)
    (command,) = out.commands
    out = controller.on_result(ExecutorResult(command.token, command.operation, result), 0.0, 0.0)
    assert controller.task.status.state is TaskState.REJECTED
    assert controller.task.status.err == result.error


def test_healthy_start_waits_for_the_check(executor: DockerExecutor) -> None:
    check = HealthConfig(
        test=("CMD", "true"), interval_ns=200 * MILLISECOND, timeout_ns=SECOND, retries=2
    )
    task = make_task(healthcheck=check)
    executor.prepare(task)
    result = executor.start(task)
    assert result.outcome is Outcome.OK
    assert executor.inspect(task).outcome is Outcome.OK


def test_unhealthy_container_is_stopped_and_fails(executor: DockerExecutor) -> None:
    check = HealthConfig(
        test=("CMD", "false"), interval_ns=200 * MILLISECOND, timeout_ns=SECOND, retries=2
    )
    task = make_task(healthcheck=check, stop_grace_period_ns=1 * SECOND)
    executor.prepare(task)
    result = executor.start(task)
    assert result.outcome is Outcome.FATAL
    assert result.error == UNHEALTHY_ERROR
    assert executor.inspect(task).error == UNHEALTHY_ERROR


def test_inspect_shows_the_spec(executor: DockerExecutor, daemon: Dockerd) -> None:
    check = HealthConfig(
        test=("CMD-SHELL", "true"), interval_ns=5 * SECOND, timeout_ns=2 * SECOND, retries=4
    )
    task = make_task(
        args=("sleep", "1000"),
        env=("A=1", "B=two"),
        dir="/tmp",
        user="nobody",
        labels=Labels({"team": "blue"}),
        stop_grace_period_ns=7 * SECOND,
        stop_signal="SIGINT",
        healthcheck=check,
        resources=ResourceRequirements(limits=Limit(nano_cpus=500_000_000, memory_bytes=64 << 20)),
        endpoint=Endpoint(
            ports=(PortConfig(target_port=80, published_port=0, publish_mode=PublishMode.HOST),)
        ),
    )
    assert executor.prepare(task).outcome is Outcome.OK
    attrs = attrs_of(daemon, task)
    config, host = attrs["Config"], attrs["HostConfig"]
    assert config["Cmd"] == ["sleep", "1000"]
    assert {"A=1", "B=two"} <= set(config["Env"])
    assert (config["WorkingDir"], config["User"]) == ("/tmp", "nobody")
    assert config["Labels"]["team"] == "blue"
    assert config["Labels"][labels.TASK_ID] == task.id
    assert config["Labels"][labels.SERVICE_NAME] == "web"
    assert config["Labels"][labels.NODE_ID] == task.node_id
    assert (config["StopTimeout"], config["StopSignal"]) == (7, "SIGINT")
    assert config["Healthcheck"]["Test"] == ["CMD-SHELL", "true"]
    assert config["Healthcheck"]["Retries"] == 4
    assert (host["Memory"], host["NanoCpus"]) == (64 << 20, 500_000_000)
    started = executor.start(task)
    assert started.ports is not None and len(started.ports) == 1
    port = started.ports[0]
    assert port.target_port == 80 and 1024 < port.published_port < 65536


def test_adopt_keeps_owned_and_removes_the_rest(executor: DockerExecutor, daemon: Dockerd) -> None:
    kept, gone, exited = make_task(), make_task(), make_task(args=("true",))
    for task in (kept, gone, exited):
        executor.prepare(task)
        executor.start(task)
    executor.wait(exited)
    fresh = DockerExecutor(daemon.client(), service_name=lambda task: "web")
    try:
        found = fresh.adopt({kept.id, exited.id})
    finally:
        fresh.close()
    assert sorted(found) == sorted([kept.id, exited.id])
    assert found[kept.id].outcome is Outcome.OK
    assert (found[exited.id].outcome, found[exited.id].exit_code) == (Outcome.EXITED, 0)
    api = daemon.client().api
    assert api.containers(all=True, filters={"label": f"{labels.TASK_ID}={gone.id}"}) == []
    assert attrs_of(daemon, kept)["State"]["Running"]


def test_logs_and_second_image(executor: DockerExecutor) -> None:
    task = make_task(image=SECOND_IMAGE, args=("sh", "-c", "echo hello; echo $SHOAL_IMAGE"))
    executor.prepare(task)
    executor.start(task)
    executor.wait(task)
    result = executor.logs(task)
    assert [line for _, line in result.output] == ["hello", "2"]
    assert all(stamp > 1_600_000_000 for stamp, _ in result.output)
