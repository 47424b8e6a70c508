"""The docker executor against a private dockerd (real containers, no registry)."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import os
import queue
import random
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests.exceptions

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
    TaskFile,
)
from core.tasks.states import TaskState
from real.agent import labels
from real.agent.executor import CONNECTIONS, DockerExecutor
from real.agent.images import IMAGE, SECOND_IMAGE
from real.agent.sdk import docker_client
from real.agent.taskfiles import TaskFiles
from real.dockerd import Dockerd

_ids = itertools.count(1)
#: Seconds a test waits for something that should come at once (a bound, not a timing).
PATIENCE = 30


@pytest.fixture(scope="module")
def daemon(busybox_dockerd: Dockerd) -> Dockerd:
    return busybox_dockerd


@pytest.fixture
def results() -> queue.Queue[ExecutorResult]:
    return queue.Queue()


class Stream:
    """An events stream that records the actions it passed on and whether it was closed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.actions: queue.Queue[str] = queue.Queue()
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for raw in self.inner:
            self.actions.put(str(raw.get("Action", "")))
            yield raw

    def close(self) -> None:
        self.closed.set()
        self.inner.close()


class Api:
    """The SDK's low-level client, with faults: a failing inspect, a start that returns
    only once the container exited, a resubscription held until a stream is closed."""

    def __init__(self, api: Any) -> None:
        self._api = api
        self._count = threading.Lock()
        self.inspects = 0
        self.fail_inspect = 0  # the n-th inspect from now raises (0: none)
        self.start_returns_after_exit = False
        self.streams: list[Stream] = []
        self.resubscribing = threading.Event()
        self.resubscribe_after: threading.Event | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    def inspect_container(self, cid: str) -> Any:
        with self._count:
            self.inspects += 1
            fail = self.inspects == self.fail_inspect
        if fail:
            raise requests.exceptions.ConnectionError("connection reset by the test")
        return self._api.inspect_container(cid)

    def start(self, cid: str) -> None:
        self._api.start(cid)
        if self.start_returns_after_exit:
            self._api.wait(cid)

    def events(self, **options: Any) -> Stream:
        if self.streams and self.resubscribe_after is not None:
            self.resubscribing.set()
            self.resubscribe_after.wait(PATIENCE)
        stream = Stream(self._api.events(**options))
        self.streams.append(stream)
        return stream

    def fail_nth_inspect(self, n: int) -> None:
        with self._count:
            self.fail_inspect, self.inspects = n, 0


class Client:
    def __init__(self, client: Any) -> None:
        self.api = Api(client.api)


MakeExecutor = Callable[..., DockerExecutor]


@pytest.fixture
def make_executor(daemon: Dockerd, results: queue.Queue[ExecutorResult]) -> Iterator[MakeExecutor]:
    """``make(wrapped=False, **options)``: an open executor delivering to ``results``,
    on the daemon's client or on a :class:`Client` wrapping it; all closed after the
    test and every task container removed."""
    client = daemon.client()
    made: list[DockerExecutor] = []

    def make(wrapped: bool = False, **options: Any) -> DockerExecutor:
        ex = DockerExecutor(
            Client(client) if wrapped else client,
            results.put,
            service_name=lambda task: "web",
            rng=random.Random(7),
            **options,
        )
        made.append(ex)
        ex.open()
        return ex

    try:
        yield make
    finally:
        for ex in made:
            ex.close()
        for c in client.api.containers(all=True, filters={"label": labels.TASK_ID}):
            client.api.remove_container(c["Id"], force=True)
        client.close()


@pytest.fixture
def executor(make_executor: MakeExecutor) -> DockerExecutor:
    return make_executor()


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


def test_killed_container_exits_137(
    executor: DockerExecutor, results: queue.Queue[ExecutorResult], daemon: Dockerd
) -> None:
    task = make_task()
    executor.prepare(task)
    executor.start(task)
    executor.submit(command(task, Operation.WAIT))
    daemon.client().api.kill(attrs_of(daemon, task)["Id"])
    waited = results.get(timeout=PATIENCE)
    assert (waited.result.outcome, waited.result.exit_code) == (Outcome.EXITED, 137)


def command(task: Task, operation: Operation, seq: int = 1) -> ExecutorCommand:
    return ExecutorCommand(OperationToken(task.id, 1, seq), operation, task)


def drive(
    controller: TaskController, executor: DockerExecutor, results: queue.Queue[ExecutorResult]
) -> None:
    """Run the controller's commands and feed it their results until the task ends."""
    out = controller.start(0.0, 0.0)
    for _ in range(20):
        if controller.task.status.state >= TaskState.COMPLETE:
            return
        for sent in out.commands:
            executor.submit(sent)
        out = controller.on_result(results.get(timeout=PATIENCE), 0.0, 0.0)
    raise AssertionError(f"task stuck in {controller.task.status.state.name}")


