"""The agent task controller: SwarmKit's exec.Do paths, as tables and as stories.

Tables pin each decision (observed state x desired state), each conclusion
(status x operation x executor result), and the whole controller over (observed state
x desired state x executor result), with expected values built from rule tables.
Stories run a controller against the scripted executor on simulated time and check
every status it reports, including retries, cancellation by a shutdown, stale
results, every moment of removal, and the golden fixtures' messages.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.errors import InvariantViolation
from core.model.task import ContainerStatus, Task, TaskStatus
from core.model.timestamp import Timestamp
from core.model.wire import replace
from core.tasks.controller import (
    RETRY_DELAY_SECONDS,
    Advance,
    Concluded,
    Continue,
    ControllerOutput,
    Invoke,
    Park,
    Phase,
    Retry,
    TaskController,
    conclude,
    decide,
)
from core.tasks.executor import (
    Executor,
    ExecutorCommand,
    ExecutorResult,
    Operation,
    OperationResult,
    OperationToken,
    Outcome,
    perform,
)
from core.tasks.states import DESIRED_STATES, OBSERVED_STATES, TaskState
from sim.scripted import (
    ControllerLoop,
    Scripted,
    ScriptedExecutor,
    already,
    exits,
    fatal,
    ok,
    temporary,
)

S = TaskState
OP = Operation

ACCEPT = Advance(S.ACCEPTED, "accepted")
TO_PREPARING = Advance(S.PREPARING, "preparing")
TO_STARTING = Advance(S.STARTING, "starting")
PREPARE, START, WAIT, SHUTDOWN = (
    Invoke(OP.PREPARE),
    Invoke(OP.START),
    Invoke(OP.WAIT),
    Invoke(OP.SHUTDOWN),
)
AT, BEYOND, DONE = (
    Park("at the desired state"),
    Park("beyond the desired state"),
    Park("task already finished"),
)

DESIRED_COLUMNS = (S.READY, S.RUNNING, S.COMPLETE, S.SHUTDOWN, S.REMOVE)
DECISIONS: dict[TaskState, tuple[object, ...]] = {
    #            READY          RUNNING       COMPLETE      SHUTDOWN  REMOVE
    S.NEW: (ACCEPT, ACCEPT, ACCEPT, SHUTDOWN, SHUTDOWN),
    S.PENDING: (ACCEPT, ACCEPT, ACCEPT, SHUTDOWN, SHUTDOWN),
    S.ASSIGNED: (ACCEPT, ACCEPT, ACCEPT, SHUTDOWN, SHUTDOWN),
    S.ACCEPTED: (TO_PREPARING, TO_PREPARING, TO_PREPARING, SHUTDOWN, SHUTDOWN),
    S.PREPARING: (PREPARE, PREPARE, PREPARE, SHUTDOWN, SHUTDOWN),
    S.READY: (AT, TO_STARTING, TO_STARTING, SHUTDOWN, SHUTDOWN),
    S.STARTING: (BEYOND, START, START, SHUTDOWN, SHUTDOWN),
    S.RUNNING: (BEYOND, WAIT, WAIT, SHUTDOWN, SHUTDOWN),
    S.COMPLETE: (BEYOND, BEYOND, AT, DONE, DONE),
    S.SHUTDOWN: (BEYOND, BEYOND, BEYOND, DONE, DONE),
    S.FAILED: (BEYOND, BEYOND, BEYOND, DONE, DONE),
    S.REJECTED: (BEYOND, BEYOND, BEYOND, DONE, DONE),
    S.ORPHANED: (BEYOND, BEYOND, BEYOND, DONE, DONE),
}


@pytest.mark.parametrize(
    ("observed", "desired", "expected"),
    [(o, d, row[i]) for o, row in DECISIONS.items() for i, d in enumerate(DESIRED_COLUMNS)],
    ids=lambda v: v.wire_name if isinstance(v, TaskState) else "",
)
def test_decision_table(observed: TaskState, desired: TaskState, expected: object) -> None:
    assert decide(observed, desired) == expected


def result(outcome: Outcome, error: str = "", code: int | None = None) -> OperationResult:
    return OperationResult(outcome, error=error, exit_code=code)


#: The message the agent's last transition into each state left (SwarmKit's wording).
ENTERED_WITH = {
    S.ACCEPTED: "accepted",
    S.PREPARING: "preparing",
    S.READY: "prepared",
    S.STARTING: "starting",
    S.RUNNING: "started",
}


def at(state: TaskState) -> TaskStatus:
    """A status as the controller left it on entering ``state``."""
    return TaskStatus(state=state, message=ENTERED_WITH[state])


# A fatal error sets only State and Err; the message of the failing step stays, as in
# SwarmKit's fatal() (the golden task-rejected.json says "preparing", task-failed.json
# "started").
CONCLUSIONS = [
    (at(S.PREPARING), OP.PREPARE, result(Outcome.OK), Concluded(S.READY, "prepared")),
    (at(S.PREPARING), OP.PREPARE, result(Outcome.ALREADY), Concluded(S.READY, "prepared")),
    (
        at(S.PREPARING),
        OP.PREPARE,
        result(Outcome.FATAL, "No such image: x"),
        Concluded(S.REJECTED, "preparing", "No such image: x"),
    ),
    (at(S.PREPARING), OP.PREPARE, result(Outcome.TEMPORARY, "timeout"), Retry("timeout")),
    (at(S.STARTING), OP.START, result(Outcome.OK), Concluded(S.RUNNING, "started")),
    (at(S.STARTING), OP.START, result(Outcome.ALREADY), Concluded(S.RUNNING, "started")),
    (
        at(S.STARTING),
        OP.START,
        result(Outcome.FATAL, "oci runtime error"),
        Concluded(S.FAILED, "starting", "oci runtime error"),
    ),
    (at(S.STARTING), OP.START, result(Outcome.TEMPORARY, "busy"), Retry("busy")),
    (at(S.RUNNING), OP.WAIT, result(Outcome.EXITED, code=0), Concluded(S.COMPLETE, "finished")),
    (at(S.RUNNING), OP.WAIT, result(Outcome.OK), Concluded(S.COMPLETE, "finished")),
    (
        at(S.RUNNING),
        OP.WAIT,
        result(Outcome.EXITED, code=1),
        Concluded(S.FAILED, "started", "task: non-zero exit (1)"),
    ),
    (
        at(S.RUNNING),
        OP.WAIT,
        result(Outcome.EXITED, code=137),
        Concluded(S.FAILED, "started", "task: non-zero exit (137)"),
    ),
    (
        at(S.RUNNING),
        OP.WAIT,
        result(Outcome.FATAL, "task: unhealthy container"),
        Concluded(S.FAILED, "started", "task: unhealthy container"),
    ),
    (at(S.RUNNING), OP.WAIT, result(Outcome.TEMPORARY, "lost events"), Retry("lost events")),
    (at(S.ACCEPTED), OP.SHUTDOWN, result(Outcome.OK), Concluded(S.SHUTDOWN, "shutdown")),
    (at(S.RUNNING), OP.SHUTDOWN, result(Outcome.OK), Concluded(S.SHUTDOWN, "shutdown")),
    (at(S.RUNNING), OP.SHUTDOWN, result(Outcome.ALREADY), Concluded(S.SHUTDOWN, "shutdown")),
    (at(S.RUNNING), OP.SHUTDOWN, result(Outcome.TEMPORARY, "busy"), Retry("busy")),
    (
        at(S.ACCEPTED),
        OP.SHUTDOWN,
        result(Outcome.FATAL, "kill failed"),
        Concluded(S.REJECTED, "accepted", "kill failed"),
    ),
    (
        at(S.READY),
        OP.SHUTDOWN,
        result(Outcome.FATAL, "kill failed"),
        Concluded(S.REJECTED, "prepared", "kill failed"),
    ),
    (
        at(S.RUNNING),
        OP.SHUTDOWN,
        result(Outcome.FATAL, "kill failed"),
        Concluded(S.FAILED, "started", "kill failed"),
    ),
    (at(S.RUNNING), OP.INSPECT, result(Outcome.OK), Continue()),
    (at(S.RUNNING), OP.INSPECT, result(Outcome.TEMPORARY, "busy"), Retry("busy")),
    (
        at(S.RUNNING),
        OP.INSPECT,
        result(Outcome.EXITED, code=0),
        Concluded(S.COMPLETE, "finished"),
    ),
    (
        at(S.RUNNING),
        OP.INSPECT,
        result(Outcome.EXITED, code=137),
        Concluded(S.FAILED, "started", "task: non-zero exit (137)"),
    ),
    (
        at(S.RUNNING),
        OP.INSPECT,
        result(Outcome.FATAL, "No such container: c1"),
        Concluded(S.FAILED, "started", "No such container: c1"),
    ),
]


@pytest.mark.parametrize(("status", "operation", "outcome", "expected"), CONCLUSIONS)
def test_conclusion_table(
    status: TaskStatus, operation: OP, outcome: OperationResult, expected: object
) -> None:
    assert conclude(status, operation, outcome) == expected


def test_an_exit_answer_to_start_is_a_bug_in_the_executor() -> None:
    with pytest.raises(InvariantViolation):
        conclude(at(S.STARTING), OP.START, result(Outcome.EXITED, code=0))


def test_results_without_an_error_text_are_refused() -> None:
    with pytest.raises(ValueError, match="must say what went wrong"):
        OperationResult(Outcome.FATAL)
    with pytest.raises(ValueError, match="exit code"):
        OperationResult(Outcome.EXITED)


# -- the whole controller: observed state x desired state x executor result -------------
#
# Each cell drives a real TaskController: start it, answer its first command through
# perform() and the scripted executor, and compare every status it reports and the
# command it asks for next with what the rules below say. The expected values are
# built from these tables only, never from the controller's own decide/conclude.

TABLE_OBSERVED = (
    S.ASSIGNED,
    S.ACCEPTED,
    S.PREPARING,
    S.READY,
    S.STARTING,
    S.RUNNING,
    S.COMPLETE,
    S.SHUTDOWN,
    S.FAILED,
    S.REJECTED,
    S.ORPHANED,
)
TABLE_DESIRED = (S.READY, S.RUNNING, S.COMPLETE, S.SHUTDOWN, S.REMOVE)
TABLE_OUTCOMES = (Outcome.OK, Outcome.ALREADY, Outcome.TEMPORARY, Outcome.FATAL)

#: The message each observed state was entered with (what the manager last saw).
ARRIVED_WITH = {
    S.ASSIGNED: "scheduler assigned task to node",
    **ENTERED_WITH,
    S.COMPLETE: "finished",
    S.SHUTDOWN: "shutdown",
    S.FAILED: "started",
    S.REJECTED: "preparing",
    S.ORPHANED: "started",
}

#: Rule: states the agent passes through without the executor, and their messages.
ADVANCE_MESSAGE = {S.ACCEPTED: "accepted", S.PREPARING: "preparing", S.STARTING: "starting"}

PREP = ((S.ACCEPTED, S.PREPARING), OP.PREPARE)
PREP_1 = ((S.PREPARING,), OP.PREPARE)
PREP_0 = ((), OP.PREPARE)
STRT = ((S.STARTING,), OP.START)
STRT_0 = ((), OP.START)
WAIT_0 = ((), OP.WAIT)
STOP = ((), OP.SHUTDOWN)
PARK = ((), None)  # nothing to do until the desired state changes

#: Rule: from (observed, desired), the advances the agent reports and the operation it
#: then asks for. Desired SHUTDOWN or beyond stops anything unfinished; otherwise the
#: task climbs towards the desired state, parks at READY while desired is READY, and a
#: started step (PREPARING, STARTING, RUNNING) proceeds even at the desired state.
OPENING: dict[TaskState, tuple[tuple[tuple[TaskState, ...], Operation | None], ...]] = {
    #             READY   RUNNING COMPLETE SHUTDOWN REMOVE
    S.ASSIGNED: (PREP, PREP, PREP, STOP, STOP),
    S.ACCEPTED: (PREP_1, PREP_1, PREP_1, STOP, STOP),
    S.PREPARING: (PREP_0, PREP_0, PREP_0, STOP, STOP),
    S.READY: (PARK, STRT, STRT, STOP, STOP),
    S.STARTING: (PARK, STRT_0, STRT_0, STOP, STOP),
    S.RUNNING: (PARK, WAIT_0, WAIT_0, STOP, STOP),
    S.COMPLETE: (PARK, PARK, PARK, PARK, PARK),
    S.SHUTDOWN: (PARK, PARK, PARK, PARK, PARK),
    S.FAILED: (PARK, PARK, PARK, PARK, PARK),
    S.REJECTED: (PARK, PARK, PARK, PARK, PARK),
    S.ORPHANED: (PARK, PARK, PARK, PARK, PARK),
}

#: Rule: where a successful (or already done) operation takes the task, and the message.
SUCCEEDS_TO = {
    OP.PREPARE: (S.READY, "prepared"),
    OP.START: (S.RUNNING, "started"),
    OP.WAIT: (S.COMPLETE, "finished"),
    OP.SHUTDOWN: (S.SHUTDOWN, "shutdown"),
}

#: Rule: a fatal error before STARTING rejects, at or after STARTING fails; the
#: message stays and the error is recorded.
FATAL_TO = {
    S.ASSIGNED: S.REJECTED,
    S.ACCEPTED: S.REJECTED,
    S.PREPARING: S.REJECTED,
    S.READY: S.REJECTED,
    S.STARTING: S.FAILED,
    S.RUNNING: S.FAILED,
}

ANSWERS = {
    Outcome.OK: OperationResult(Outcome.OK),
    Outcome.ALREADY: OperationResult(Outcome.ALREADY),
    Outcome.TEMPORARY: OperationResult(Outcome.TEMPORARY, error="daemon busy, try again"),
    Outcome.FATAL: OperationResult(Outcome.FATAL, error="No such image: local/nope:1"),
}
WALL_EPOCH = 1_700_000_000.0


@dataclass(frozen=True)
class Cell:
    """What one (observed, desired, outcome) cell must do, step by step."""

    opening: tuple[TaskStatus, ...]  # reported by start()
    first: Operation | None  # the command start() asks for
    answered: tuple[TaskStatus, ...] = ()  # reported when the first command is answered
    then: Operation | None = None  # the command asked for next, at once
    retry_at: float | None = None  # or: the deadline at which ``first`` runs again


def _entered(previous: TaskStatus, state: TaskState, message: str, mono: float) -> TaskStatus:
    return replace(
        previous,
        state=state,
        message=message,
        err="",
        timestamp=Timestamp.from_seconds(WALL_EPOCH + mono),
    )


def _climb(
    status: TaskStatus, desired: TaskState, mono: float
) -> tuple[list[TaskStatus], Operation | None]:
    """Apply the OPENING rule from ``status``: the reports on the way and the command."""
    advances, operation = OPENING[status.state][TABLE_DESIRED.index(desired)]
    reports = []
    for state in advances:
        status = _entered(status, state, ADVANCE_MESSAGE[state], mono)
        reports.append(status)
    return reports, operation


def expected_cell(observed: TaskState, desired: TaskState, outcome: Outcome) -> Cell:
    start = TaskStatus(state=observed, message=ARRIVED_WITH[observed])
    opening, first = _climb(start, desired, 0.0)
    if first is None:
        return Cell(tuple(opening), None)
    issued = opening[-1] if opening else start
    answer = ANSWERS[outcome]
    if outcome is Outcome.TEMPORARY:
        kept = replace(issued, err=answer.error, timestamp=Timestamp.from_seconds(WALL_EPOCH + 1))
        return Cell(tuple(opening), first, (kept,), None, 1.0 + RETRY_DELAY_SECONDS)
    if outcome is Outcome.FATAL:
        failed = replace(
            issued,
            state=FATAL_TO[issued.state],
            err=answer.error,
            timestamp=Timestamp.from_seconds(WALL_EPOCH + 1),
        )
        return Cell(tuple(opening), first, (failed,), None)
    state, message = SUCCEEDS_TO[first]
    concluded = _entered(issued, state, message, 1.0)
    onwards, then = _climb(concluded, desired, 1.0)
    return Cell(tuple(opening), first, (concluded, *onwards), then)


def _operations(output: ControllerOutput) -> list[Operation]:
    return [command.operation for command in output.commands]


@pytest.mark.parametrize("outcome", TABLE_OUTCOMES, ids=lambda o: o.value)
@pytest.mark.parametrize("desired", TABLE_DESIRED, ids=lambda s: f"desired-{s.wire_name}")
@pytest.mark.parametrize("observed", TABLE_OBSERVED, ids=lambda s: s.wire_name)
def test_controller_table(observed: TaskState, desired: TaskState, outcome: Outcome) -> None:
    cell = expected_cell(observed, desired, outcome)
    executor = ScriptedExecutor()
    status = TaskStatus(state=observed, message=ARRIVED_WITH[observed])
    controller = TaskController(Task(id="t1", desired_state=desired, status=status), epoch=1)

    opened = controller.start(0.0, WALL_EPOCH)
    assert opened.reports == cell.opening
    assert _operations(opened) == ([] if cell.first is None else [cell.first])
    assert opened.next_deadline is None
    if cell.first is None:
        # Parked: the executor is never asked, and a result nobody asked for is stale.
        stray = ExecutorResult(OperationToken("t1", 1, 1), OP.PREPARE, ANSWERS[outcome])
        assert controller.on_result(stray, 1.0, WALL_EPOCH + 1) == ControllerOutput()
        assert controller.phase is Phase.IDLE
        assert controller.task.status == (cell.opening[-1] if cell.opening else status)
        assert executor.calls == []
        return

    [command] = opened.commands
    executor.script("t1", command.operation, [Scripted(ANSWERS[outcome])])
    answered = controller.on_result(perform(executor, command), 1.0, WALL_EPOCH + 1)
    assert executor.calls == [("t1", cell.first)]
    assert answered.reports == cell.answered
    assert _operations(answered) == ([] if cell.then is None else [cell.then])
    assert answered.next_deadline == cell.retry_at
    for later in answered.commands:
        assert later.token == OperationToken("t1", 1, command.token.sequence + 1)
    if cell.retry_at is not None:
        assert controller.phase is Phase.RETRYING
        assert controller.tick(cell.retry_at - 0.01, WALL_EPOCH + 1.99).commands == ()
        again = controller.tick(cell.retry_at, WALL_EPOCH + cell.retry_at)
        assert _operations(again) == [cell.first]
        assert again.reports == ()
    assert controller.task.status == cell.answered[-1]


def test_controller_table_covers_every_desired_state() -> None:
    assert set(TABLE_DESIRED) == set(DESIRED_STATES)
    assert set(TABLE_OBSERVED) == {s for s in OBSERVED_STATES if s >= S.ASSIGNED}
    assert set(ANSWERS) == set(Outcome) - {Outcome.EXITED}  # exits: the conclusion table


# -- stories on simulated time ----------------------------------------------------------


def story(
    task_id: str = "t1", desired: S = S.RUNNING, state: S = S.ASSIGNED, **scripts: list
) -> tuple[ControllerLoop, TaskController]:  # type: ignore[type-arg]
    executor = ScriptedExecutor()
    for name, answers in scripts.items():
        executor.script(task_id, Operation(name), answers)
    task = Task(id=task_id, desired_state=desired, status=TaskStatus(state=state))
    controller = TaskController(task, epoch=1)
    loop = ControllerLoop(executor)
    loop.add(controller)
    return loop, controller


def states(loop: ControllerLoop) -> list[tuple[float, str, str]]:
    return [
        (r.time, r.status.state.wire_name, r.status.err or r.status.message) for r in loop.reports
    ]


def test_assigned_task_runs_through_every_state_to_running() -> None:
    loop, controller = story(prepare=[ok(2.0)], start=[ok(0.5)])
    loop.run(until=100)
    assert states(loop) == [
        (0.0, "accepted", "accepted"),
        (0.0, "preparing", "preparing"),
        (2.0, "ready", "prepared"),
        (2.0, "starting", "starting"),
        (2.5, "running", "started"),
    ]
    assert loop.executor.calls == [("t1", OP.PREPARE), ("t1", OP.START), ("t1", OP.WAIT)]
    assert controller.phase is Phase.WAITING


def test_task_desired_ready_parks_at_ready_until_desired_running() -> None:
    loop, controller = story(desired=S.READY, prepare=[ok(1.0)])
    loop.run(until=10)
    assert controller.task.status.state is S.READY
    assert controller.phase is Phase.IDLE
    assert OP.START not in {op for _, op in loop.executor.calls}
    loop.desire(10.0, "t1", S.RUNNING)
    loop.run(until=20)
    assert states(loop)[-2:] == [(10.0, "starting", "starting"), (10.0, "running", "started")]


def test_prepare_failure_rejects_the_task() -> None:
    loop, controller = story(prepare=[fatal("No such image: local/nope:1", 0.3)])
    loop.run(until=10)
    assert states(loop)[-1] == (0.3, "rejected", "No such image: local/nope:1")
    assert controller.task.status.state is S.REJECTED


def test_start_failure_fails_the_task() -> None:
    loop, _ = story(start=[fatal("starting container failed: exec: not found")])
    loop.run(until=10)
    assert states(loop)[-1] == (0.0, "failed", "starting container failed: exec: not found")


def test_nonzero_exit_fails_with_docker_error_text_and_exit_code() -> None:
    started = Scripted(
        OperationResult(Outcome.OK, container=ContainerStatus(container_id="c1", pid=42))
    )
    loop, controller = story(start=[started], wait=[exits(3, 7.0)])
    loop.run(until=10)
    assert states(loop)[-1] == (7.0, "failed", "task: non-zero exit (3)")
    running = [r.status for r in loop.reports if r.status.state is S.RUNNING]
    assert running[0].container_status == ContainerStatus(container_id="c1", pid=42, exit_code=0)
    assert controller.task.status.container_status == ContainerStatus(
        container_id="c1", pid=42, exit_code=3
    )


def test_zero_exit_completes_a_job_task() -> None:
    loop, controller = story(desired=S.COMPLETE, wait=[exits(0, 4.0)])
    loop.run(until=10)
    assert states(loop)[-1] == (4.0, "complete", "finished")
    assert controller.phase is Phase.IDLE


def test_temporary_error_retries_the_same_step_after_one_second() -> None:
    loop, controller = story(prepare=[temporary("registry timeout", 0.5), ok(1.0)])
    loop.run(until=1.4)
    assert controller.phase is Phase.RETRYING
    assert controller.task.status.state is S.PREPARING
    assert controller.task.status.err == "registry timeout"
    assert loop.executor.calls == [("t1", OP.PREPARE)]
    loop.run(until=1.5)
    assert loop.executor.calls == [("t1", OP.PREPARE), ("t1", OP.PREPARE)]
    loop.run(until=10)
    assert (2.5, "ready", "prepared") in states(loop)


def test_tick_before_the_retry_deadline_does_nothing() -> None:
    _, controller = story()
    out = controller.start(0.0, 0.0)
    prepare = out.commands[0]
    out = controller.on_result(
        ExecutorResult(prepare.token, OP.PREPARE, result(Outcome.TEMPORARY, "x")), 0.5, 0.5
    )
    assert out.next_deadline == 0.5 + RETRY_DELAY_SECONDS
    early = controller.tick(1.0, 1.0)
    assert early.commands == () and early.reports == () and early.next_deadline == 1.5
    due = controller.tick(1.5, 1.5)
    assert [c.operation for c in due.commands] == [OP.PREPARE]
    assert due.commands[0].token.sequence == prepare.token.sequence + 1


def test_an_update_while_retrying_runs_the_step_at_once() -> None:
    _, controller = story()
    prepare = controller.start(0.0, 0.0).commands[0]
    controller.on_result(
        ExecutorResult(prepare.token, OP.PREPARE, result(Outcome.TEMPORARY, "x")), 0.5, 0.5
    )
    out = controller.update(Task(id="t1", desired_state=S.RUNNING), 0.7, 0.7)
    assert [c.operation for c in out.commands] == [OP.PREPARE]


def test_shutdown_while_running_cancels_the_wait_and_stops_the_container_a_second_later() -> None:
    """SwarmKit's task manager cancels the wait, and the cancelled wait's retry backs
    off 1 s before the shutdown runs: Docker's stop-first update pays it per task."""
    loop, controller = story()
    loop.run(until=5)
    assert controller.task.status.state is S.RUNNING
    loop.desire(5.0, "t1", S.SHUTDOWN)
    loop.run(until=5.99)
    assert loop.executor.calls[-1] != ("t1", OP.SHUTDOWN)  # the backoff
    assert controller.phase is Phase.RETRYING and controller.task.status.err == ""
    loop.run(until=10)
    assert states(loop)[-1] == (5.0 + RETRY_DELAY_SECONDS, "shutdown", "shutdown")
    assert loop.executor.calls[-1] == ("t1", OP.SHUTDOWN)


