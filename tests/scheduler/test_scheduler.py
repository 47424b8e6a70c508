"""The scheduler as a state machine: store events in, decisions out.

Given a scheduler loaded with a cluster, one input (an event, a tick, a refused
decision) and the exact decisions or state that follow.
"""

from __future__ import annotations

import pytest

from core.model import replace
from core.model.common import Version
from core.model.enums import NodeAvailability
from core.model.task import Task, TaskStatus
from core.scheduler.scheduler import (
    ASSIGNED_MESSAGE,
    PREASSIGNED_MESSAGE,
    Decision,
    Scheduler,
)
from core.tasks.states import TaskState
from tests.scheduler.support import (
    node,
    per_node,
    running_on,
    schedule,
    scheduler_with,
    service,
    spec,
    tasks,
)


def preassigned(node_id: str, task: Task) -> Task:
    return replace(task, node_id=node_id)


def test_an_assignment_says_so_and_keeps_the_task_otherwise_unchanged() -> None:
    [task] = tasks("web", 1)
    [decision] = schedule([node("n1")], [task], now=50.0)
    assert decision.old == task
    assert decision.node_version == 1
    assert decision.new == replace(
        task,
        node_id="n1",
        status=TaskStatus(
            timestamp=decision.new.status.timestamp,
            state=TaskState.ASSIGNED,
            message=ASSIGNED_MESSAGE,
        ),
    )
    assert decision.new.status.timestamp.seconds() == 50.0


def test_a_preassigned_task_only_checks_its_own_node() -> None:
    scheduler = scheduler_with([node("n1", cpus=1), node("n2", cpus=8)])
    big = preassigned("n1", tasks("agent", 1, task_spec=spec(cpus=2))[0])
    scheduler.task_changed(big, now=0.0)
    [decision] = scheduler.schedule(0.0, 0.0)
    # It does not move to n2, which has room: a global task belongs to its node.
    assert (decision.new.node_id, decision.new.status.state) == ("n1", TaskState.PENDING)
    assert decision.new.status.err == "insufficient resources on 1 node"
    assert scheduler.schedule(1.0, 1.0) == []  # same verdict: nothing to write
    scheduler.node_changed(node("n1", cpus=4, version=2))
    [decision] = scheduler.schedule(2.0, 2.0)
    assert decision.new.status.state is TaskState.ASSIGNED
    assert decision.new.status.message == PREASSIGNED_MESSAGE
    assert decision.node_version == 2


def test_a_preassigned_task_waits_for_an_unknown_node() -> None:
    scheduler = scheduler_with([])
    scheduler.task_changed(preassigned("n9", tasks("agent", 1)[0]), now=0.0)
    assert scheduler.schedule(0.0, 0.0) == []
    scheduler.node_changed(node("n9"))
    [decision] = scheduler.schedule(1.0, 1.0)
    assert decision.new.status.state is TaskState.ASSIGNED


def test_a_pending_task_is_placed_as_soon_as_a_node_can_take_it() -> None:
    # moby#36699: no task stays PENDING once a node change makes it placeable.
    scheduler = scheduler_with([node("n1", availability=NodeAvailability.DRAIN)])
    scheduler.task_changed(tasks("web", 1)[0], now=0.0)
    [pending] = scheduler.schedule(0.0, 0.0)
    assert pending.new.status.err == "no suitable node (1 node not available for new tasks)"
    assert scheduler.schedule(1.0, 1.0) == []  # nothing changed: no pass, no write
    scheduler.node_changed(node("n1", version=2))
    [placed] = scheduler.schedule(2.0, 2.0)
    assert placed.old.status.err == pending.new.status.err
    assert (placed.new.node_id, placed.new.status.err) == ("n1", "")


def test_a_deleted_task_frees_room_for_a_pending_one() -> None:
    [running] = running_on("n1", tasks("big", 1, task_spec=spec(cpus=2)))
    scheduler = scheduler_with([node("n1", cpus=2)], [running])
    scheduler.task_changed(tasks("web", 1, task_spec=spec(cpus=1))[0], now=0.0)
    [pending] = scheduler.schedule(0.0, 0.0)
    assert pending.new.status.err == "no suitable node (insufficient resources on 1 node)"
    scheduler.task_removed(running)
    [placed] = scheduler.schedule(1.0, 1.0)
    assert placed.new.node_id == "n1"


def test_a_task_that_stops_frees_its_node() -> None:
    [running] = running_on("n1", tasks("big", 1, task_spec=spec(cpus=2)))
    scheduler = scheduler_with([node("n1", cpus=2)], [running])
    scheduler.task_changed(replace(running, status=TaskStatus(state=TaskState.COMPLETE)), 0.0)
    assert scheduler.nodes.infos["n1"].free_nano_cpus == 2_000_000_000
    assert scheduler.nodes.infos["n1"].active_tasks == 0


