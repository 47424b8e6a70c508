"""The task reaper: a store's tasks and services in, the exact deletions out."""

from __future__ import annotations

from core.model.service import (
    GlobalService,
    RestartPolicy,
    Service,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
)
from core.model.task import Task, TaskStatus
from core.model.timestamp import Timestamp
from core.orchestrator.reaper import deletions, retention_of
from core.tasks.states import TaskState

S = TaskState


def replicated(attempts: int | None = None) -> Service:
    restart = RestartPolicy(max_attempts=attempts) if attempts is not None else None
    return Service(
        id="web", spec=ServiceSpec(name="web", task_template=TaskSpec(restart_policy=restart))
    )


def task(
    n: int,
    state: TaskState,
    desired: TaskState = S.SHUTDOWN,
    slot: int = 1,
    node: str = "n1",
    service: str = "web",
) -> Task:
    return Task(
        id=f"t{n:02d}",
        service_id=service,
        slot=slot,
        node_id=node,
        status=TaskStatus(state=state, timestamp=Timestamp.from_seconds(float(n))),
        desired_state=desired,
    )


def ids(tasks: tuple[Task, ...]) -> list[str]:
    return [t.id for t in tasks]


def test_a_slot_keeps_five_tasks_the_oldest_finished_ones_go() -> None:
    history = [task(n, S.FAILED) for n in range(1, 8)] + [task(8, S.RUNNING, S.RUNNING)]
    assert ids(deletions(history, {"web": replicated()})) == ["t01", "t02", "t03"]


def test_running_tasks_are_never_reaped_for_history() -> None:
    history = [task(n, S.RUNNING, S.RUNNING) for n in range(1, 8)]
    assert deletions(history, {"web": replicated()}) == ()


def test_max_attempts_keeps_one_more_than_the_attempts() -> None:
    history = [task(n, S.FAILED) for n in range(1, 7)]
    assert retention_of(replicated(3), 5) == 4
    assert ids(deletions(history, {"web": replicated(3)})) == ["t01", "t02"]


def test_the_cluster_limit_applies_and_negative_keeps_everything() -> None:
    history = [task(n, S.COMPLETE) for n in range(1, 5)]
    assert ids(deletions(history, {"web": replicated()}, cluster_limit=2)) == ["t01", "t02"]
    assert deletions(history, {"web": replicated()}, cluster_limit=-1) == ()


def test_slots_are_counted_apart_and_global_services_count_per_node() -> None:
    two_slots = [task(n, S.FAILED, slot=1 + n % 2) for n in range(1, 11)]
    assert deletions(two_slots, {"web": replicated()}) == ()  # 5 in each slot
    glob = Service(
        id="web", spec=ServiceSpec(name="web", mode=ServiceMode(global_=GlobalService()))
    )
    per_node = [task(n, S.FAILED, slot=0, node=f"n{n % 2}") for n in range(1, 13)]
    # 6 tasks on each node: the oldest of each goes (node n0 first, then n1).
    assert ids(deletions(per_node, {"web": glob})) == ["t02", "t01"]


def test_removed_tasks_that_never_got_a_node_or_have_stopped_go_at_once() -> None:
    pending = task(1, S.PENDING, S.REMOVE, node="")
    stopped = task(2, S.SHUTDOWN, S.REMOVE)
    stopping = task(3, S.RUNNING, S.REMOVE)  # the agent has yet to stop it
    assert ids(deletions([pending, stopped, stopping], {"web": replicated()})) == ["t01", "t02"]


def test_orphaned_tasks_go_once_their_service_is_gone() -> None:
    orphan = task(1, S.ORPHANED)
    assert ids(deletions([orphan], {})) == ["t01"]
    assert deletions([orphan], {"web": replicated()}) == ()


def test_never_run_tasks_not_wanted_any_more_count_as_finished() -> None:
    history = [task(n, S.FAILED) for n in range(1, 6)] + [task(6, S.PENDING, S.SHUTDOWN, node="")]
    assert ids(deletions(history, {"web": replicated()})) == ["t01"]