def test_a_task_parked_at_ready_shuts_down_at_once() -> None:
    """No operation is out for a parked task, so nothing is cancelled or backed off."""
    loop, controller = story(desired=S.READY)
    loop.run(until=3)
    assert controller.task.status.state is S.READY
    loop.desire(3.0, "t1", S.SHUTDOWN)
    loop.run(until=10)
    assert states(loop)[-1] == (3.0, "shutdown", "shutdown")


def test_stale_result_of_a_cancelled_wait_is_dropped() -> None:
    _, controller = story()
    out = controller.start(0.0, 0.0)
    while out.commands and out.commands[0].operation is not OP.WAIT:
        command = out.commands[0]
        out = controller.on_result(
            ExecutorResult(command.token, command.operation, OperationResult(Outcome.OK)), 0.0, 0.0
        )
    wait = out.commands[0]
    cancelled = controller.update(
        Task(id="t1", desired_state=S.SHUTDOWN, status=controller.task.status), 1.0, 1.0
    )
    assert cancelled.commands == () and cancelled.next_deadline == 1.0 + RETRY_DELAY_SECONDS
    late = controller.on_result(
        ExecutorResult(wait.token, OP.WAIT, result(Outcome.EXITED, code=143)), 1.5, 1.5
    )
    assert late.reports == () and late.commands == ()
    assert late.next_deadline == 1.0 + RETRY_DELAY_SECONDS
    assert controller.task.status.state is S.RUNNING
    shutdown = controller.tick(2.0, 2.0).commands[0]
    assert shutdown.operation is OP.SHUTDOWN and shutdown.token > wait.token
    done = controller.on_result(
        ExecutorResult(shutdown.token, OP.SHUTDOWN, result(Outcome.OK)), 3.0, 3.0
    )
    assert [r.state for r in done.reports] == [S.SHUTDOWN]


