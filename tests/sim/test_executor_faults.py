"""The simulated executor's injected faults and what dockerd does that they touch: a
killed container, pulls that fail on one host, the stop signal, published host ports.

Each image pulls in 1 s and starts in 0.5 s, so a START sent at once starts the
container 0.5 s later.
"""

from __future__ import annotations

import pytest

from core.model.duration import SECOND
from core.model.enums import PublishMode
from core.model.service import ContainerSpec, Endpoint, PortConfig, TaskSpec
from core.model.task import Task
from core.tasks.executor import (
    Operation,
    OperationResult,
    Outcome,
)
from sim.executor import (
    EPHEMERAL_PORTS,
    KILLED_EXIT_CODE,
    ImageBehaviour,
    parse_signal,
)
from tests.sim.test_executor_health import Driver as HealthDriver

OP = Operation
# exits 2 s after a SIGTERM or a SIGINT (the default), SIGQUIT is ignored
WEB = ImageBehaviour(pull_seconds=1.0, start_seconds=0.5, stop_seconds=2.0)


def make_task(
    task_id: str = "t1",
    *,
    image: str = "web",
    stop_signal: str = "",
    grace: float = 10.0,
    ports: tuple[PortConfig, ...] = (),
) -> Task:
    container = ContainerSpec(
        image=image, stop_signal=stop_signal, stop_grace_period_ns=round(grace * SECOND)
    )
    endpoint = Endpoint(ports=ports) if ports else None
    return Task(id=task_id, spec=TaskSpec(container_spec=container), endpoint=endpoint)


class Driver(HealthDriver):
    """One executor on its own clock, every image behaving as ``web``; every result
    recorded with its time."""

    def __init__(self, seed: int = 7) -> None:
        super().__init__(WEB, seed, any_image=True)

    def do(self, task: Task, operation: Operation) -> tuple[float, OperationResult]:
        """Send ``operation`` and run until it is answered."""
        token = self.send(task, operation)
        while not self.answers(token):
            self.env.step()
        (only,) = self.answers(token)
        return only

    def running(self, task: Task) -> Driver:
        assert self.do(task, OP.PREPARE)[1].outcome is Outcome.OK
        assert self.do(task, OP.START)[1].outcome is Outcome.OK
        return self


# -- kill ---------------------------------------------------------------------------------


def test_a_killed_container_exits_137_and_its_wait_says_so() -> None:
    driver = Driver().running(make_task())
    wait = driver.send(make_task(), OP.WAIT)
    driver.env.run(until=driver.env.now + 3.0)
    assert driver.answers(wait) == []
    killed_at = driver.env.now
    assert driver.executor.kill("t1")
    driver.env.run(until=driver.env.now + 1.0)
    [(when, result)] = driver.answers(wait)
    assert when == killed_at
    assert result.outcome is Outcome.EXITED and result.exit_code == KILLED_EXIT_CODE
    assert driver.executor.running() == []
    assert not driver.executor.kill("t1"), "nothing left to kill"


# -- pulls that fail on this host -------------------------------------------------------------


def test_a_failing_pull_rejects_a_task_whose_image_is_not_here() -> None:
    driver = Driver()
    driver.executor.fail_pulls("web")
    when, result = driver.do(make_task(), OP.PREPARE)
    assert result.outcome is Outcome.FATAL
    assert result.error == "No such image: web"
    assert when == WEB.pull_seconds
    driver.executor.fail_pulls("web", failing=False)
    assert driver.do(make_task("t2"), OP.PREPARE)[1].outcome is Outcome.OK


def test_a_failing_pull_of_an_image_already_here_still_creates_the_container() -> None:
    """dockerd only logs a failed pull; the create finds the image it has."""
    driver = Driver()
    assert driver.do(make_task("t1"), OP.PREPARE)[1].outcome is Outcome.OK
    driver.executor.fail_pulls("web")
    assert driver.do(make_task("t2"), OP.PREPARE)[1].outcome is Outcome.OK
    assert driver.do(make_task("t3", image="other"), OP.PREPARE)[1].outcome is Outcome.OK
    driver.executor.fail_pulls("other")
    assert driver.do(make_task("t4", image="new"), OP.PREPARE)[1].outcome is Outcome.OK