@pytest.mark.parametrize("path", ["fresh", "already"])
@pytest.mark.parametrize(
    ("args", "code"), [(("true",), 0), (("sh", "-c", "exit 3"), 3)], ids=["zero", "three"]
)
def test_container_that_exits_at_once_ends_its_task(
    make_executor: MakeExecutor,
    results: queue.Queue[ExecutorResult],
    path: str,
    args: tuple[str, ...],
    code: int,
) -> None:
    # START answers "started" (as SwarmKit's Start and the simulator do) even when the
    # container is gone already, freshly started or started before; WAIT then tells.
    executor = make_executor(wrapped=True)
    task = make_task(args=args)
    if path == "fresh":
        executor.api.start_returns_after_exit = True  # exited before START inspects it
    else:
        executor.prepare(task)
        cid = attrs_of_api(executor.api, task)["Id"]
        executor.api.start(cid)
        executor.api.wait(cid)
    controller = TaskController(task, epoch=1)
    drive(controller, executor, results)
    status = controller.task.status
    if code == 0:
        assert (status.state, status.err) == (TaskState.COMPLETE, "")
    else:
        assert (status.state, status.err) == (TaskState.FAILED, "task: non-zero exit (3)")


def attrs_of_api(api: Any, task: Task) -> dict[str, Any]:
    (summary,) = api.containers(all=True, filters={"label": f"{labels.TASK_ID}={task.id}"})
    found: dict[str, Any] = api.inspect_container(summary["Id"])
    return found


def test_a_failed_wait_is_answered_once(
    make_executor: MakeExecutor, results: queue.Queue[ExecutorResult]
) -> None:
    executor = make_executor(wrapped=True)
    task = make_task()
    executor.prepare(task)
    executor.api.start(attrs_of_api(executor.api, task)["Id"])  # not by the executor:
    executor.api.fail_nth_inspect(1)  # WAIT looks at it once, after it registered
    executor.submit(command(task, Operation.WAIT, seq=1))
    first = results.get(timeout=PATIENCE)
    assert (first.token.sequence, first.result.outcome) == (1, Outcome.TEMPORARY)
    assert executor._waiters == {}  # retired before the failure was answered
    executor.submit(command(task, Operation.WAIT, seq=2))
    executor.api.kill(attrs_of_api(executor.api, task)["Id"])
    later = results.get(timeout=PATIENCE)  # the die answers WAIT 2, and WAIT 1 no more
    assert (later.token.sequence, later.result.outcome) == (2, Outcome.EXITED)
    executor.close()
    assert results.empty()


def test_wait_on_a_container_it_started_needs_no_inspect(
    make_executor: MakeExecutor, results: queue.Queue[ExecutorResult]
) -> None:
    """Its exit comes by the events stream, followed since before the start; an exit
    before the WAIT (``true`` exits at once) is kept for it."""
    executor = make_executor(wrapped=True)
    running, done = make_task(), make_task(args=("true",))
    for task in (running, done):
        executor.prepare(task)
        assert executor.start(task).outcome is Outcome.OK
    cid = attrs_of_api(executor.api, running)["Id"]
    executor.api.fail_nth_inspect(1)  # any look from now on would fail the WAITs
    executor.submit(command(done, Operation.WAIT))
    exited = results.get(timeout=PATIENCE)
    assert (exited.result.outcome, exited.result.exit_code) == (Outcome.EXITED, 0)
    executor.submit(command(running, Operation.WAIT))
    executor.api.kill(cid)
    waited = results.get(timeout=PATIENCE)
    assert (waited.result.outcome, waited.result.exit_code) == (Outcome.EXITED, 137)
    assert executor.api.inspects == 0


def test_after_the_events_stream_reconnects_a_wait_inspects_again(
    make_executor: MakeExecutor,
) -> None:
    """A dockerd that restarted replays no events: what was followed is not any more."""
    executor = make_executor(wrapped=True)
    task = make_task(args=("true",))
    executor.prepare(task)
    executor.start(task)
    api = executor.api
    (first,) = api.streams
    first.inner.close()  # dockerd went away: the events thread reconnects
    for _ in range(PATIENCE * 20):
        if len(api.streams) == 2 and not executor._followed:
            break
        threading.Event().wait(0.05)
    api.fail_nth_inspect(1)
    assert executor.wait(task).outcome is Outcome.TEMPORARY  # it looked; the look failed


def test_the_daemons_client_of_a_local_socket_leaves_the_environment_alone(
    daemon: Dockerd,
) -> None:
    """requests would scan every environment variable for proxies on each call, for a
    socket no proxy applies to."""
    client = docker_client(daemon.url)
    try:
        assert client.api.trust_env is False
        assert client.ping()
    finally:
        client.close()