def test_result_from_an_older_epoch_is_stale() -> None:
    _, controller = story()
    command = controller.start(0.0, 0.0).commands[0]
    old = OperationToken(command.token.task_id, command.token.epoch - 1, command.token.sequence)
    assert (
        controller.on_result(
            ExecutorResult(old, command.operation, result(Outcome.OK)), 1.0, 1.0
        ).reports
        == ()
    )
    assert controller.phase is Phase.WAITING


def test_finished_task_desired_shutdown_is_a_noop() -> None:
    loop, controller = story(desired=S.COMPLETE, wait=[exits(0, 1.0)])
    loop.run(until=2)
    loop.desire(3.0, "t1", S.SHUTDOWN)
    loop.run(until=5)
    assert controller.task.status.state is S.COMPLETE
    assert ("t1", OP.SHUTDOWN) not in loop.executor.calls


def test_lower_desired_state_from_the_manager_is_ignored() -> None:
    loop, controller = story()
    loop.run(until=1)
    loop.desire(2.0, "t1", S.READY)
    loop.run(until=3)
    assert controller.task.desired_state is S.RUNNING
    assert controller.task.status.state is S.RUNNING


def test_shutdown_failure_before_starting_rejects() -> None:
    loop, _ = story(desired=S.READY, shutdown=[fatal("device busy")])
    loop.run(until=1)
    loop.desire(2.0, "t1", S.SHUTDOWN)
    loop.run(until=3)
    assert states(loop)[-1] == (2.0, "rejected", "device busy")


