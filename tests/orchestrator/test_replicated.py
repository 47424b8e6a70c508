"""The replicated orchestrator's reconcile: a service, its tasks, and the exact plan
(slots to fill, tasks to remove, slots for the updater)."""

from __future__ import annotations

from core.model.common import Version
from core.model.service import ReplicatedService, Service, ServiceMode, ServiceSpec
from core.model.task import Task, TaskStatus
from core.model.timestamp import Timestamp
from core.orchestrator.replicated import reconcile
from core.tasks.states import TaskState

S = TaskState


def service(replicas: int) -> Service:
    mode = ServiceMode(replicated=ReplicatedService(replicas=replicas))
    return Service(id="web", spec=ServiceSpec(name="web", mode=mode), spec_version=Version(index=1))


def task(
    slot: int,
    state: TaskState = S.RUNNING,
    node: str = "n1",
    desired: TaskState = S.RUNNING,
    created_s: float = 0.0,
) -> Task:
    return Task(
        id=f"t{slot}-{created_s:g}",
        service_id="web",
        slot=slot,
        node_id=node,
        created_at=Timestamp.from_seconds(created_s),
        status=TaskStatus(state=state),
        desired_state=desired,
    )


def always(_: Task) -> bool:
    return True


def never(_: Task) -> bool:
    return False


def ids(tasks: tuple[Task, ...]) -> list[str]:
    return [t.id for t in tasks]


def test_a_new_service_fills_slots_from_one() -> None:
    plan = reconcile(service(3), [], always)
    assert (plan.create_slots, plan.remove, plan.update) == ((1, 2, 3), (), ())


def test_scaling_up_reuses_the_lowest_free_slots_including_dead_ones() -> None:
    dead = task(2, S.FAILED, desired=S.SHUTDOWN)
    plan = reconcile(service(5), [task(1), dead, task(3)], always)
    assert plan.create_slots == (2, 4, 5)
    assert plan.remove == ()  # slot 2's failed task stays as the slot's history
    assert [s[0].slot for s in plan.update] == [1, 3]


def test_a_slot_whose_task_finished_and_will_not_restart_still_counts() -> None:
    finished = task(2, S.COMPLETE, desired=S.SHUTDOWN)
    plan = reconcile(service(2), [task(1), finished], never)
    assert plan.create_slots == () and plan.remove == ()
    assert [s[0].id for s in plan.update] == ["t1-0", "t2-0"]


def test_the_newest_task_of_a_stopped_slot_decides() -> None:
    old = task(1, S.FAILED, desired=S.SHUTDOWN, created_s=1)
    newest = task(1, S.COMPLETE, desired=S.SHUTDOWN, created_s=2)
    seen: list[str] = []

    def restartable(t: Task) -> bool:
        seen.append(t.id)
        return False

    plan = reconcile(service(1), [old, newest], restartable)
    assert seen == ["t1-2"] and plan.create_slots == ()


def test_scaling_down_balances_nodes_and_removes_unplaced_tasks_first() -> None:
    tasks = [task(1, node="n1"), task(2, node="n1"), task(3, node="n2")]
    tasks.append(task(4, S.PENDING, node=""))
    plan = reconcile(service(2), tasks, always)
    assert [s[0].slot for s in plan.update] == [1, 3]  # one per node
    assert ids(plan.remove) == ["t2-0", "t4-0"]
    assert plan.create_slots == ()


def test_scaling_down_prefers_to_remove_tasks_that_are_not_running() -> None:
    plan = reconcile(service(1), [task(1, S.STARTING, node="n1"), task(2, node="n2")], always)
    assert [s[0].slot for s in plan.update] == [2]
    assert ids(plan.remove) == ["t1-0"]


def test_scaling_down_among_equals_keeps_lower_slots() -> None:
    tasks = [task(n, node=f"n{n}") for n in (1, 2, 3, 4)]
    plan = reconcile(service(2), tasks, always)
    assert [s[0].slot for s in plan.update] == [1, 2]
    assert ids(plan.remove) == ["t3-0", "t4-0"]


def test_to_zero_removes_everything() -> None:
    plan = reconcile(service(0), [task(1), task(2, S.PENDING, node="")], always)
    assert plan.update == () and ids(plan.remove) == ["t1-0", "t2-0"]


def test_dead_slots_are_removed_when_the_count_is_right() -> None:
    dead = task(3, S.FAILED, desired=S.SHUTDOWN)
    plan = reconcile(service(2), [task(1), task(2), dead], always)
    assert ids(plan.remove) == ["t3-0"] and plan.create_slots == ()


def test_tasks_already_being_removed_are_not_removed_again() -> None:
    leaving = task(3, desired=S.REMOVE)
    plan = reconcile(service(2), [task(1), task(2), leaving], always)
    assert plan.remove == () and [s[0].slot for s in plan.update] == [1, 2]
