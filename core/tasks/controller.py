"""The agent's task controller: SwarmKit's ``exec.Do`` as an I/O-free state machine.

For one assigned task it decides, from the observed status and the desired state,
the next step, exactly as SwarmKit's agent does:

- desired SHUTDOWN or beyond: shut the container down, unless the task already
  finished (COMPLETE or later), which is a no-op;
- past the desired state: pause (do nothing);
- PREPARING, STARTING and RUNNING proceed even at the desired state: prepare then
  READY, start then RUNNING, wait then COMPLETE;
- otherwise only while desired is beyond the state: NEW/PENDING/ASSIGNED -> ACCEPTED,
  ACCEPTED -> PREPARING, READY -> STARTING. So a task desired READY parks at READY;
- a fatal error before STARTING rejects the task, at or after STARTING fails it;
  like SwarmKit's ``fatal``, it sets only the state and the error and keeps the
  message of the step that failed ("preparing", "started");
- a temporary error keeps the state and message, records the error and retries the
  same step after 1 s;
- a desired state raised to SHUTDOWN while an operation is out (a running task's
  wait, say) cancels it, and the shutdown follows 1 s later: SwarmKit's cancelled
  operation returns a context error, which Do answers with a retry, and its task
  manager backs off 1 s before running again. Docker's stop-first update, scale-down
  and drain all pay that second per task;
- a task on a network other than the default bridge (it has a service binding) is
  stopped GOSSIP_CONVERGE_SECONDS after it is told to, the time moby's executor
  gives its removal from the services' load balancing to spread before each stop
  (moby also waits before removing a container already stopped; shoal does not).

Inputs (``start``, ``update``, ``on_result``, ``tick``, ``close``) each return a
:class:`ControllerOutput`: executor commands to run, status reports to send (in
order), and the monotonic time the controller next wants a ``tick``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from core.errors import InvariantViolation
from core.model.task import PortStatus, Task, TaskStatus
from core.model.timestamp import Timestamp
from core.model.wire import replace
from core.tasks.executor import (
    ExecutorCommand,
    ExecutorResult,
    Operation,
    OperationResult,
    OperationToken,
    Outcome,
)
from core.tasks.states import TaskState
from core.tasks.transitions import Owner, check_transition

S = TaskState

#: Seconds before a step that failed with a temporary error is tried again.
RETRY_DELAY_SECONDS = 1.0

#: How long a task with a service binding waits between leaving its services' load
#: balancing and being stopped, for the change to spread (moby's container
#: controller: ``defaultGossipConvergeDelay``, hard-coded).
GOSSIP_CONVERGE_SECONDS = 2.0

#: Bound on status transitions taken in one input (there are at most 8 in a row).
STEPS_PER_INPUT_MAX = 16


# -- the decision (pure) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Advance:
    """Move to ``state`` without touching the executor."""

    state: TaskState
    message: str


@dataclass(frozen=True, slots=True)
class Invoke:
    """Run ``operation`` on the executor and conclude from its result."""

    operation: Operation


@dataclass(frozen=True, slots=True)
class Park:
    """Nothing to do until the desired state changes (SwarmKit's ErrTaskNoop)."""

    reason: str


Step = Advance | Invoke | Park

_PROCEEDING: dict[TaskState, Operation] = {
    S.PREPARING: Operation.PREPARE,
    S.STARTING: Operation.START,
    S.RUNNING: Operation.WAIT,
}

_ADVANCING: dict[TaskState, Advance] = {
    S.NEW: Advance(S.ACCEPTED, "accepted"),
    S.PENDING: Advance(S.ACCEPTED, "accepted"),
    S.ASSIGNED: Advance(S.ACCEPTED, "accepted"),
    S.ACCEPTED: Advance(S.PREPARING, "preparing"),
    S.READY: Advance(S.STARTING, "starting"),
}


def decide(state: TaskState, desired: TaskState) -> Step:
    """The next step for a task observed in ``state`` and desired in ``desired``."""
    if desired >= S.SHUTDOWN:
        if state >= S.COMPLETE:
            return Park("task already finished")
        return Invoke(Operation.SHUTDOWN)
    if state > desired:
        return Park("beyond the desired state")
    operation = _PROCEEDING.get(state)
    if operation is not None:
        return Invoke(operation)
    if state >= desired:
        return Park("at the desired state")
    advance = _ADVANCING.get(state)
    if advance is None:
        return Park("task already finished")
    return advance


@dataclass(frozen=True, slots=True)
class Concluded:
    """The task moves to ``state`` with ``message``/``err`` after an operation."""

    state: TaskState
    message: str
    err: str = ""


@dataclass(frozen=True, slots=True)
class Retry:
    """Keep the state, record ``err``, and run the same step again later."""

    err: str


@dataclass(frozen=True, slots=True)
class Continue:
    """The operation changed nothing observable; decide again (inspect found it running)."""


_SUCCESS: dict[Operation, Concluded] = {
    Operation.PREPARE: Concluded(S.READY, "prepared"),
    Operation.START: Concluded(S.RUNNING, "started"),
    Operation.WAIT: Concluded(S.COMPLETE, "finished"),
    Operation.SHUTDOWN: Concluded(S.SHUTDOWN, "shutdown"),
}


def has_service_binding(task: Task) -> bool:
    """The task is on a network other than the default bridge (moby's
    ``hasServiceBinding``): its stop waits for its unbinding to spread."""
    for attachment in task.networks_attachments:
        network = attachment.network
        driver = network.driver_state.name
        if driver and not (driver == "bridge" and network.spec.name == "bridge"):
            return True
    return False


def exit_error(exit_code: int) -> str:
    """Docker's error text for a container that exited non-zero."""
    return f"task: non-zero exit ({exit_code})"


def conclude(
    status: TaskStatus, operation: Operation, result: OperationResult
) -> Concluded | Retry | Continue:
    """What ``result`` of ``operation`` means for a task whose status is ``status``."""
    outcome = result.outcome
    if outcome is Outcome.TEMPORARY:
        return Retry(result.error)
    if outcome is Outcome.FATAL:
        return _fatal(status, result.error)
    if operation is Operation.INSPECT:
        if outcome is Outcome.EXITED:
            return _exited(status, result)
        return Continue()
    if outcome is Outcome.EXITED:
        if operation is not Operation.WAIT:
            raise InvariantViolation(f"executor answered {operation.value} with an exit")
        return _exited(status, result)
    return _SUCCESS[operation]


def _exited(status: TaskStatus, result: OperationResult) -> Concluded:
    if result.exit_code == 0:
        return _SUCCESS[Operation.WAIT]
    return _fatal(status, exit_error(result.exit_code if result.exit_code is not None else -1))


def _fatal(status: TaskStatus, err: str) -> Concluded:
    """SwarmKit's ``fatal``: the terminal state by where it failed; the message stays."""
    state = S.REJECTED if status.state < S.STARTING else S.FAILED
    return Concluded(state, status.message, err)


# -- the controller (stateful, still pure) ---------------------------------------------


class Phase(enum.Enum):
    """Where the controller is in its own life, beside the task's state."""

    IDLE = "idle"  # waiting for an input (parked)
    WAITING = "waiting"  # a command is out; waiting for its result
    RETRYING = "retrying"  # a temporary error; the same step runs at ``retry_at``
    UNBINDING = "unbinding"  # out of load balancing; the stop runs at ``unbind_at``
    REMOVING = "removing"  # closed: shutting down / removing the container
    DONE = "done"  # container removed; the controller can be dropped


@dataclass(frozen=True, slots=True)
class ControllerOutput:
    commands: tuple[ExecutorCommand, ...] = ()
    reports: tuple[TaskStatus, ...] = ()
    next_deadline: float | None = None


class TaskController:
    """Drives one task on one agent. Deterministic: same inputs, same outputs."""

    def __init__(self, task: Task, epoch: int, *, recovered: bool = False) -> None:
        if task.status.state is S.REMOVE:
            raise InvariantViolation(f"task {task.id} observed in REMOVE")
        self.task = task
        self.epoch = epoch
        self.phase = Phase.IDLE
        self._sequence = 0
        self._in_flight: ExecutorCommand | None = None
        self._retry_at: float | None = None
        self._unbind_at: float | None = None
        # An agent that restarts finds its RUNNING tasks by inspecting, not waiting blind.
        self._inspect_first = recovered and task.status.state is S.RUNNING
        self._removal_requested = False
        self._reports: list[TaskStatus] = []
        self._commands: list[ExecutorCommand] = []

    # -- inputs --------------------------------------------------------------------

    def start(self, mono: float, wall: float) -> ControllerOutput:
        """Begin driving the task."""
        return self._run(mono, wall)

    def update(self, task: Task, mono: float, wall: float) -> ControllerOutput:
        """A newer copy of the task from the manager. Its spec and a higher desired
        state are taken; a lower desired state is ignored (SwarmKit's agent does the
        same: desired state never goes down)."""
        if task.id != self.task.id:
            raise InvariantViolation(f"update for {task.id} sent to controller of {self.task.id}")
        desired = max(self.task.desired_state, task.desired_state)
        self.task = replace(task, status=self.task.status, desired_state=desired)
        if desired >= S.SHUTDOWN and self._cancellable():
            # SwarmKit's task manager cancels the operation; the cancelled operation
            # answers with a context error, which Do turns into ErrTaskRetry, and the
            # task manager runs again (now: the shutdown) only after its 1 s backoff.
            self._in_flight = None  # its result will be stale
            self.phase = Phase.RETRYING
            self._retry_at = mono + RETRY_DELAY_SECONDS
            return self._flush()
        if self.phase is Phase.RETRYING and not self._removal_requested:
            # As SwarmKit's task manager: an update re-runs the step at once.
            self.phase = Phase.IDLE
            self._retry_at = None
        return self._run(mono, wall)

    def on_result(self, result: ExecutorResult, mono: float, wall: float) -> ControllerOutput:
        """An executor result. Returns empty output if it is stale."""
        command = self._in_flight
        if command is None or result.token != command.token:
            return ControllerOutput(next_deadline=self._deadline())
        self._in_flight = None
        if self.phase is Phase.REMOVING:
            return self._on_removal_result(command.operation, result.result, mono, wall)
        self.phase = Phase.IDLE
        verdict = conclude(self.task.status, command.operation, result.result)
        if isinstance(verdict, Retry):
            if command.operation is Operation.INSPECT:
                self._inspect_first = True  # the same step again: inspect, not wait blind
            return self._retry_later(verdict.err, mono, wall, result.result)
        if isinstance(verdict, Concluded):
            self._set_status(
                wall,
                state=verdict.state,
                message=verdict.message,
                err=verdict.err,
                container=result.result,
            )
        return self._run(mono, wall)

    def tick(self, mono: float, wall: float) -> ControllerOutput:
        """Time passed; runs a pending retry, or the stop after the gossip wait,
        whose time has come."""
        unbound = self._unbind_at is not None and mono >= self._unbind_at
        if self.phase is Phase.UNBINDING and unbound:
            self._unbind_at = None
            self.phase = Phase.REMOVING if self._removal_requested else Phase.IDLE
            self._issue(Operation.SHUTDOWN)
            return self._flush()
        if self.phase is Phase.RETRYING and self._retry_at is not None and mono >= self._retry_at:
            self.phase = Phase.IDLE
            self._retry_at = None
            if self._removal_requested:
                self.phase = Phase.REMOVING
                return self._advance_removal(mono, wall)
            return self._run(mono, wall)
        return ControllerOutput(next_deadline=self._deadline())

    def close(self, mono: float, wall: float) -> ControllerOutput:
        """The task left the agent's assignments: stop it if needed, then remove it.

        Closing again changes nothing: a removal under way (or waiting out its retry
        delay, or behind a shutdown already running) goes on at its own pace."""
        if self._removal_requested:
            return ControllerOutput(next_deadline=self._deadline())
        self._removal_requested = True
        if self.phase is Phase.UNBINDING:
            return ControllerOutput(next_deadline=self._deadline())  # the stop, then removal
        if self._cancellable():
            self._in_flight = None
        if self._in_flight is None:
            self.phase = Phase.REMOVING
            self._retry_at = None
            return self._advance_removal(mono, wall)
        return ControllerOutput()

    # -- internals -----------------------------------------------------------------

    def _cancellable(self) -> bool:
        command = self._in_flight
        return command is not None and command.operation in (
            Operation.PREPARE,
            Operation.START,
            Operation.WAIT,
            Operation.INSPECT,
        )

    def _run(self, mono: float, wall: float) -> ControllerOutput:
        if self.phase is not Phase.IDLE:
            return self._flush()
        if self._removal_requested:
            self.phase = Phase.REMOVING
            return self._advance_removal(mono, wall)
        if self._inspect_first:
            self._inspect_first = False
            if self.task.desired_state < S.SHUTDOWN:  # as Do: a shutdown comes first
                self._issue(Operation.INSPECT)
                return self._flush()
        for _ in range(STEPS_PER_INPUT_MAX):
            step = decide(self.task.status.state, self.task.desired_state)
            if isinstance(step, Advance):
                self._set_status(wall, state=step.state, message=step.message)
                continue
            if isinstance(step, Invoke):
                self._invoke(step.operation, mono)
            return self._flush()
        raise InvariantViolation(
            f"task {self.task.id}: no resting point after {STEPS_PER_INPUT_MAX} steps"
        )

    def _advance_removal(self, mono: float, wall: float) -> ControllerOutput:
        if self.task.status.state < S.COMPLETE:
            self._invoke(Operation.SHUTDOWN, mono)
        else:
            self._issue(Operation.REMOVE)
        return self._flush()

    def _on_removal_result(
        self, operation: Operation, result: OperationResult, mono: float, wall: float
    ) -> ControllerOutput:
        if result.outcome in (Outcome.TEMPORARY, Outcome.FATAL):
            # Removal is retried until it succeeds: a container left behind would run
            # outside the manager's knowledge.
            return self._retry_later(result.error, mono, wall, result)
        if operation is Operation.SHUTDOWN:
            self._set_status(wall, state=S.SHUTDOWN, message="shutdown", container=result)
            return self._advance_removal(mono, wall)
        self.phase = Phase.DONE
        return self._flush()

    def _retry_later(
        self, err: str, mono: float, wall: float, result: OperationResult
    ) -> ControllerOutput:
        """Keep the state, record ``err``, and run the same step after the retry delay."""
        status = self.task.status
        self._set_status(
            wall, state=status.state, message=status.message, err=err, container=result
        )
        self.phase = Phase.RETRYING
        self._retry_at = mono + RETRY_DELAY_SECONDS
        return self._flush()

    def _invoke(self, operation: Operation, mono: float) -> None:
        """Issue ``operation``; a stop of a task with a service binding waits for its
        unbinding to spread first (every attempt, as moby's every ``Shutdown``)."""
        if operation is Operation.SHUTDOWN and has_service_binding(self.task):
            self.phase = Phase.UNBINDING
            self._unbind_at = mono + GOSSIP_CONVERGE_SECONDS
            return
        self._issue(operation)

    def _deadline(self) -> float | None:
        return self._retry_at if self._unbind_at is None else self._unbind_at

    def _issue(self, operation: Operation) -> None:
        self._sequence += 1
        token = OperationToken(self.task.id, self.epoch, self._sequence)
        command = ExecutorCommand(token, operation, self.task)
        self._in_flight = command
        if self.phase is not Phase.REMOVING:
            self.phase = Phase.WAITING
        self._commands.append(command)

    def _set_status(
        self,
        wall: float,
        *,
        state: TaskState,
        message: str,
        err: str = "",
        container: OperationResult | None = None,
    ) -> None:
        current = self.task.status
        if state != current.state:
            check_transition(Owner.AGENT, current.state, state)
        container_status = current.container_status
        if container is not None and container.container is not None and state >= S.STARTING:
            container_status = container.container
        if (
            container is not None
            and container.exit_code is not None
            and container_status is not None
        ):
            container_status = replace(container_status, exit_code=container.exit_code)
        port_status = current.port_status
        if container is not None and container.ports is not None and state >= S.STARTING:
            port_status = PortStatus(ports=container.ports)  # as SwarmKit's PortStatuser
        status = replace(
            current,
            timestamp=Timestamp.from_seconds(wall),
            state=state,
            message=message,
            err=err,
            container_status=container_status,
            port_status=port_status,
        )
        if status == current:
            return
        self.task = replace(self.task, status=status)
        self._reports.append(status)

    def _flush(self) -> ControllerOutput:
        output = ControllerOutput(
            commands=tuple(self._commands),
            reports=tuple(self._reports),
            next_deadline=self._deadline(),
        )
        self._commands.clear()
        self._reports.clear()
        return output