def test_close_stops_then_removes_the_container() -> None:
    loop, controller = story(shutdown=[ok(2.0)])
    loop.run(until=1)
    loop.close(1.0, "t1")
    loop.run(until=10)
    assert loop.executor.calls[-2:] == [("t1", OP.SHUTDOWN), ("t1", OP.REMOVE)]
    assert states(loop)[-1] == (3.0, "shutdown", "shutdown")
    assert controller.phase is Phase.DONE


def test_close_of_a_finished_task_only_removes() -> None:
    loop, controller = story(desired=S.COMPLETE, wait=[exits(0, 1.0)])
    loop.run(until=2)
    loop.close(2.0, "t1")
    loop.run(until=3)
    assert loop.executor.calls[-1] == ("t1", OP.REMOVE)
    assert ("t1", OP.SHUTDOWN) not in loop.executor.calls
    assert controller.phase is Phase.DONE


def test_failed_removal_is_retried_until_it_succeeds() -> None:
    loop, controller = story(
        desired=S.COMPLETE,
        wait=[exits(0, 1.0)],
        remove=[fatal("device busy"), temporary("still busy"), ok()],
    )
    loop.run(until=2)
    loop.close(2.0, "t1")
    loop.run(until=10)
    assert [op for _, op in loop.executor.calls].count(OP.REMOVE) == 3
    assert controller.phase is Phase.DONE


