"""Health checks in the simulated executor: dockerd's probe state machine and what
SwarmKit's container controller makes of it (START answers once healthy, an unhealthy
container is stopped and its task fails), on simulated time.

Each image here pulls at once and starts in 0.5 s, so a START sent at 0 starts the
container at 0.5 and its probes run at 0.5 + k * interval.
"""

from __future__ import annotations

import math
import random

import pytest
import simpy

from core.model.defaults import (
    HEALTH_INTERVAL_NS,
    HEALTH_RETRIES,
    HEALTH_START_INTERVAL_NS,
    HEALTH_TIMEOUT_NS,
    effective_healthcheck,
    health_check_enabled,
)
from core.model.duration import SECOND
from core.model.service import ContainerSpec, HealthConfig, TaskSpec
from core.model.task import Task, TaskStatus
from core.model.wire import replace
from core.tasks.controller import ControllerOutput, TaskController
from core.tasks.executor import (
    UNHEALTHY_ERROR,
    ExecutorCommand,
    ExecutorResult,
    Operation,
    OperationResult,
    OperationToken,
    Outcome,
)
from core.tasks.states import TaskState
from sim.executor import KILLED_EXIT_CODE, ImageBehaviour, SimExecutor

S = TaskState
OP = Operation
STARTED = 0.5  # when a container whose START was sent at 0 starts


def image(**behaviour: object) -> ImageBehaviour:
    return ImageBehaviour(pull_seconds=0.0, start_seconds=STARTED, **behaviour)  # type: ignore[arg-type]


def check(
    interval: float = 2.0,
    retries: int = 3,
    *,
    timeout: float = 0.0,
    start_period: float = 0.0,
    start_interval: float = 0.0,
    test: tuple[str, ...] = ("CMD", "true"),
) -> HealthConfig:
    return HealthConfig(
        test=test,
        interval_ns=round(interval * SECOND),
        timeout_ns=round(timeout * SECOND),
        start_period_ns=round(start_period * SECOND),
        start_interval_ns=round(start_interval * SECOND),
        retries=retries,
    )


def make_task(
    healthcheck: HealthConfig | None, task_id: str = "t1", grace: float | None = None
) -> Task:
    container = ContainerSpec(
        image="web",
        healthcheck=healthcheck,
        stop_grace_period_ns=None if grace is None else round(grace * SECOND),
    )
    return Task(id=task_id, spec=TaskSpec(container_spec=container))


class Driver:
    """Sends commands to one executor and records every result with its time."""

    def __init__(self, behaviour: ImageBehaviour, seed: int = 7, any_image: bool = False) -> None:
        self.env = simpy.Environment()
        self.results: list[tuple[float, ExecutorResult]] = []
        images = {"web": behaviour, "*": behaviour} if any_image else {"web": behaviour}
        self.executor = SimExecutor(
            self.env,
            random.Random(seed),
            images,
            lambda result: self.results.append((self.env.now, result)),
        )
        self._sequence = 0

    def send(self, task: Task, operation: Operation) -> OperationToken:
        self._sequence += 1
        token = OperationToken(task.id, 1, self._sequence)
        self.executor.run(ExecutorCommand(token, operation, task))
        return token

    def prepared(self, task: Task) -> None:
        token = self.send(task, OP.PREPARE)
        while self.env.peek() == self.env.now:
            self.env.step()
        assert self.answer(token)[1].outcome is Outcome.OK

    def answers(self, token: OperationToken) -> list[tuple[float, OperationResult]]:
        return [(time, r.result) for time, r in self.results if r.token == token]

    def answer(self, token: OperationToken) -> tuple[float, OperationResult]:
        (only,) = self.answers(token)
        return only

    def health_log(self, task_id: str = "t1") -> list[tuple[float, str]]:
        return [
            (time, line)
            for time, tid, line in self.executor.logs
            if tid == task_id and line.startswith(("health:", "stopping:", "exited"))
        ]