def test_a_refused_decision_is_undone_and_tried_again() -> None:
    scheduler = scheduler_with([node("n1")])
    scheduler.task_changed(tasks("web", 1, task_spec=spec(cpus=3))[0], now=0.0)
    [decision] = scheduler.schedule(0.0, 0.0)
    assert scheduler.nodes.infos["n1"].active_tasks == 1
    scheduler.decision_failed(decision)  # the node changed under the decision
    assert scheduler.nodes.infos["n1"].active_tasks == 0
    assert scheduler.nodes.infos["n1"].free_nano_cpus == 4_000_000_000
    [again] = scheduler.schedule(1.0, 1.0)
    assert again.old == decision.old and again.new.node_id == "n1"


def test_a_decision_refused_after_its_task_changed_retries_the_newer_copy() -> None:
    """Refused at apply time, after the entry that changed the task was applied: the
    retry is of the newer copy (retrying the stale one is refused forever)."""
    scheduler = scheduler_with([node("n1")])
    [task] = tasks("web", 1)
    scheduler.task_changed(task, now=0.0)
    [decision] = scheduler.schedule(0.0, 0.0)
    newer = replace(task, version=Version(index=9), desired_state=TaskState.RUNNING)
    scheduler.task_changed(newer, now=0.5)
    scheduler.decision_failed(decision)
    [again] = scheduler.schedule(1.0, 1.0)
    assert again.old == newer and again.new.node_id == "n1"


def test_a_decision_refused_after_its_task_was_removed_is_dropped() -> None:
    scheduler = scheduler_with([node("n1")])
    [task] = tasks("web", 1)
    scheduler.task_changed(task, now=0.0)
    [decision] = scheduler.schedule(0.0, 0.0)
    scheduler.task_removed(decision.new)
    scheduler.decision_failed(decision)
    assert scheduler.schedule(1.0, 1.0) == []
    assert scheduler.nodes.infos["n1"].active_tasks == 0


def test_a_pending_task_nobody_wants_running_is_shut_down_not_placed() -> None:
    [task] = tasks("web", 1)
    scheduler = scheduler_with([node("n1")])
    scheduler.task_changed(replace(task, desired_state=TaskState.SHUTDOWN), now=0.0)
    [decision] = scheduler.schedule(0.0, 0.0)
    assert (decision.new.node_id, decision.new.status.state) == ("", TaskState.SHUTDOWN)
    assert scheduler.nodes.infos["n1"].active_tasks == 0


def test_an_unplaceable_task_of_an_old_revision_desired_shutdown_is_shut_down() -> None:
    # SwarmKit #2998: a rolling update must not wait for a task it replaced.
    old = replace(tasks("web", 1, version=1)[0], desired_state=TaskState.RUNNING)
    scheduler = Scheduler()
    scheduler.load((node("n1", state=node("x").status.state.DOWN),), (old,), (service("web", 2),))
    [decision] = scheduler.schedule(0.0, 0.0)
    assert decision.new.status.state is TaskState.PENDING  # still wanted: it waits
    scheduler.task_changed(replace(decision.new, desired_state=TaskState.SHUTDOWN), 1.0)
    [decision] = scheduler.schedule(1.0, 1.0)
    assert decision.new.status.state is TaskState.SHUTDOWN


def test_load_counts_what_takes_room_and_queues_what_is_pending() -> None:
    new = replace(tasks("a", 1)[0], status=TaskStatus(state=TaskState.NEW))
    done = replace(running_on("n1", tasks("b", 1))[0], status=TaskStatus(state=TaskState.COMPLETE))
    dropped = replace(tasks("c", 1)[0], desired_state=TaskState.REMOVE)
    running = running_on("n1", tasks("d", 1, task_spec=spec(cpus=1)))[0]
    scheduler = scheduler_with([node("n1")], [new, done, dropped, running])
    assert sorted(scheduler.all_tasks) == sorted([dropped.id, running.id])
    assert scheduler.nodes.infos["n1"].free_nano_cpus == 3_000_000_000
    [shut] = scheduler.schedule(0.0, 0.0)  # the one no longer wanted is shut down
    assert (shut.new.id, shut.new.status.state) == (dropped.id, TaskState.SHUTDOWN)


def test_a_drained_node_gets_no_new_tasks_after_the_update() -> None:
    scheduler = scheduler_with([node("n1"), node("n2")])
    scheduler.node_changed(node("n1", availability=NodeAvailability.DRAIN, version=2))
    for task in tasks("web", 3):
        scheduler.task_changed(task, now=0.0)
    assert per_node(scheduler.schedule(0.0, 0.0)) == {"n2": 3}