def test_recovered_running_task_is_inspected_before_waiting() -> None:
    executor = ScriptedExecutor()
    executor.script("t1", OP.INSPECT, [exits(137)])
    task = Task(id="t1", desired_state=S.RUNNING, status=TaskStatus(state=S.RUNNING))
    loop = ControllerLoop(executor)
    loop.add(TaskController(task, epoch=2, recovered=True))
    loop.run(until=1)
    assert executor.calls == [("t1", OP.INSPECT)]
    assert states(loop) == [(0.0, "failed", "task: non-zero exit (137)")]


def test_recovered_task_still_running_goes_back_to_waiting() -> None:
    executor = ScriptedExecutor()
    executor.script("t1", OP.INSPECT, [ok()])
    task = Task(id="t1", desired_state=S.RUNNING, status=TaskStatus(state=S.RUNNING))
    loop = ControllerLoop(executor)
    loop.add(TaskController(task, epoch=2, recovered=True))
    loop.run(until=1)
    assert executor.calls == [("t1", OP.INSPECT), ("t1", OP.WAIT)]
    assert loop.reports == []


def test_idempotent_executor_answers_continue_the_task() -> None:
    loop, controller = story(prepare=[already()], start=[already()])
    loop.run(until=1)
    assert controller.task.status.state is S.RUNNING