def started(behaviour: ImageBehaviour, task: Task) -> tuple[Driver, OperationToken]:
    """A driver whose container for ``task`` is prepared and being started at 0."""
    driver = Driver(behaviour)
    driver.prepared(task)
    return driver, driver.send(task, OP.START)


# -- defaults -----------------------------------------------------------------------------


def test_unset_fields_take_dockerds_defaults() -> None:
    spec = ContainerSpec(image="web", healthcheck=HealthConfig(test=("CMD", "true")))
    effective = effective_healthcheck(spec)
    assert effective is not None
    assert effective.interval_ns == HEALTH_INTERVAL_NS == 30 * SECOND
    assert effective.timeout_ns == HEALTH_TIMEOUT_NS == 30 * SECOND
    assert effective.retries == HEALTH_RETRIES == 3
    assert effective.start_period_ns == 0
    assert effective.start_interval_ns == HEALTH_START_INTERVAL_NS == 5 * SECOND
    set_ = check(interval=2.0, retries=5, timeout=1.0, start_period=4.0, start_interval=1.0)
    assert effective_healthcheck(ContainerSpec(image="web", healthcheck=set_)) == set_


@pytest.mark.parametrize(
    "healthcheck",
    [None, HealthConfig(), HealthConfig(test=("NONE",), interval_ns=SECOND)],
    ids=["absent", "empty test", "NONE"],
)
def test_no_test_or_none_runs_no_check(healthcheck: HealthConfig | None) -> None:
    assert not health_check_enabled(healthcheck)
    assert effective_healthcheck(ContainerSpec(image="web", healthcheck=healthcheck)) is None
    assert effective_healthcheck(None) is None


# -- START waits for healthy --------------------------------------------------------------


@pytest.mark.parametrize(
    "healthcheck",
    [None, check(test=("NONE",))],
    ids=["no check", "NONE"],
)
def test_without_a_check_start_answers_when_the_container_starts(
    healthcheck: HealthConfig | None,
) -> None:
    task = make_task(healthcheck)
    driver, start = started(image(healthy_after=math.inf), task)
    driver.env.run(until=60)
    time, result = driver.answer(start)
    assert (time, result.outcome) == (STARTED, Outcome.OK)
    assert driver.executor.containers["t1"].health is None
    assert driver.health_log() == []


def test_a_container_that_is_never_healthy_fails_start_after_retries_intervals() -> None:
    task = make_task(check(interval=2.0, retries=3))
    driver, start = started(image(healthy_after=math.inf, stop_seconds=0.1), task)
    driver.env.run(until=STARTED + 6.05)
    assert driver.answers(start) == []  # still starting: the task stays STARTING
    container = driver.executor.containers["t1"]
    assert container.health == "unhealthy" and container.running
    driver.env.run(until=60)
    time, result = driver.answer(start)
    assert time == pytest.approx(STARTED + 6.0 + 0.1)  # three failures, then the stop
    assert (result.outcome, result.error, result.exit_code) == (Outcome.FATAL, UNHEALTHY_ERROR, 0)
    assert not container.running
    assert driver.health_log() == [
        (STARTED, "health: starting"),
        (pytest.approx(STARTED + 6.0), "health: unhealthy"),
        (pytest.approx(STARTED + 6.0), "stopping: unhealthy"),
        (pytest.approx(STARTED + 6.1), "exited with 0"),
    ]


def test_an_unhealthy_container_slow_to_stop_is_killed_at_the_grace_period() -> None:
    task = make_task(check(interval=2.0, retries=3), grace=2.0)
    driver, start = started(image(healthy_after=math.inf, stop_seconds=30.0), task)
    driver.env.run(until=60)
    time, result = driver.answer(start)
    assert time == pytest.approx(STARTED + 6.0 + 2.0)
    assert (result.outcome, result.error) == (Outcome.FATAL, UNHEALTHY_ERROR)
    assert result.exit_code == KILLED_EXIT_CODE


