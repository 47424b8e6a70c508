"""A scripted executor, and a small event loop that drives task controllers with it.

Tests of the agent's task controller and the task-state demo use it to say exactly
what the runtime answers ("prepare fails with a temporary error, then succeeds after
2 s"). Unscripted operations succeed at once, except ``wait``, which by default never
returns (a long-running service). It is deterministic and keeps a log of every call.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from core.model.task import Task, TaskStatus
from core.model.wire import replace
from core.tasks.controller import ControllerOutput, TaskController
from core.tasks.executor import (
    Executor,
    ExecutorCommand,
    ExecutorResult,
    Operation,
    OperationResult,
    OperationToken,
    Outcome,
)
from core.tasks.states import TaskState

FOREVER = math.inf


@dataclass(frozen=True, slots=True)
class Scripted:
    """One answer: the result and how many seconds the operation takes."""

    result: OperationResult
    seconds: float = 0.0


def ok(seconds: float = 0.0) -> Scripted:
    return Scripted(OperationResult(Outcome.OK), seconds)


def exits(code: int, seconds: float = 0.0) -> Scripted:
    return Scripted(OperationResult(Outcome.EXITED, exit_code=code), seconds)


def fatal(error: str, seconds: float = 0.0) -> Scripted:
    return Scripted(OperationResult(Outcome.FATAL, error=error), seconds)


def temporary(error: str, seconds: float = 0.0) -> Scripted:
    return Scripted(OperationResult(Outcome.TEMPORARY, error=error), seconds)


def already(seconds: float = 0.0) -> Scripted:
    return Scripted(OperationResult(Outcome.ALREADY), seconds)


_RUNS_FOREVER = Scripted(OperationResult(Outcome.OK), FOREVER)


class ScriptedExecutor:
    """Answers each operation from its script, in order, then with the default."""

    def __init__(self) -> None:
        self._scripts: dict[tuple[str, Operation], deque[Scripted]] = defaultdict(deque)
        self.calls: list[tuple[str, Operation]] = []

    def script(self, task_id: str, operation: Operation, answers: Iterable[Scripted]) -> None:
        self._scripts[(task_id, operation)].extend(answers)

    def answer(self, command: ExecutorCommand) -> tuple[float, ExecutorResult]:
        """The time the command takes and its result (for event-driven drivers)."""
        task_id = command.task.id
        self.calls.append((task_id, command.operation))
        queue = self._scripts.get((task_id, command.operation))
        if queue:
            scripted = queue.popleft()
        elif command.operation is Operation.WAIT:
            scripted = _RUNS_FOREVER
        else:
            scripted = ok()
        return scripted.seconds, ExecutorResult(command.token, command.operation, scripted.result)

    def _sync(self, operation: Operation, task: Task) -> OperationResult:
        token = OperationToken(task.id, 0, 0)
        seconds, result = self.answer(ExecutorCommand(token, operation, task))
        if seconds == FOREVER:
            raise RuntimeError(f"{operation.value} of task {task.id} never returns in this script")
        return result.result

    def prepare(self, task: Task) -> OperationResult:
        return self._sync(Operation.PREPARE, task)

    def start(self, task: Task) -> OperationResult:
        return self._sync(Operation.START, task)

    def wait(self, task: Task) -> OperationResult:
        return self._sync(Operation.WAIT, task)

    def shutdown(self, task: Task) -> OperationResult:
        return self._sync(Operation.SHUTDOWN, task)

    def remove(self, task: Task) -> OperationResult:
        return self._sync(Operation.REMOVE, task)

    def inspect(self, task: Task) -> OperationResult:
        return self._sync(Operation.INSPECT, task)

    def logs(self, task: Task) -> OperationResult:
        return self._sync(Operation.LOGS, task)


# mypy checks that the scripted executor conforms to the protocol, signatures included
# (tests/ is outside mypy's files; the runtime check there sees only method names).
_CONFORMS: Executor = ScriptedExecutor()


@dataclass(order=True)
class _Event:
    time: float
    sequence: int
    action: str = field(compare=False)
    task_id: str = field(compare=False)
    payload: object = field(compare=False, default=None)


@dataclass(frozen=True, slots=True)
class Report:
    """A status an agent reported, with the simulated time it was sent."""

    time: float
    task_id: str
    status: TaskStatus


class ControllerLoop:
    """A tiny deterministic event loop: task controllers against a scripted executor.

    Commands take the scripted time, retries wake the controller at its deadline, and
    scripted desired-state changes and closes arrive at given times. Ties break in the
    order events were scheduled, so a run is a pure function of its script.
    """

    def __init__(self, executor: ScriptedExecutor, wall_epoch: float = 0.0) -> None:
        self.executor = executor
        self.wall_epoch = wall_epoch
        self.controllers: dict[str, TaskController] = {}
        self.reports: list[Report] = []
        self._queue: list[_Event] = []
        self._sequence = 0

    def add(self, controller: TaskController, at: float = 0.0) -> None:
        self.controllers[controller.task.id] = controller
        self._at(at, "start", controller.task.id)

    def desire(self, at: float, task_id: str, state: TaskState) -> None:
        self._at(at, "desire", task_id, state)

    def close(self, at: float, task_id: str) -> None:
        self._at(at, "close", task_id)

    def run(self, until: float) -> None:
        while self._queue and self._queue[0].time <= until:
            event = heapq.heappop(self._queue)
            self._absorb(event.time, event.task_id, self._dispatch(event))

    def _dispatch(self, event: _Event) -> ControllerOutput:
        now, wall = event.time, self.wall_epoch + event.time
        controller = self.controllers[event.task_id]
        if event.action == "start":
            return controller.start(now, wall)
        if event.action == "result":
            assert isinstance(event.payload, ExecutorResult)
            return controller.on_result(event.payload, now, wall)
        if event.action == "tick":
            return controller.tick(now, wall)
        if event.action == "close":
            return controller.close(now, wall)
        assert isinstance(event.payload, TaskState)
        return controller.update(replace(controller.task, desired_state=event.payload), now, wall)

    def _at(self, time: float, action: str, task_id: str, payload: object = None) -> None:
        self._sequence += 1
        heapq.heappush(self._queue, _Event(time, self._sequence, action, task_id, payload))

    def _absorb(self, now: float, task_id: str, output: ControllerOutput) -> None:
        for status in output.reports:
            self.reports.append(Report(now, task_id, status))
        for command in output.commands:
            seconds, result = self.executor.answer(command)
            if seconds != FOREVER:
                self._at(now + seconds, "result", task_id, result)
        if output.next_deadline is not None:
            self._at(output.next_deadline, "tick", task_id)