def test_update_for_another_task_is_a_bug() -> None:
    _, controller = story()
    with pytest.raises(InvariantViolation):
        controller.update(Task(id="other"), 0.0, 0.0)


def test_task_observed_in_remove_is_refused() -> None:
    with pytest.raises(InvariantViolation):
        TaskController(Task(id="x", status=TaskStatus(state=S.REMOVE)), epoch=1)


def test_same_inputs_give_same_reports() -> None:
    runs = []
    for _ in range(2):
        loop, _ = story(prepare=[temporary("x", 0.5), ok(1.0)], wait=[exits(2, 3.0)])
        loop.run(until=20)
        runs.append([(r.time, r.status.to_json()) for r in loop.reports])
    assert runs[0] == runs[1]


# -- fatal errors keep the message: the golden fixtures from dockerd --------------------

GOLDEN = Path(__file__).parents[1] / "golden"


def golden_status(name: str) -> TaskStatus:
    [inspected] = json.loads((GOLDEN / name).read_text())  # `docker inspect` prints a list
    return Task.from_json(inspected).status


def test_rejected_prepare_reports_what_dockerd_reports() -> None:
    golden = golden_status("task-rejected.json")
    loop, _ = story(desired=S.READY, prepare=[fatal(golden.err)])
    loop.run(until=1)
    last = loop.reports[-1].status
    assert (last.state, last.message, last.err) == (golden.state, golden.message, golden.err)
    assert (last.message, last.err) == ("preparing", "No such image: local/nope:1")