def test_start_answers_at_the_first_passing_probe() -> None:
    task = make_task(check(interval=2.0, retries=3))
    driver, start = started(image(healthy_after=3.0), task)
    driver.env.run(until=STARTED + 3.0)
    container = driver.executor.containers["t1"]
    assert (container.health, container.failing_streak) == ("starting", 1)  # failed at 2
    driver.env.run(until=60)
    time, result = driver.answer(start)
    assert time == pytest.approx(STARTED + 4.0)
    assert result.outcome is Outcome.OK and result.container is not None
    assert (container.health, container.failing_streak) == ("healthy", 0)
    assert container.running


def test_the_default_interval_is_thirty_seconds() -> None:
    driver, start = started(image(), make_task(HealthConfig(test=("CMD-SHELL", "true"))))
    driver.env.run(until=100)
    assert driver.answer(start)[0] == pytest.approx(STARTED + 30.0)


def test_failures_in_the_start_period_do_not_count() -> None:
    # Start interval 1 s during the 5 s start period: probes at 1, 2, 3, 4 fail uncounted;
    # the one at 5 is the first counted, and with retries 1 it is enough.
    task = make_task(check(interval=2.0, retries=1, start_period=5.0, start_interval=1.0))
    driver, start = started(image(healthy_after=math.inf, stop_seconds=0.0), task)
    driver.env.run(until=STARTED + 4.5)
    assert driver.executor.containers["t1"].failing_streak == 0
    driver.env.run(until=60)
    time, result = driver.answer(start)
    assert time == pytest.approx(STARTED + 5.0)
    assert result.error == UNHEALTHY_ERROR


def test_probes_run_every_five_seconds_during_the_start_period_by_default() -> None:
    # Start period 6 s, start interval unset (5 s): a probe at 5 (uncounted), then
    # at 10, counted; with retries 1 that makes it unhealthy.
    task = make_task(check(interval=2.0, retries=1, start_period=6.0))
    driver, start = started(image(healthy_after=math.inf, stop_seconds=0.0), task)
    driver.env.run(until=60)
    time, result = driver.answer(start)
    assert time == pytest.approx(STARTED + 10.0)
    assert result.error == UNHEALTHY_ERROR


def test_a_success_ends_the_start_period() -> None:
    # Healthy at 2 (inside the 10 s start period); failing from 3 on, the failures at
    # 4 and 6 count although they are inside the start period: unhealthy at 6.
    task = make_task(check(interval=2.0, retries=2, start_period=10.0, start_interval=1.0))
    behaviour = image(healthy_after=2.0, unhealthy_after=3.0, stop_seconds=0.0)
    driver, start = started(behaviour, task)
    driver.env.run(until=3.0)
    assert driver.answer(start)[0] == pytest.approx(STARTED + 2.0)
    wait = driver.send(task, OP.WAIT)
    driver.env.run(until=60)
    time, result = driver.answer(wait)
    assert time == pytest.approx(STARTED + 6.0)
    assert result.error == UNHEALTHY_ERROR
    assert driver.health_log()[:3] == [
        (STARTED, "health: starting"),
        (pytest.approx(STARTED + 2.0), "health: healthy"),
        (pytest.approx(STARTED + 6.0), "health: unhealthy"),
    ]


def test_a_probe_slower_than_its_timeout_fails_and_delays_the_next() -> None:
    # Each probe times out after 1 s, and the next runs 2 s after it ended: failures
    # end at 3 and 6, so with retries 2 it is unhealthy at 6.
    task = make_task(check(interval=2.0, retries=2, timeout=1.0))
    driver, start = started(image(probe_seconds=5.0, stop_seconds=0.0), task)
    driver.env.run(until=60)
    time, result = driver.answer(start)
    assert time == pytest.approx(STARTED + 6.0)
    assert result.error == UNHEALTHY_ERROR