# -- the stop signal ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signal", "after", "code"),
    [
        ("", 2.0, 0),  # SIGTERM by default: handled, it exits 0 after 2 s
        ("SIGINT", 2.0, 0),
        ("int", 2.0, 0),
        ("2", 2.0, 0),
        ("SIGQUIT", 10.0, KILLED_EXIT_CODE),  # ignored: killed at the grace period
        ("SIGKILL", 0.0, KILLED_EXIT_CODE),  # kills at once
        ("9", 0.0, KILLED_EXIT_CODE),
    ],
)
def test_a_container_stops_on_its_stop_signal_or_is_killed_at_the_grace_period(
    signal: str, after: float, code: int
) -> None:
    task = make_task(stop_signal=signal)
    driver = Driver().running(task)
    asked = driver.env.now
    when, result = driver.do(task, OP.SHUTDOWN)
    assert when - asked == pytest.approx(after)
    assert result.outcome is Outcome.OK
    assert result.container is not None and result.container.exit_code == code


def test_a_handled_signal_too_slow_for_the_grace_period_is_cut_short() -> None:
    task = make_task(grace=1.0)
    driver = Driver().running(task)
    asked = driver.env.now
    when, result = driver.do(task, OP.SHUTDOWN)
    assert when - asked == pytest.approx(1.0)
    assert result.container is not None and result.container.exit_code == KILLED_EXIT_CODE


def test_an_unknown_stop_signal_rejects_the_task_when_its_container_is_created() -> None:
    result = Driver().do(make_task(stop_signal="SIGFOO"), OP.PREPARE)[1]
    assert result.outcome is Outcome.FATAL and result.error == "invalid signal: SIGFOO"


def test_signals_read_as_dockerd_reads_them() -> None:
    assert parse_signal("SIGTERM") == parse_signal("term") == parse_signal("15") == "SIGTERM"
    assert parse_signal("0") is None and parse_signal("99") is None
    assert parse_signal("SIGFOO") is None


# -- published host ports ----------------------------------------------------------------------


def host_port(target: int, published: int = 0) -> PortConfig:
    return PortConfig(target_port=target, published_port=published, publish_mode=PublishMode.HOST)


def test_a_started_container_binds_its_host_ports_and_its_answers_carry_them() -> None:
    ingress = PortConfig(target_port=443, published_port=30000)
    task = make_task(ports=(host_port(80, 8080), host_port(81), ingress))
    driver = Driver()
    assert driver.do(task, OP.PREPARE)[1].ports is None  # nothing is bound before a start
    started = driver.do(task, OP.START)[1]
    assert started.ports is not None
    fixed, drawn = started.ports
    assert (fixed.target_port, fixed.published_port) == (80, 8080)
    low, high = EPHEMERAL_PORTS
    assert drawn.target_port == 81 and low <= drawn.published_port <= high
    assert {p.publish_mode for p in started.ports} == {PublishMode.HOST}
    assert driver.do(task, OP.INSPECT)[1].ports == started.ports
    stopped = driver.do(task, OP.SHUTDOWN)[1]
    assert stopped.ports == ()  # an exited container binds nothing
    assert driver.executor.bound_ports() == set()


def test_random_host_ports_differ_between_containers_and_a_taken_port_fails_the_start() -> None:
    driver = Driver()
    first, second = make_task("t1", ports=(host_port(80),)), make_task("t2", ports=(host_port(80),))
    a = driver.running(first).do(first, OP.INSPECT)[1].ports
    b = driver.running(second).do(second, OP.INSPECT)[1].ports
    assert a and b and a[0].published_port != b[0].published_port
    taken = a[0].published_port
    clash = make_task("t3", ports=(host_port(80, taken),))
    assert driver.do(clash, OP.PREPARE)[1].outcome is Outcome.OK
    result = driver.do(clash, OP.START)[1]
    assert result.outcome is Outcome.FATAL
    assert result.error.endswith(f"Bind for 0.0.0.0:{taken} failed: port is already allocated")


def test_random_host_ports_come_from_the_executors_seeded_stream() -> None:
    def drawn(seed: int) -> int:
        task = make_task(ports=(host_port(80),))
        ports = Driver(seed).running(task).do(task, OP.INSPECT)[1].ports
        assert ports is not None
        return ports[0].published_port

    assert drawn(1) == drawn(1)
    assert len({drawn(seed) for seed in range(5)}) > 1