def test_failed_wait_reports_what_dockerd_reports() -> None:
    golden = golden_status("task-failed.json")
    loop, _ = story(wait=[exits(1, 2.0)])
    loop.run(until=5)
    last = loop.reports[-1].status
    assert (last.state, last.message, last.err) == (golden.state, golden.message, golden.err)
    assert last.message == "started"


# -- closing at every moment of the removal ---------------------------------------------


def answer(
    controller: TaskController, command: ExecutorCommand, outcome: Outcome, at: float
) -> ControllerOutput:
    error = "busy" if outcome in (Outcome.FATAL, Outcome.TEMPORARY) else ""
    reply = ExecutorResult(command.token, command.operation, OperationResult(outcome, error))
    return controller.on_result(reply, at, at)


def test_close_while_a_shutdown_runs_waits_for_it_then_removes() -> None:
    _, controller = story(state=S.RUNNING, desired=S.SHUTDOWN)
    [shutdown] = controller.start(0.0, 0.0).commands
    assert shutdown.operation is OP.SHUTDOWN and controller.phase is Phase.WAITING
    assert controller.close(1.0, 1.0) == ControllerOutput()  # no second shutdown
    assert controller.phase is Phase.WAITING
    done = answer(controller, shutdown, Outcome.OK, 2.0)
    # _run's removal branch: the shutdown concluded, the requested removal follows.
    assert [(r.state, r.message) for r in done.reports] == [(S.SHUTDOWN, "shutdown")]
    assert _operations(done) == [OP.REMOVE]
    assert controller.phase is Phase.REMOVING
    removed = answer(controller, done.commands[0], Outcome.OK, 3.0)
    assert removed == ControllerOutput()
    assert controller.phase is Phase.DONE


def test_close_while_a_shutdown_runs_then_the_shutdown_fails_still_removes() -> None:
    _, controller = story(state=S.RUNNING, desired=S.SHUTDOWN)
    [shutdown] = controller.start(0.0, 0.0).commands
    controller.close(1.0, 1.0)
    out = answer(controller, shutdown, Outcome.FATAL, 2.0)
    assert [(r.state, r.message, r.err) for r in out.reports] == [(S.FAILED, "", "busy")]
    assert _operations(out) == [OP.REMOVE]


def test_close_while_already_removing_changes_nothing() -> None:
    _, controller = story(state=S.RUNNING)
    wait = controller.start(0.0, 0.0).commands[0]
    closing = controller.close(1.0, 1.0)
    assert _operations(closing) == [OP.SHUTDOWN] and controller.phase is Phase.REMOVING
    assert controller.close(1.5, 1.5) == ControllerOutput()
    assert controller.phase is Phase.REMOVING
    assert answer(controller, wait, Outcome.OK, 1.6) == ControllerOutput()  # cancelled: stale
    stopped = answer(controller, closing.commands[0], Outcome.OK, 2.0)
    assert _operations(stopped) == [OP.REMOVE]
    assert controller.close(2.5, 2.5) == ControllerOutput()
    answer(controller, stopped.commands[0], Outcome.OK, 3.0)
    assert controller.phase is Phase.DONE
    assert controller.close(4.0, 4.0) == ControllerOutput()


@pytest.mark.parametrize("outcome", [Outcome.FATAL, Outcome.TEMPORARY], ids=lambda o: o.value)
def test_close_while_a_removal_waits_out_its_retry_keeps_the_delay(outcome: Outcome) -> None:
    _, controller = story(state=S.COMPLETE, desired=S.COMPLETE)
    [remove] = controller.close(0.0, 0.0).commands
    assert remove.operation is OP.REMOVE
    failed = answer(controller, remove, outcome, 1.0)
    assert failed.commands == () and failed.next_deadline == 1.0 + RETRY_DELAY_SECONDS
    again = controller.close(1.5, 1.5)
    assert again == ControllerOutput(next_deadline=2.0)  # no remove before the delay
    assert controller.tick(1.9, 1.9).commands == ()
    due = controller.tick(2.0, 2.0)
    assert _operations(due) == [OP.REMOVE]
    assert due.commands[0].token.sequence == remove.token.sequence + 1


# -- the executor protocol and perform() ------------------------------------------------


