"""The agent task controller: SwarmKit's exec.Do paths, as tables and as stories.

Tables pin each decision (observed state x desired state) and each conclusion
(state x operation x executor result). Stories run a controller against the scripted
executor on simulated time and check every status it reports, including retries,
cancellation by a shutdown, stale results and removal.
"""

from __future__ import annotations

import pytest

from core.errors import InvariantViolation
from core.model.task import ContainerStatus, Task, TaskStatus
from core.tasks.controller import (
    RETRY_DELAY_SECONDS,
    Advance,
    Concluded,
    Continue,
    Invoke,
    Park,
    Phase,
    Retry,
    TaskController,
    conclude,
    decide,
)
from core.tasks.executor import (
    ExecutorResult,
    Operation,
    OperationResult,
    OperationToken,
    Outcome,
)
from core.tasks.states import TaskState
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


CONCLUSIONS = [
    (S.PREPARING, OP.PREPARE, result(Outcome.OK), Concluded(S.READY, "prepared")),
    (S.PREPARING, OP.PREPARE, result(Outcome.ALREADY), Concluded(S.READY, "prepared")),
    (
        S.PREPARING,
        OP.PREPARE,
        result(Outcome.FATAL, "No such image: x"),
        Concluded(S.REJECTED, "rejected", "No such image: x"),
    ),
    (S.PREPARING, OP.PREPARE, result(Outcome.TEMPORARY, "timeout"), Retry("timeout")),
    (S.STARTING, OP.START, result(Outcome.OK), Concluded(S.RUNNING, "started")),
    (S.STARTING, OP.START, result(Outcome.ALREADY), Concluded(S.RUNNING, "started")),
    (
        S.STARTING,
        OP.START,
        result(Outcome.FATAL, "oci runtime error"),
        Concluded(S.FAILED, "failed", "oci runtime error"),
    ),
    (S.STARTING, OP.START, result(Outcome.TEMPORARY, "busy"), Retry("busy")),
    (S.RUNNING, OP.WAIT, result(Outcome.EXITED, code=0), Concluded(S.COMPLETE, "finished")),
    (S.RUNNING, OP.WAIT, result(Outcome.OK), Concluded(S.COMPLETE, "finished")),
    (
        S.RUNNING,
        OP.WAIT,
        result(Outcome.EXITED, code=1),
        Concluded(S.FAILED, "failed", "task: non-zero exit (1)"),
    ),
    (
        S.RUNNING,
        OP.WAIT,
        result(Outcome.EXITED, code=137),
        Concluded(S.FAILED, "failed", "task: non-zero exit (137)"),
    ),
    (
        S.RUNNING,
        OP.WAIT,
        result(Outcome.FATAL, "task: unhealthy container"),
        Concluded(S.FAILED, "failed", "task: unhealthy container"),
    ),
    (S.RUNNING, OP.WAIT, result(Outcome.TEMPORARY, "lost events"), Retry("lost events")),
    (S.ACCEPTED, OP.SHUTDOWN, result(Outcome.OK), Concluded(S.SHUTDOWN, "shutdown")),
    (S.RUNNING, OP.SHUTDOWN, result(Outcome.OK), Concluded(S.SHUTDOWN, "shutdown")),
    (
        S.ACCEPTED,
        OP.SHUTDOWN,
        result(Outcome.FATAL, "kill failed"),
        Concluded(S.REJECTED, "rejected", "kill failed"),
    ),
    (
        S.RUNNING,
        OP.SHUTDOWN,
        result(Outcome.FATAL, "kill failed"),
        Concluded(S.FAILED, "failed", "kill failed"),
    ),
    (S.RUNNING, OP.INSPECT, result(Outcome.OK), Continue()),
    (S.RUNNING, OP.INSPECT, result(Outcome.EXITED, code=0), Concluded(S.COMPLETE, "finished")),
    (
        S.RUNNING,
        OP.INSPECT,
        result(Outcome.EXITED, code=137),
        Concluded(S.FAILED, "failed", "task: non-zero exit (137)"),
    ),
    (
        S.RUNNING,
        OP.INSPECT,
        result(Outcome.FATAL, "No such container: c1"),
        Concluded(S.FAILED, "failed", "No such container: c1"),
    ),
]


@pytest.mark.parametrize(("state", "operation", "outcome", "expected"), CONCLUSIONS)
def test_conclusion_table(
    state: S, operation: OP, outcome: OperationResult, expected: object
) -> None:
    assert conclude(state, operation, outcome) == expected


def test_an_exit_answer_to_start_is_a_bug_in_the_executor() -> None:
    with pytest.raises(InvariantViolation):
        conclude(S.STARTING, OP.START, result(Outcome.EXITED, code=0))


def test_results_without_an_error_text_are_refused() -> None:
    with pytest.raises(ValueError, match="must say what went wrong"):
        OperationResult(Outcome.FATAL)
    with pytest.raises(ValueError, match="exit code"):
        OperationResult(Outcome.EXITED)


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


def test_shutdown_while_running_cancels_the_wait_and_stops_the_container() -> None:
    loop, controller = story()
    loop.run(until=5)
    assert controller.task.status.state is S.RUNNING
    loop.desire(5.0, "t1", S.SHUTDOWN)
    loop.run(until=10)
    assert states(loop)[-1] == (5.0, "shutdown", "shutdown")
    assert loop.executor.calls[-1] == ("t1", OP.SHUTDOWN)


def test_stale_result_of_a_cancelled_wait_is_dropped() -> None:
    _, controller = story()
    out = controller.start(0.0, 0.0)
    while out.commands and out.commands[0].operation is not OP.WAIT:
        command = out.commands[0]
        out = controller.on_result(
            ExecutorResult(command.token, command.operation, OperationResult(Outcome.OK)), 0.0, 0.0
        )
    wait = out.commands[0]
    shutdown = controller.update(
        Task(id="t1", desired_state=S.SHUTDOWN, status=controller.task.status), 1.0, 1.0
    ).commands[0]
    assert shutdown.operation is OP.SHUTDOWN and shutdown.token > wait.token
    late = controller.on_result(
        ExecutorResult(wait.token, OP.WAIT, result(Outcome.EXITED, code=143)), 2.0, 2.0
    )
    assert late.reports == () and late.commands == ()
    assert controller.task.status.state is S.RUNNING
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
