"""The simulated container runtime of one host: what "runs" in a simulation.

Each image has a :class:`ImageBehaviour`: how long its pull and start take, whether
and when its container exits and with what code (a crash loop is an image that
exits non-zero soon after every start), whether it is missing from the registry
(prepare fails for good: the task is REJECTED), an out-of-memory kill (exit 137),
and how long it takes to stop on SIGTERM (cut at the task's stop grace period,
10 s by default, then killed with 137). Unknown images behave as the default: a
short pull and start, then running until stopped.

The executor is the ground truth of what runs: tests ask it which containers are
running, not only the store. Containers are keyed by task id (the label a real
agent finds them by), so an agent that restarts finds its containers here.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import simpy

from core.model.defaults import effective_stop_grace_period_ns
from core.model.duration import SECOND
from core.model.task import ContainerStatus, Task
from core.tasks.executor import (
    ExecutorCommand,
    ExecutorResult,
    Operation,
    OperationResult,
    Outcome,
)

OOM_EXIT_CODE = 137
KILLED_EXIT_CODE = 137


@dataclass(frozen=True)
class ImageBehaviour:
    pull_seconds: float = 0.5
    start_seconds: float = 0.2
    exit_after: float | None = None  # seconds after start; None: runs until stopped
    exit_code: int = 0
    missing: bool = False  # not in any registry
    oom_after: float | None = None  # killed for memory after this long: exit 137
    stop_seconds: float = 0.1  # how long it takes to exit on SIGTERM


@dataclass
class Container:
    task_id: str
    image: str
    container_id: str
    started_at: float | None = None
    exited: int | None = None  # exit code once it has exited
    waiters: list[Callable[[int], None]] = field(default_factory=list)

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
    ) -> None:
        self.env = env
        self.rng = rng
        self.images = images
        self.deliver = deliver
        self.containers: dict[str, Container] = {}
        self.pulled: set[str] = set()
        self.logs: list[tuple[float, str, str]] = []  # (time, task id, line)
        self.alive = True

    def behaviour(self, image: str) -> ImageBehaviour:
        return self.images.get(image, self.images.get("*", ImageBehaviour()))

    # -- the host's life -----------------------------------------------------------------

    def host_crashed(self) -> None:
        """Power off: every container stops (dockerd and its children die)."""
        self.alive = False
        for container in self.containers.values():
            if container.running:
                container.exited = KILLED_EXIT_CODE
            container.waiters.clear()

    def host_started(self, deliver: Callable[[ExecutorResult], None]) -> None:
        self.alive = True
        self.deliver = deliver

    def running(self) -> list[Container]:
        return [c for _, c in sorted(self.containers.items()) if c.running]

    # -- commands ----------------------------------------------------------------------------

    def run(self, command: ExecutorCommand) -> None:
        task, op = command.task, command.operation
        image = _image(task)
        behaviour = self.behaviour(image)

        def answer(result: OperationResult, after: float = 0.0) -> None:
            self._later(after, lambda: self._deliver(command, result))

        container = self.containers.get(task.id)
        if op is Operation.PREPARE:
            if container is not None:
                answer(OperationResult(Outcome.ALREADY))
                return
            if behaviour.missing:
                error = f"No such image: {image}"
                answer(OperationResult(Outcome.FATAL, error=error), behaviour.pull_seconds)
                return
            pull = 0.0 if image in self.pulled else behaviour.pull_seconds

            def created() -> None:
                self.pulled.add(image)
                if task.id not in self.containers:
                    cid = f"{self.rng.getrandbits(256):064x}"
                    self.containers[task.id] = Container(task.id, image, cid)
                self._deliver(command, OperationResult(Outcome.OK))

            self._later(pull, created)
        elif op is Operation.START:
            if container is None:
                answer(OperationResult(Outcome.FATAL, error=f"No such container: {task.id}"))
                return
            if container.started_at is not None:
                answer(OperationResult(Outcome.ALREADY, container=self._status(container)))
                return
            self._later(behaviour.start_seconds, lambda: self._start(command, container, behaviour))
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
        elif op is Operation.INSPECT:
            if container is None or container.started_at is None:
                answer(OperationResult(Outcome.FATAL, error=f"No such container: {task.id}"))
            elif container.exited is not None:
                answer(self._exit_result(container))
            else:
                answer(OperationResult(Outcome.OK, container=self._status(container)))
        elif op is Operation.SHUTDOWN:
            if container is None or not container.running:
                answer(OperationResult(Outcome.OK))
                return
            grace = effective_stop_grace_period_ns(task.spec.container_spec) / SECOND
            after = min(behaviour.stop_seconds, grace)
            code = 0 if behaviour.stop_seconds <= grace else KILLED_EXIT_CODE

            def stopped() -> None:
                self._exit(container, code)
                self._deliver(
                    command, OperationResult(Outcome.OK, container=self._status(container))
                )

            self._later(after, stopped)
        elif op is Operation.REMOVE:
            if container is not None and container.running:
                self._exit(container, KILLED_EXIT_CODE)
            self.containers.pop(task.id, None)
            answer(OperationResult(Outcome.OK))

    def _start(self, command: ExecutorCommand, container: Container, b: ImageBehaviour) -> None:
        if not self.alive or self.containers.get(container.task_id) is not container:
            return
        container.started_at = self.env.now
        self.logs.append((self.env.now, container.task_id, f"started {container.image}"))
        self._deliver(command, OperationResult(Outcome.OK, container=self._status(container)))
        ends = [(b.exit_after, b.exit_code), (b.oom_after, OOM_EXIT_CODE)]
        for after, code in ends:
            if after is not None:
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
        assert container.exited is not None
        return OperationResult(
            Outcome.EXITED, exit_code=container.exited, container=self._status(container)
        )

    def _status(self, container: Container) -> ContainerStatus:
        return ContainerStatus(
            container_id=container.container_id,
            pid=1000 + int(container.container_id[:4], 16),
            exit_code=container.exited or 0,
        )

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        event = self.env.timeout(delay)
        event.callbacks.append(lambda _e: action() if self.alive else None)

    def _deliver(self, command: ExecutorCommand, result: OperationResult) -> None:
        if self.alive:
            self.deliver(ExecutorResult(command.token, command.operation, result))


def _image(task: Task) -> str:
    spec = task.spec.container_spec
    return spec.image if spec is not None else ""