def test_scripted_executor_is_an_executor() -> None:
    scripted = ScriptedExecutor()
    assert isinstance(scripted, Executor)
    for operation in Operation:
        protocol_method = getattr(Executor, operation.value)
        assert inspect.signature(getattr(ScriptedExecutor, operation.value)) == (
            inspect.signature(protocol_method)
        ), operation


def test_an_object_missing_an_operation_is_not_an_executor() -> None:
    class NoInspect:
        def prepare(self, task: Task) -> OperationResult: ...
        def start(self, task: Task) -> OperationResult: ...
        def wait(self, task: Task) -> OperationResult: ...
        def shutdown(self, task: Task) -> OperationResult: ...
        def remove(self, task: Task) -> OperationResult: ...

    assert not isinstance(NoInspect(), Executor)


def test_perform_runs_the_named_operation_and_echoes_the_token() -> None:
    executor = ScriptedExecutor()
    task = Task(id="t9")
    answers = {
        operation: OperationResult(Outcome.FATAL, error=f"{operation.value} broke")
        for operation in Operation
    }
    for operation, reply in answers.items():
        executor.script("t9", operation, [Scripted(reply)])
    for sequence, operation in enumerate(reversed(Operation), start=1):
        command = ExecutorCommand(OperationToken("t9", 3, sequence), operation, task)
        assert perform(executor, command) == ExecutorResult(
            command.token, operation, answers[operation]
        )
    assert executor.calls == [("t9", operation) for operation in reversed(Operation)]


def test_perform_refuses_a_wait_that_never_returns() -> None:
    command = ExecutorCommand(OperationToken("t1", 1, 1), OP.WAIT, Task(id="t1"))
    with pytest.raises(RuntimeError, match="never returns"):
        perform(ScriptedExecutor(), command)


# -- temporary and already answers on shutdown and inspect ------------------------------


def test_temporary_error_on_shutdown_is_retried_after_one_second() -> None:
    loop, controller = story(shutdown=[temporary("stop timed out"), ok()])
    loop.run(until=1)
    loop.desire(1.0, "t1", S.SHUTDOWN)  # the wait is cancelled: the stop comes at 2.0
    loop.run(until=2.9)
    assert controller.phase is Phase.RETRYING
    assert states(loop)[-1] == (2.0, "running", "stop timed out")
    assert controller.task.status.message == "started"
    loop.run(until=6)
    shutdowns = [op for _, op in loop.executor.calls].count(OP.SHUTDOWN)
    assert shutdowns == 2
    assert states(loop)[-1] == (3.0, "shutdown", "shutdown")
    assert controller.task.status.err == ""


def test_temporary_error_on_shutdown_during_removal_retries_then_removes() -> None:
    loop, controller = story(shutdown=[temporary("stop timed out"), ok()])
    loop.run(until=1)
    loop.close(1.0, "t1")
    loop.run(until=5)
    assert [op for _, op in loop.executor.calls][-3:] == [OP.SHUTDOWN, OP.SHUTDOWN, OP.REMOVE]
    assert states(loop)[-2:] == [(1.0, "running", "stop timed out"), (2.0, "shutdown", "shutdown")]
    assert controller.phase is Phase.DONE


def test_temporary_error_on_inspect_inspects_again() -> None:
    executor = ScriptedExecutor()
    executor.script("t1", OP.INSPECT, [temporary("daemon restarting"), exits(0)])
    status = TaskStatus(state=S.RUNNING, message="started")
    loop = ControllerLoop(executor)
    loop.add(TaskController(Task(id="t1", status=status), epoch=2, recovered=True))
    loop.run(until=0.9)
    assert executor.calls == [("t1", OP.INSPECT)]
    loop.run(until=5)
    assert executor.calls == [("t1", OP.INSPECT), ("t1", OP.INSPECT)]
    assert states(loop) == [(0.0, "running", "daemon restarting"), (1.0, "complete", "finished")]


def test_already_on_shutdown_counts_as_shut_down() -> None:
    loop, controller = story(state=S.RUNNING, desired=S.SHUTDOWN, shutdown=[already()])
    loop.run(until=1)
    assert states(loop) == [(0.0, "shutdown", "shutdown")]
    assert controller.phase is Phase.IDLE


def test_already_on_shutdown_and_remove_during_removal_finishes() -> None:
    loop, controller = story(shutdown=[already()], remove=[already()])
    loop.run(until=1)
    loop.close(1.0, "t1")
    loop.run(until=2)
    assert [op for _, op in loop.executor.calls][-2:] == [OP.SHUTDOWN, OP.REMOVE]
    assert states(loop)[-1] == (1.0, "shutdown", "shutdown")
    assert controller.phase is Phase.DONE


def test_recovered_running_task_desired_shutdown_is_shut_down_not_inspected() -> None:
    """As SwarmKit's Do, a desired shutdown comes before anything else: the container
    that died with the host is not taken for an exit (COMPLETE, or FAILED 137)."""
    executor = ScriptedExecutor()
    executor.script("t1", OP.INSPECT, [exits(137)])
    executor.script("t1", OP.SHUTDOWN, [ok()])
    task = Task(id="t1", desired_state=S.SHUTDOWN, status=TaskStatus(state=S.RUNNING))
    loop = ControllerLoop(executor)
    loop.add(TaskController(task, epoch=2, recovered=True))
    loop.run(until=1)
    assert executor.calls == [("t1", OP.SHUTDOWN)]
    assert states(loop) == [(0.0, "shutdown", "shutdown")]