def test_the_daemons_client_keeps_a_connection_for_every_executor_thread(
    daemon: Dockerd, caplog: pytest.LogCaptureFixture
) -> None:
    """Beyond its pool, the SDK opens a connection per call and throws it away."""
    client = docker_client(daemon.url, connections=CONNECTIONS)
    busy = CONNECTIONS - 1  # every worker thread at once, beside the events stream
    barrier = threading.Barrier(busy)

    def call() -> None:
        barrier.wait(PATIENCE)
        client.api.version()

    threads = [threading.Thread(target=call) for _ in range(busy)]
    try:
        with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(PATIENCE)
    finally:
        client.close()
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


def test_an_event_that_cannot_be_handled_is_skipped(
    make_executor: MakeExecutor,
    results: queue.Queue[ExecutorResult],
    caplog: pytest.LogCaptureFixture,
) -> None:
    def observe(event: Any) -> None:
        if event.action == "start":
            raise RuntimeError("observer failed")

    executor = make_executor(wrapped=True, observe=observe)
    task = make_task()
    executor.prepare(task)
    with caplog.at_level(logging.ERROR, logger="real.agent.executor"):
        executor.start(task)
        executor.submit(command(task, Operation.WAIT))
        executor.api.kill(attrs_of_api(executor.api, task)["Id"])
        waited = results.get(timeout=PATIENCE)  # the die after it is handled
    assert (waited.result.outcome, waited.result.exit_code) == (Outcome.EXITED, 137)
    assert any("docker event not handled" in r.getMessage() for r in caplog.records)
    assert len(executor.api.streams) == 1  # the stream was fine: not resubscribed


def test_close_while_reconnecting_leaves_no_stream_open(make_executor: MakeExecutor) -> None:
    executor = make_executor(wrapped=True)
    api = executor.api
    (first,) = api.streams
    api.resubscribe_after = first.closed  # the resubscription returns once close() ran
    first.inner.close()  # dockerd went away: the events thread reconnects
    assert api.resubscribing.wait(PATIENCE)
    executor.close()
    assert len(api.streams) == 2
    assert api.streams[1].closed.is_set()


def test_health_probes_do_not_reach_python(make_executor: MakeExecutor) -> None:
    executor = make_executor(wrapped=True)
    check = HealthConfig(
        test=("CMD", "true"), interval_ns=200 * MILLISECOND, timeout_ns=SECOND, retries=2
    )
    task = make_task(healthcheck=check)
    executor.prepare(task)
    assert executor.start(task).outcome is Outcome.OK  # the health event still comes
    (stream,) = executor.api.streams
    seen: list[str] = []
    while not any(action.startswith("health_status") for action in seen):
        seen.append(stream.actions.get(timeout=PATIENCE))  # a probe's exec_* come before
    assert [action for action in seen if action.startswith("exec_")] == []


def test_task_locks_are_dropped(make_executor: MakeExecutor) -> None:
    executor = make_executor()
    for task in (make_task(), make_task()):
        executor.prepare(task)
        executor.start(task)
        executor.remove(task)
    executor.close()  # every worker done
    assert executor._task_locks == {}


def test_unhealthy_mark_is_dropped_with_the_container(make_executor: MakeExecutor) -> None:
    # The destroy event is held back: removing the container alone forgets the mark.
    release = threading.Event()

    def observe(event: Any) -> None:
        if event.action == "destroy":
            release.wait(PATIENCE)

    executor = make_executor(observe=observe)
    check = HealthConfig(
        test=("CMD", "false"), interval_ns=200 * MILLISECOND, timeout_ns=SECOND, retries=2
    )
    task = make_task(healthcheck=check, stop_grace_period_ns=1 * SECOND)
    executor.prepare(task)
    try:
        assert executor.start(task).error == UNHEALTHY_ERROR
        assert len(executor._unhealthy) == 1
        executor.remove(task)
        assert executor._unhealthy == set()
    finally:
        release.set()


def test_stops_do_not_hold_up_prepare(
    make_executor: MakeExecutor, results: queue.Queue[ExecutorResult]
) -> None:
    # busybox sleep as PID 1 ignores SIGTERM: each stop lasts its 3 s grace period.
    executor = make_executor(workers=2, stop_workers=2)
    stopping = [make_task(init=False, stop_grace_period_ns=3 * SECOND) for _ in range(2)]
    for task in stopping:
        executor.prepare(task)
        executor.start(task)
    for task in stopping:
        executor.submit(command(task, Operation.SHUTDOWN))
    fresh = make_task()
    executor.submit(command(fresh, Operation.PREPARE))
    answered = [results.get(timeout=PATIENCE) for _ in range(3)]
    assert [r.operation for r in answered] == [Operation.PREPARE, *[Operation.SHUTDOWN] * 2]
    assert all(r.result.outcome is Outcome.OK for r in answered)


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