def test_a_removed_node_is_forgotten() -> None:
    scheduler = scheduler_with([node("n1"), node("n2")])
    scheduler.node_removed("n1")
    for task in tasks("web", 2):
        scheduler.task_changed(task, now=0.0)
    assert per_node(scheduler.schedule(0.0, 0.0)) == {"n2": 2}


def test_tasks_without_a_spec_version_are_placed_one_by_one() -> None:
    loose = [replace(t, spec_version=None) for t in tasks("web", 3)]
    assert per_node(schedule([node("n1"), node("n2"), node("n3")], loose)) == {
        "n1": 1,
        "n2": 1,
        "n3": 1,
    }


# -- passes, caps and the debounce ----------------------------------------------------------


def test_commits_are_debounced_by_50_ms_up_to_one_second() -> None:
    scheduler = Scheduler()
    assert scheduler.next_deadline is None
    scheduler.commit(10.0)
    assert scheduler.next_deadline == pytest.approx(10.05)
    scheduler.commit(10.03)
    assert scheduler.next_deadline == pytest.approx(10.08)
    assert scheduler.tick(10.07, 10.07) == [] and scheduler.next_deadline is not None
    for step in range(1, 25):  # a steady stream of commits 45 ms apart
        scheduler.commit(10.03 + 0.045 * step)
    assert scheduler.next_deadline == pytest.approx(10.03 + 0.045 * 24)  # past 1 s: now
    scheduler.tick(11.2, 11.2)
    assert scheduler.next_deadline is None


def test_a_pass_stops_at_its_cap_on_a_group_boundary_and_asks_to_come_back() -> None:
    scheduler = scheduler_with([node("n1"), node("n2")], tasks_per_pass_max=3)
    for name in ("a", "b", "c"):
        for task in tasks(name, 2):
            scheduler.task_changed(task, now=0.0)
    passes = [scheduler.schedule(0.0, 0.0)]
    while scheduler.next_deadline is not None:
        assert scheduler.next_deadline == 0.0  # come back at once
        passes.append(scheduler.tick(0.0, 0.0))
    # Two groups of 2 would pass the cap of 3: one group a pass, in key order.
    assert [[d.new.service_id for d in p] for p in passes] == [["a", "a"], ["b", "b"], ["c", "c"]]


def test_a_capped_sweep_goes_on_past_groups_that_fit_nowhere() -> None:
    scheduler = scheduler_with([node("n1", cpus=1)], tasks_per_pass_max=2)
    for task in tasks("a", 2, task_spec=spec(cpus=2)) + tasks("b", 2):
        scheduler.task_changed(task, now=0.0)
    first = scheduler.schedule(0.0, 0.0)
    assert [d.new.status.err[:16] for d in first] == ["no suitable node"] * 2
    second = scheduler.tick(0.0, 0.0)  # the next pass starts after group a, not at it
    assert [(d.new.service_id, d.new.node_id) for d in second] == [("b", "n1"), ("b", "n1")]
    assert scheduler.next_deadline is None


def test_a_group_larger_than_the_cap_is_still_one_decision_pass() -> None:
    scheduler = scheduler_with([node("n1"), node("n2")], tasks_per_pass_max=5)
    for task in tasks("web", 12):
        scheduler.task_changed(task, now=0.0)
    assert per_node(scheduler.schedule(0.0, 0.0)) == {"n1": 6, "n2": 6}


def test_the_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="tasks_per_pass_max"):
        Scheduler(tasks_per_pass_max=0)


def test_decisions_are_values_the_store_can_check() -> None:
    [decision] = schedule([node("n1", version=7)], tasks("web", 1))
    assert isinstance(decision, Decision)
    assert decision.old.version == Version(index=1)
    assert decision.node_version == 7


def test_a_refused_preassigned_decision_frees_its_node_and_is_tried_again() -> None:
    scheduler = scheduler_with([node("n1", cpus=2)])
    scheduler.task_changed(preassigned("n1", tasks("agent", 1, task_spec=spec(cpus=2))[0]), 0.0)
    [decision] = scheduler.schedule(0.0, 0.0)
    assert decision.new.status.state is TaskState.ASSIGNED
    scheduler.decision_failed(decision)
    assert scheduler.nodes.infos["n1"].free_nano_cpus == 2_000_000_000
    [again] = scheduler.schedule(1.0, 1.0)
    assert again.new.status.state is TaskState.ASSIGNED


def test_a_node_that_joins_after_its_tasks_counts_them() -> None:
    scheduler = scheduler_with([])
    [running] = running_on("n1", tasks("big", 1, task_spec=spec(cpus=3)))
    scheduler.task_changed(running, 0.0)
    scheduler.node_changed(node("n1"))
    assert scheduler.nodes.infos["n1"].free_nano_cpus == 1_000_000_000
    assert scheduler.nodes.infos["n1"].active_tasks == 1