def test_a_probe_within_its_timeout_passes_when_it_ends() -> None:
    task = make_task(check(interval=2.0, timeout=1.0))
    driver, start = started(image(probe_seconds=0.5), task)
    driver.env.run(until=60)
    assert driver.answer(start)[0] == pytest.approx(STARTED + 2.5)


@pytest.mark.parametrize(
    ("code", "outcome", "error"),
    [(2, Outcome.FATAL, "task: non-zero exit (2)"), (0, Outcome.OK, "")],
)
def test_an_exit_while_starting_answers_start(code: int, outcome: Outcome, error: str) -> None:
    task = make_task(check(interval=2.0))
    driver, start = started(image(healthy_after=math.inf, exit_after=1.0, exit_code=code), task)
    driver.env.run(until=60)
    time, result = driver.answer(start)
    assert time == pytest.approx(STARTED + 1.0)
    assert (result.outcome, result.error) == (outcome, error)
    assert driver.health_log()[-1] == (pytest.approx(STARTED + 1.0), f"exited with {code}")


# -- WAIT and INSPECT watch a running container ---------------------------------------


def test_turning_unhealthy_while_running_fails_a_pending_wait() -> None:
    task = make_task(check(interval=2.0, retries=3))
    driver, start = started(image(unhealthy_after=10.0, stop_seconds=0.1), task)
    driver.env.run(until=STARTED + 2.01)
    assert driver.answer(start)[0] == pytest.approx(STARTED + 2.0)
    wait = driver.send(task, OP.WAIT)
    driver.env.run(until=STARTED + 14.0 - 0.01)
    assert driver.answers(wait) == []  # failures at 10 and 12 are not yet 3
    assert driver.executor.containers["t1"].failing_streak == 2
    driver.env.run(until=60)
    time, result = driver.answer(wait)
    assert time == pytest.approx(STARTED + 14.0 + 0.1)
    assert (result.outcome, result.error) == (Outcome.FATAL, UNHEALTHY_ERROR)
    assert driver.executor.running() == []
    # Asked again, the wait gives the same answer at once.
    again = driver.send(task, OP.WAIT)
    driver.env.run(until=61)
    assert driver.answer(again) == (60, result)


def test_an_exit_while_running_with_a_check_still_answers_exited() -> None:
    task = make_task(check(interval=2.0))
    driver, _ = started(image(exit_after=5.0, exit_code=3), task)
    driver.env.run(until=3.0)
    wait = driver.send(task, OP.WAIT)
    driver.env.run(until=60)
    time, result = driver.answer(wait)
    assert time == pytest.approx(STARTED + 5.0)
    assert (result.outcome, result.exit_code) == (Outcome.EXITED, 3)


def test_inspect_reports_health_and_stops_an_unhealthy_container() -> None:
    task = make_task(check(interval=2.0, retries=1))
    driver, _ = started(image(unhealthy_after=3.0, stop_seconds=0.2), task)
    driver.env.run(until=3.0)
    inspect_healthy = driver.send(task, OP.INSPECT)
    driver.env.run(until=STARTED + 4.5)
    assert driver.answer(inspect_healthy)[1].outcome is Outcome.OK
    # Unhealthy at 4 with nothing watching: dockerd leaves it running.
    container = driver.executor.containers["t1"]
    assert container.health == "unhealthy" and container.running
    inspect = driver.send(task, OP.INSPECT)
    driver.env.run(until=60)
    time, result = driver.answer(inspect)
    assert time == pytest.approx(STARTED + 4.5 + 0.2)
    assert (result.outcome, result.error) == (Outcome.FATAL, UNHEALTHY_ERROR)
    assert not container.running


# -- probes stop with the container or its host ---------------------------------------


