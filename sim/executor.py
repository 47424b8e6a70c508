"""The simulated container runtime of one host: what "runs" in a simulation.

Each image has a :class:`ImageBehaviour`: how long its pull and start take, whether
and when its container exits and with what code (a crash loop is an image that
exits non-zero soon after every start), whether it is missing from the registry
(prepare fails for good: the task is REJECTED), an out-of-memory kill (exit 137),
and how long it takes to stop on SIGTERM (cut at the task's stop grace period,
10 s by default, then killed with 137), and how its health check command answers.
Unknown images behave as the default: a short pull and start, then running until
stopped, every health probe passing at once.

Health checks are dockerd's: a container whose task spec has one (see
:func:`core.model.defaults.effective_healthcheck`) is "starting" when it starts; the
first probe runs one interval later (the start interval while a start period lasts and
it is still starting), the next one interval after the previous probe finished. A pass
makes it "healthy" and clears the failure streak; a failure counts unless the
container is still starting and the probe began inside the start period; ``retries``
counted failures in a row make it "unhealthy". A probe slower than the timeout fails.

Stopping sends the task's stop signal (``--stop-signal``, SIGTERM by default): an
image that exits on that signal (:attr:`ImageBehaviour.stop_signals`) takes its
``stop_seconds`` and exits 0 (if that fits in the grace period); one that ignores it
is killed at the grace period, exit 137; SIGKILL kills at once. A stop signal dockerd
does not know rejects the task when its container is created (``invalid signal: X``).

Faults a test or scenario injects on one host: :meth:`SimExecutor.kill` (the
container exits 137 at once, as ``docker kill`` leaves it) and
:meth:`SimExecutor.fail_pulls` (pulls of an image fail on this host: as dockerd, the
container is still created if the image is here already, else creating it fails with
``No such image: X`` and the task is REJECTED).

Published host ports: a started container binds each host-mode port of its task's
endpoint, the published port or, without one, a free port drawn from the host's
ephemeral range (:data:`EPHEMERAL_PORTS`) from the executor's seeded stream; a port
another running container holds fails the start as dockerd's port allocator does.
START and INSPECT answer the bound ports (the task's PortStatus); an exit frees them.

On top of that, what SwarmKit's container controller does with it: START of a
container with a health check answers only once it is healthy (OK) or has exited
(an exit 0 is OK, any other code fails the task with its exit error). When it turns
unhealthy while a START or WAIT watches it, or an INSPECT finds it unhealthy, the
executor stops it as SHUTDOWN would (SIGTERM, killed at the stop grace period) and,
once it has exited, answers FATAL :data:`UNHEALTHY_ERROR`: the task fails and its
container is not left running.

The executor is the ground truth of what runs: tests ask it which containers are
running, not only the store. Containers are keyed by task id (the label a real
agent finds them by), so an agent that restarts finds its containers here.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import simpy

from core.model.defaults import effective_healthcheck, effective_stop_grace_period_ns
from core.model.duration import SECOND
from core.model.enums import PortProtocol, PublishMode
from core.model.service import HealthConfig, PortConfig
from core.model.task import ContainerStatus, Task, needs_sandbox
from core.tasks.controller import exit_error
from core.tasks.executor import (
    UNHEALTHY_ERROR,
    ExecutorCommand,
    ExecutorResult,
    Operation,
    OperationResult,
    Outcome,
    TaskFile,
)
from sim.dockerd import IDEAL, SimDockerd

OOM_EXIT_CODE = 137
KILLED_EXIT_CODE = 137


HealthStatus = Literal["starting", "healthy", "unhealthy"]

#: The host's ephemeral port range (Linux's ``ip_local_port_range``), from which
#: dockerd picks a host-mode port published without a number.
EPHEMERAL_PORTS = (32768, 60999)

#: Linux's signals by number, as dockerd reads ``--stop-signal`` (a name with or
#: without ``SIG``, any case, or a number).
SIGNALS = (
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
)  # fmt: skip
DEFAULT_STOP_SIGNAL = "SIGTERM"


def parse_signal(text: str) -> str | None:
    """``SIGTERM`` for "SIGTERM", "term" or "15"; None for what is no signal."""
    if text.isdigit():
        number = int(text)
        return f"SIG{SIGNALS[number - 1]}" if 1 <= number <= len(SIGNALS) else None
    name = text.upper().removeprefix("SIG")
    return f"SIG{name}" if name in SIGNALS else None


@dataclass(frozen=True)
class ImageBehaviour:
    pull_seconds: float = 0.5
    start_seconds: float = 0.2
    exit_after: float | None = None  # seconds after start; None: runs until stopped
    exit_code: int = 0
    missing: bool = False  # not in any registry
    oom_after: float | None = None  # killed for memory after this long: exit 137
    stop_seconds: float = 0.1  # how long it takes to exit on a stop signal it handles
    stop_signals: tuple[str, ...] = ("SIGTERM", "SIGINT")  # the signals it exits on
    output: tuple[str, ...] = ()  # lines the container prints when it starts
    # How its health check command answers (when the task spec configures one). A probe
    # that begins ``t`` seconds after the container started passes when
    # ``healthy_after <= t`` and, if ``unhealthy_after`` is set, ``t < unhealthy_after``;
    # so ``healthy_after=math.inf`` (or ``unhealthy_after=0``) never passes.
    healthy_after: float = 0.0  # probes fail until this many seconds after start
    unhealthy_after: float | None = None  # probes fail from this many seconds on
    probe_seconds: float = 0.0  # how long a probe takes; beyond the timeout it fails

    def probe_passes(self, since_start: float) -> bool:
        """Whether the check command, begun ``since_start`` seconds after the start, passes."""
        if since_start < self.healthy_after:
            return False
        return self.unhealthy_after is None or since_start < self.unhealthy_after


@dataclass
class Container:
    task_id: str
    image: str
    container_id: str
    started_at: float | None = None
    exited: int | None = None  # exit code once it has exited
    waiters: list[Callable[[int], None]] = field(default_factory=list)
    output: list[tuple[float, str]] = field(default_factory=list)  # (wall seconds, line)
    # None: no health check; otherwise its last status (kept after the container exits).
    health: HealthStatus | None = None
    failing_streak: int = 0  # consecutive counted probe failures
    stopped_unhealthy: bool = False  # the executor stopped it for failing its check
    health_waiters: list[Callable[[HealthStatus], None]] = field(default_factory=list)
    # dockerd holds a container's lock while it starts it: a stop (or another start)
    # asked meanwhile waits here, and runs once the start is over.
    starting: bool = False
    after_start: list[Callable[[], None]] = field(default_factory=list)
    ports: tuple[PortConfig, ...] = ()  # the host ports it binds while it runs
    # Its secrets and configs by path, as mounted (dockerd: read-only, from tmpfs).
    files: dict[str, TaskFile] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.started_at is not None and self.exited is None


class SimExecutor:
    """One host's containers; commands complete as SimPy callbacks."""

    def __init__(
        self,
        env: simpy.Environment,
        rng: random.Random,
        images: dict[str, ImageBehaviour],
        deliver: Callable[[ExecutorResult], None],
        wall: Callable[[], float] | None = None,
        dockerd: SimDockerd | None = None,
        attach: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        """``wall``: the host's wall clock, which stamps the containers' output
        (default: simulated seconds); ``dockerd``: what each operation costs (default:
        nothing, see sim/dockerd.py); ``attach``: the host's data plane joining a
        task's sandbox to its networks, then calling back (default: at once)."""
        self.env = env
        self.dockerd = dockerd if dockerd is not None else SimDockerd(env, IDEAL, None)
        self.attach = attach
        self.wall = wall if wall is not None else (lambda: float(env.now))
        self.rng = rng
        self.images = images
        self.deliver = deliver
        self.containers: dict[str, Container] = {}
        self.pulled: set[str] = set()
        self.logs: list[tuple[float, str, str]] = []  # (time, task id, line)
        self.alive = True
        self.failing_pulls: set[str] = set()  # images this host cannot pull
        self.life = 0  # counts crashes: a timer armed in an earlier life never fires

    def behaviour(self, image: str) -> ImageBehaviour:
        return self.images.get(image, self.images.get("*", ImageBehaviour()))

    # -- the host's life -----------------------------------------------------------------

    def host_crashed(self) -> None:
        """Power off: every container stops (dockerd and its children die)."""
        self.alive = False
        self.life += 1  # what was under way dies with dockerd
        self.dockerd.crash()
        for container in self.containers.values():
            if container.running:
                container.exited = KILLED_EXIT_CODE
            container.waiters.clear()
            container.health_waiters.clear()
            container.starting = False
            container.after_start.clear()

    def host_started(self, deliver: Callable[[ExecutorResult], None]) -> None:
        self.alive = True
        self.deliver = deliver

    def running(self) -> list[Container]:
        return [c for _, c in sorted(self.containers.items()) if c.running]

    # -- faults --------------------------------------------------------------------------

    def kill(self, task_id: str) -> bool:
        """SIGKILL the task's container: it exits 137 at once. False if none runs."""
        container = self.containers.get(task_id)
        if container is None or not container.running:
            return False
        self.logs.append((self.env.now, task_id, "killed"))
        self._exit(container, KILLED_EXIT_CODE)
        return True

    def fail_pulls(self, image: str, failing: bool = True) -> None:
        """From now on pulls of ``image`` fail on this host (or work again)."""
        if failing:
            self.failing_pulls.add(image)
        else:
            self.failing_pulls.discard(image)

    def bound_ports(self) -> set[tuple[str, int]]:
        """(protocol, host port) of every port a running container binds."""
        return {
            (str(p.protocol or PortProtocol.TCP), p.published_port)
            for c in self.containers.values()
            if c.running
            for p in c.ports
        }

    # -- commands ----------------------------------------------------------------------------

    def run(self, command: ExecutorCommand) -> None:
        task, op = command.task, command.operation
        image = _image(task)
        behaviour = self.behaviour(image)

        def answer(result: OperationResult, after: float = 0.0) -> None:
            self._later(after, lambda: self._deliver(command, result))

        container = self.containers.get(task.id)
        if container is not None and container.starting and op in _AFTER_START:
            container.after_start.append(functools.partial(self.run, command))
            return
        if op is Operation.PREPARE:
            if container is not None:
                answer(OperationResult(Outcome.ALREADY))
                return
            signal = _stop_signal_text(task)
            if signal and parse_signal(signal) is None:
                answer(OperationResult(Outcome.FATAL, error=f"invalid signal: {signal}"))
                return
            unpullable = image in self.failing_pulls and image not in self.pulled
            if behaviour.missing or unpullable:
                error = f"No such image: {image}"
                failed = OperationResult(Outcome.FATAL, error=error)
                self._engine("pull", lambda: answer(failed, behaviour.pull_seconds))
                return
            pull = 0.0 if image in self.pulled else behaviour.pull_seconds

            def created() -> None:
                self.pulled.add(image)
                if task.id not in self.containers:
                    cid = f"{self.rng.getrandbits(256):064x}"
                    files = {f.path: f for f in command.files}
                    self.containers[task.id] = Container(task.id, image, cid, files=files)
                self._deliver(command, OperationResult(Outcome.OK))

            def pulled() -> None:
                if needs_sandbox(task):
                    self._engine("sandbox", lambda: self._joined(task, create))
                else:
                    create()

            def create() -> None:
                self._engine("create", created)

            self._engine("pull", lambda: self._later(pull, pulled))
        elif op is Operation.START:
            if container is None:
                answer(OperationResult(Outcome.FATAL, error=f"No such container: {task.id}"))
                return
            if container.started_at is not None:
                answer(self._result(Outcome.ALREADY, container))
                return
            container.starting = True
            self._engine(
                "start",
                lambda: self._later(
                    behaviour.start_seconds, lambda: self._start(command, container, behaviour)
                ),
            )
        elif op is Operation.WAIT:
            if container is None:
                answer(OperationResult(Outcome.FATAL, error=f"No such container: {task.id}"))
                return
            if container.exited is not None:
                answer(self._exit_result(container))
                return
            container.waiters.append(
                lambda code: self._deliver(command, self._exit_result(container))
            )
            if container.health == "unhealthy":
                self._stop_unhealthy(container, task)
            elif container.health is not None:
                container.health_waiters.append(
                    lambda status: (
                        self._stop_unhealthy(container, task) if status == "unhealthy" else None
                    )
                )
        elif op is Operation.INSPECT:
            if container is None or container.started_at is None:
                answer(OperationResult(Outcome.FATAL, error=f"No such container: {task.id}"))
            elif container.exited is not None:
                answer(self._exit_result(container))
            elif container.health == "unhealthy":
                container.waiters.append(
                    lambda code: self._deliver(command, self._exit_result(container))
                )
                self._stop_unhealthy(container, task)
            else:
                answer(self._result(Outcome.OK, container))
        elif op is Operation.LOGS:
            if container is None:
                answer(OperationResult(Outcome.FATAL, error=f"No such container: {task.id}"))
            else:
                answer(OperationResult(Outcome.OK, output=tuple(container.output)))
        elif op is Operation.SHUTDOWN:
            if container is None or not container.running:
                answer(OperationResult(Outcome.OK))
                return
            after, code = _stopping(behaviour, task)

            def stopped() -> None:
                self._exit(container, code)
                result = self._result(Outcome.OK, container)
                self._engine("stop", lambda: self._deliver(command, result))

            self._later(after, stopped)
        elif op is Operation.REMOVE:
            if container is not None and container.running:
                self._exit(container, KILLED_EXIT_CODE)
            self.containers.pop(task.id, None)
            if container is None:
                answer(OperationResult(Outcome.OK))
            else:
                self._engine("remove", lambda: answer(OperationResult(Outcome.OK)))

    def _start(self, command: ExecutorCommand, container: Container, b: ImageBehaviour) -> None:
        container.starting = False
        waiting, container.after_start = container.after_start, []
        if self.alive and self.containers.get(container.task_id) is container:
            self._run_start(command, container, b)
        for action in waiting:
            action()

    def _run_start(self, command: ExecutorCommand, container: Container, b: ImageBehaviour) -> None:
        ports = self._bind(command.task)
        if isinstance(ports, str):
            self._deliver(command, OperationResult(Outcome.FATAL, error=ports))
            return
        container.ports = ports
        container.started_at = self.env.now
        self.logs.append((self.env.now, container.task_id, f"started {container.image}"))
        container.output.extend((self.wall(), line) for line in b.output)
        check = effective_healthcheck(command.task.spec.container_spec)
        if check is None:
            self._deliver(command, self._result(Outcome.OK, container))
        else:
            self._set_health(container, "starting")
            self._answer_start_when_healthy(command, container)
            self._next_probe(container, b, check, 0.0)
        ends = [(b.exit_after, b.exit_code), (b.oom_after, OOM_EXIT_CODE)]
        for after, code in ends:
            if after is not None:
                self._later(after, functools.partial(self._exit, container, code))

    def _bind(self, task: Task) -> tuple[PortConfig, ...] | str:
        """The host ports the task's container binds, or dockerd's error when one is
        taken. A port published without a number gets a free ephemeral one."""
        wanted = [
            p
            for p in (task.endpoint.ports if task.endpoint is not None else ())
            if p.publish_mode is PublishMode.HOST
        ]
        taken = self.bound_ports()
        low, high = EPHEMERAL_PORTS
        bound = []
        for port in wanted:
            protocol = str(port.protocol or PortProtocol.TCP)
            published = port.published_port
            if published and (protocol, published) in taken:
                return (
                    f"driver failed programming external connectivity on endpoint "
                    f"{task.name or task.id}: Bind for 0.0.0.0:{published} failed: "
                    "port is already allocated"
                )
            while not published or (protocol, published) in taken:
                published = self.rng.randint(low, high)
            taken.add((protocol, published))
            bound.append(
                PortConfig(
                    name=port.name,
                    protocol=port.protocol or PortProtocol.TCP,
                    target_port=port.target_port,
                    published_port=published,
                    publish_mode=PublishMode.HOST,
                )
            )
        return tuple(bound)

    # -- health checks -------------------------------------------------------------------

    def _answer_start_when_healthy(self, command: ExecutorCommand, container: Container) -> None:
        """SwarmKit's START of a container with a health check: OK once it is healthy;
        if it turns unhealthy, stop it and fail; if it exits, conclude from the code."""
        answered = False

        def finish(result: OperationResult) -> None:
            nonlocal answered
            if answered:
                return
            answered = True
            if on_health in container.health_waiters:
                container.health_waiters.remove(on_health)
            if on_exit in container.waiters:
                container.waiters.remove(on_exit)
            self._deliver(command, result)

        def on_health(status: HealthStatus) -> None:
            if status == "healthy":
                finish(self._result(Outcome.OK, container))
            elif status == "unhealthy":
                self._stop_unhealthy(container, command.task)  # on_exit answers

        def on_exit(code: int) -> None:
            if container.stopped_unhealthy:
                finish(self._exit_result(container))
            elif code != 0:
                finish(self._failed(container, exit_error(code)))
            else:  # as SwarmKit: started; the WAIT that follows finds the exit 0
                finish(self._result(Outcome.OK, container))

        container.health_waiters.append(on_health)
        container.waiters.append(on_exit)

    # Times in the probe chain are seconds since the container started, carried along
    # (not recomputed from ``env.now``) so that a probe due at 4 s is at exactly 4.0.

    def _next_probe(
        self, container: Container, b: ImageBehaviour, check: HealthConfig, now: float
    ) -> None:
        """Arm the next probe, as dockerd's monitor resets its timer after each probe."""
        if now < check.start_period_ns / SECOND and container.health == "starting":
            interval = check.start_interval_ns / SECOND
        else:
            interval = check.interval_ns / SECOND
        self._later(interval, lambda: self._probe(container, b, check, now + interval))

    def _probe(
        self, container: Container, b: ImageBehaviour, check: HealthConfig, began: float
    ) -> None:
        if not container.running:
            return  # probes stop with the container
        timeout = check.timeout_ns / SECOND
        passed = b.probe_seconds <= timeout and b.probe_passes(began)
        took = min(b.probe_seconds, timeout)
        self._later(took, lambda: self._probe_result(container, b, check, began, took, passed))

    def _probe_result(
        self,
        container: Container,
        b: ImageBehaviour,
        check: HealthConfig,
        began: float,
        took: float,
        passed: bool,
    ) -> None:
        if not container.running:
            return  # dockerd drops the result of a probe cut short by the exit
        if passed:
            container.failing_streak = 0
            self._set_health(container, "healthy")
        elif container.health != "starting" or began >= check.start_period_ns / SECOND:
            container.failing_streak += 1
            if container.failing_streak >= check.retries:
                self._set_health(container, "unhealthy")
        self._next_probe(container, b, check, began + took)

    def _set_health(self, container: Container, status: HealthStatus) -> None:
        if container.health == status:
            return
        container.health = status
        self.logs.append((self.env.now, container.task_id, f"health: {status}"))
        for waiter in list(container.health_waiters):
            waiter(status)

    def _stop_unhealthy(self, container: Container, task: Task) -> None:
        """Stop an unhealthy container as SHUTDOWN would; its watchers answer on exit."""
        if container.stopped_unhealthy or not container.running:
            return
        container.stopped_unhealthy = True
        self.logs.append((self.env.now, container.task_id, "stopping: unhealthy"))
        after, code = _stopping(self.behaviour(container.image), task)
        self._later(after, functools.partial(self._exit, container, code))

    def _exit(self, container: Container, code: int) -> None:
        if not container.running:
            return
        container.exited = code
        self.logs.append((self.env.now, container.task_id, f"exited with {code}"))
        waiters, container.waiters = container.waiters, []
        for waiter in waiters:
            waiter(code)

    def _exit_result(self, container: Container) -> OperationResult:
        """What WAIT or INSPECT answers for an exited container: its exit, or FATAL
        :data:`UNHEALTHY_ERROR` if the executor stopped it for failing its check."""
        assert container.exited is not None
        if container.stopped_unhealthy:
            return self._failed(container, UNHEALTHY_ERROR)
        return OperationResult(
            Outcome.EXITED, exit_code=container.exited, container=self._status(container), ports=()
        )

    def _failed(self, container: Container, error: str) -> OperationResult:
        assert container.exited is not None
        return OperationResult(
            Outcome.FATAL,
            error=error,
            exit_code=container.exited,
            container=self._status(container),
            ports=(),
        )

    def _result(self, outcome: Outcome, container: Container) -> OperationResult:
        """An answer about a container: its status, and the ports it binds now."""
        ports = container.ports if container.running else ()
        return OperationResult(outcome, container=self._status(container), ports=ports)

    def _status(self, container: Container) -> ContainerStatus:
        return ContainerStatus(
            container_id=container.container_id,
            pid=1000 + int(container.container_id[:4], 16),
            exit_code=container.exited or 0,
        )

    def _engine(self, operation: str, action: Callable[[], None]) -> None:
        """``action`` once dockerd has done ``operation`` (at once if it costs nothing),
        unless the host died meanwhile."""
        life = self.life
        self.dockerd.do(operation, lambda: action() if self.alive and self.life == life else None)

    def _joined(self, task: Task, action: Callable[[], None]) -> None:
        """``action`` once the task's sandbox is joined to its networks, unless the
        host died meanwhile (real/agent/sandbox.py plumbs it before the container)."""
        if self.attach is None or not task.networks_attachments:
            action()
            return
        life = self.life
        self.attach(lambda: action() if self.alive and self.life == life else None)

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        event = self.env.timeout(delay)
        life = self.life
        event.callbacks.append(lambda _e: action() if self.alive and self.life == life else None)

    def _deliver(self, command: ExecutorCommand, result: OperationResult) -> None:
        if self.alive:
            self.deliver(ExecutorResult(command.token, command.operation, result))


#: What waits for a start under way (dockerd's container lock); the rest answers at once.
_AFTER_START = (Operation.START, Operation.SHUTDOWN)


def _stopping(behaviour: ImageBehaviour, task: Task) -> tuple[float, int]:
    """How long a stop takes and the exit code: the stop signal, then SIGKILL at the
    grace period (at once if the stop signal is SIGKILL)."""
    grace = effective_stop_grace_period_ns(task.spec.container_spec) / SECOND
    signal = parse_signal(_stop_signal_text(task) or DEFAULT_STOP_SIGNAL)
    if signal == "SIGKILL":
        return 0.0, KILLED_EXIT_CODE
    if signal in behaviour.stop_signals and behaviour.stop_seconds <= grace:
        return behaviour.stop_seconds, 0
    return grace, KILLED_EXIT_CODE


def _stop_signal_text(task: Task) -> str:
    spec = task.spec.container_spec
    return spec.stop_signal if spec is not None else ""


def _image(task: Task) -> str:
    spec = task.spec.container_spec
    return spec.image if spec is not None else ""