def test_a_task_without_networks_or_ports_gets_no_network_stack(
    executor: DockerExecutor, daemon: Dockerd
) -> None:
    """As Docker's swarm makes it: a network sandbox (network mode "none") would still
    be built and hooked at every start, doubling the cost of a start here."""
    plain = make_task()
    published = make_task(
        endpoint=Endpoint(
            ports=(PortConfig(target_port=80, published_port=0, publish_mode=PublishMode.HOST),)
        )
    )
    for task in (plain, published):
        assert executor.prepare(task).outcome is Outcome.OK
    assert attrs_of(daemon, plain)["Config"].get("NetworkDisabled") is True
    config = attrs_of(daemon, plain)["Config"]
    assert (config["AttachStdout"], config["AttachStderr"]) == (False, False), "as Docker's"
    assert not attrs_of(daemon, published)["Config"].get("NetworkDisabled")
    assert executor.start(plain).outcome is Outcome.OK


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


@pytest.fixture
def files_root(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs root for task files; unmounted and gone after the test, even a failed one."""
    root = Path("/run/shoal") / f"test-{tmp_path.name}" / "task-files"
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], capture_output=True, check=False)
        shutil.rmtree(root.parent, ignore_errors=True)
        with contextlib.suppress(OSError):
            root.parent.parent.rmdir()


def test_secrets_and_configs_are_mounted_from_a_tmpfs_read_only(
    make_executor: MakeExecutor,
    results: queue.Queue[ExecutorResult],
    daemon: Dockerd,
    files_root: Path,
) -> None:
    """A task's secret at /run/secrets/<target> and its config at its target, with
    the reference's owner and mode, from a tmpfs outside dockerd's data root (the
    marker is nowhere under it), read-only; REMOVE takes the task's files away."""
    marker = f"marker-{next(_ids)}-never-on-disk"
    files = (
        TaskFile("secret", "sec1", "db_pw", "/run/secrets/db_pw", marker.encode(), "0", "0", 0o400),
        TaskFile("config", "cfg1", "app", "/etc/app.conf", b"x=1", "33", "33", 0o440),
        # the same secret at a second target, with a mode Go's FileMode cuts to 0755
        TaskFile(
            "secret", "sec1", "db_pw", "/run/secrets/again", marker.encode(), "0", "0", 0o4755
        ),
    )
    root = files_root
    executor = make_executor(task_files=TaskFiles(root))
    script = (
        "sha256sum /run/secrets/db_pw | cut -d' ' -f1; cat /etc/app.conf; echo; "
        "stat -c '%u %g %a' /run/secrets/db_pw /etc/app.conf /run/secrets/again; "
        "sha256sum /run/secrets/again | cut -d' ' -f1; "
        "(echo no >> /run/secrets/db_pw) 2>/dev/null || echo read-only"
    )
    task = make_task(args=("sh", "-c", script))
    prepare = ExecutorCommand(OperationToken(task.id, 1, 1), Operation.PREPARE, task, files)
    executor.submit(prepare)
    assert results.get(timeout=PATIENCE).result.outcome is Outcome.OK
    assert os.path.ismount(root)
    executor.start(task)
    executor.wait(task)
    lines = [line for _, line in executor.logs(task).output]
    digest = hashlib.sha256(marker.encode()).hexdigest()  # the log must not hold it
    assert lines == [digest, "x=1", "0 0 400", "33 33 440", "0 0 755", digest, "read-only"], lines
    found = subprocess.run(
        ["grep", "-rl", marker, str(daemon.root)], capture_output=True, text=True, check=False
    )
    assert found.stdout == "", f"the secret is on disk: {found.stdout}"
    assert executor.remove(task).outcome is Outcome.OK
    assert not (root / task.id).exists()
    executor.close()
    assert not os.path.ismount(root) and not root.exists()


def test_a_uid_that_is_not_a_number_fails_the_prepare_in_dockerds_words(
    make_executor: MakeExecutor, results: queue.Queue[ExecutorResult], files_root: Path
) -> None:
    executor = make_executor(task_files=TaskFiles(files_root))
    files = (TaskFile("secret", "sec1", "db", "/run/secrets/db", b"pw", "bob", "0", 0o400),)
    task = make_task(args=("true",))
    executor.submit(ExecutorCommand(OperationToken(task.id, 1, 1), Operation.PREPARE, task, files))
    result = results.get(timeout=PATIENCE).result
    assert (result.outcome, result.error) == (
        Outcome.FATAL,
        'error setting ownership for secret: strconv.Atoi: parsing "bob": invalid syntax',
    )
    executor.close()