def test_a_crash_stops_the_probes() -> None:
    task = make_task(check(interval=2.0, retries=3))
    driver, _ = started(image(healthy_after=math.inf), task)
    driver.env.run(until=3.0)
    driver.executor.host_crashed()
    driver.env.run(until=4.0)
    driver.executor.host_started(lambda result: driver.results.append((driver.env.now, result)))
    driver.env.run(until=60)
    assert driver.results[1:] == []  # only the prepare was ever answered
    assert driver.health_log() == [(STARTED, "health: starting")]
    assert driver.executor.containers["t1"].health == "starting"


@pytest.mark.parametrize("operation", [OP.SHUTDOWN, OP.REMOVE])
def test_stopping_or_removing_the_container_stops_the_probes(operation: Operation) -> None:
    task = make_task(check(interval=2.0, retries=3))
    driver, _ = started(image(healthy_after=math.inf, stop_seconds=0.1), task)
    driver.env.run(until=3.0)
    driver.send(task, operation)
    driver.env.run(until=60)
    lines = [line for _, line in driver.health_log()]
    assert lines == [
        "health: starting",
        "exited with 137" if operation is OP.REMOVE else "exited with 0",
    ]


# -- end to end: the agent's task controller against the executor --------------------------


class ControllerDriver:
    """One task controller fed by the executor; every status report kept with its time."""

    def __init__(self, behaviour: ImageBehaviour, task: Task) -> None:
        self.env = simpy.Environment()
        self.executor = SimExecutor(self.env, random.Random(3), {"web": behaviour}, self._result)
        assigned = replace(task, status=TaskStatus(state=S.ASSIGNED))
        self.controller = TaskController(assigned, epoch=1)
        self.reports: list[tuple[float, TaskState, str]] = []
        self._absorb(self.controller.start(0.0, 0.0))

    def _result(self, result: ExecutorResult) -> None:
        now = self.env.now
        self._absorb(self.controller.on_result(result, now, now))

    def _absorb(self, output: ControllerOutput) -> None:
        for status in output.reports:
            self.reports.append((self.env.now, status.state, status.err))
        for command in output.commands:
            self.executor.run(command)

    def state_at(self, time: float) -> TaskState:
        self.env.run(until=time)
        return self.controller.task.status.state


def test_the_task_runs_only_once_healthy_and_fails_when_unhealthy() -> None:
    task = make_task(check(interval=2.0, retries=3))
    driver = ControllerDriver(image(healthy_after=3.0, unhealthy_after=9.0), task)
    assert driver.state_at(STARTED + 3.9) is S.STARTING
    assert driver.state_at(STARTED + 4.1) is S.RUNNING
    assert driver.state_at(STARTED + 13.0) is S.RUNNING  # failures at 10 and 12
    driver.env.run(until=60)
    status = driver.controller.task.status
    assert (status.state, status.err) == (S.FAILED, UNHEALTHY_ERROR)
    assert status.container_status is not None and status.container_status.exit_code == 0
    assert [(state, err) for _, state, err in driver.reports] == [
        (S.ACCEPTED, ""),
        (S.PREPARING, ""),
        (S.READY, ""),
        (S.STARTING, ""),
        (S.RUNNING, ""),
        (S.FAILED, UNHEALTHY_ERROR),
    ]
    times = {state: time for time, state, _ in driver.reports}
    assert times[S.RUNNING] == pytest.approx(STARTED + 4.0)
    assert times[S.FAILED] == pytest.approx(STARTED + 14.0 + 0.1)
    assert driver.executor.running() == []


def test_a_task_never_healthy_fails_from_starting() -> None:
    task = make_task(check(interval=2.0, retries=3))
    driver = ControllerDriver(image(healthy_after=math.inf), task)
    driver.env.run(until=60)
    states = [state for _, state, _ in driver.reports]
    assert S.RUNNING not in states
    assert states[-2:] == [S.STARTING, S.FAILED]
    assert driver.controller.task.status.err == UNHEALTHY_ERROR
    assert driver.reports[-1][0] == pytest.approx(STARTED + 6.0 + 0.1)
