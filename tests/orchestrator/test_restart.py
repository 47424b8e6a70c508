"""The restart supervisor's decisions (SwarmKit's ``restart.shouldRestart`` and
``Restart``): a policy, a stopped task, a history, and the verdict."""

from __future__ import annotations

import random

import pytest

from core.model import replace
from core.model.common import Version
from core.model.duration import SECOND
from core.model.enums import NodeAvailability, RestartCondition
from core.model.node import Node, NodeSpec
from core.model.service import RestartPolicy, Service, ServiceSpec, TaskSpec
from core.model.task import Task, TaskStatus
from core.model.timestamp import Timestamp
from core.orchestrator.restart import (
    RestartHistory,
    replacement,
    restart_delay_seconds,
    should_restart,
    slot_key,
)
from core.tasks.states import TaskState


def stopped(state: TaskState, slot: int = 1, version: int = 1, created_s: float = 0) -> Task:
    return Task(
        id=f"t{slot}-{created_s:g}",
        service_id="web",
        slot=slot,
        node_id="n1",
        spec_version=Version(index=version),
        created_at=Timestamp.from_seconds(created_s),
        status=TaskStatus(state=state),
    )


def policy(
    condition: RestartCondition | None = None, attempts: int = 0, window_s: float = 0
) -> RestartPolicy:
    return RestartPolicy(
        condition=condition, max_attempts=attempts, window_ns=int(window_s * SECOND) or None
    )


@pytest.mark.parametrize(
    ("condition", "state", "is_job", "restarts"),
    [
        (RestartCondition.ANY, TaskState.FAILED, False, True),
        (RestartCondition.ANY, TaskState.COMPLETE, False, True),
        (RestartCondition.ANY, TaskState.COMPLETE, True, False),  # a job that finished
        (RestartCondition.ANY, TaskState.FAILED, True, True),
        (RestartCondition.ON_FAILURE, TaskState.FAILED, False, True),
        (RestartCondition.ON_FAILURE, TaskState.REJECTED, False, True),
        (RestartCondition.ON_FAILURE, TaskState.COMPLETE, False, False),  # exit 0
        (RestartCondition.NONE, TaskState.FAILED, False, False),
        (None, TaskState.COMPLETE, False, True),  # unset means any
    ],
)
def test_the_condition_decides_first(
    condition: RestartCondition | None, state: TaskState, is_job: bool, restarts: bool
) -> None:
    verdict = should_restart(
        policy(condition), stopped(state), is_job, False, RestartHistory(), now=0.0
    )
    assert verdict is restarts


def test_max_attempts_counts_restarts_per_slot() -> None:
    history, limited = RestartHistory(), policy(attempts=3)
    task = stopped(TaskState.FAILED)
    for at in (10.0, 20.0, 30.0):
        assert should_restart(limited, task, False, False, history, now=at)
        history.record(slot_key(task, False), 1, at)
    assert not should_restart(limited, task, False, False, history, now=40.0)
    other_slot = stopped(TaskState.FAILED, slot=2)
    assert should_restart(limited, other_slot, False, False, history, now=40.0)


def test_a_new_spec_version_starts_the_count_again() -> None:
    history, limited = RestartHistory(), policy(attempts=1)
    old = stopped(TaskState.FAILED, version=1)
    history.record(slot_key(old, False), 1, 10.0)
    assert not should_restart(limited, old, False, False, history, now=20.0)
    assert should_restart(
        limited, stopped(TaskState.FAILED, version=2), False, False, history, 20.0
    )


def test_with_a_window_only_recent_restarts_count() -> None:
    history, windowed = RestartHistory(), policy(attempts=2, window_s=60)
    task = stopped(TaskState.FAILED)
    history.record(slot_key(task, False), 1, 0.0)
    history.record(slot_key(task, False), 1, 30.0)
    assert not should_restart(windowed, task, False, False, history, now=59.0)
    assert should_restart(windowed, task, False, False, history, now=61.0)  # 0.0 fell out


def test_global_tasks_count_per_node() -> None:
    task = stopped(TaskState.FAILED)
    assert slot_key(task, is_global=True) == ("web", "n1")
    assert slot_key(task, is_global=False) == ("web", 1)


def test_a_new_leader_rebuilds_the_history_from_the_store() -> None:
    service = Service(id="web", spec_version=Version(index=2))
    tasks = [stopped(TaskState.FAILED, version=2, created_s=s) for s in (5.0, 15.0, 25.0)]
    tasks.append(stopped(TaskState.FAILED, version=1, created_s=1.0))  # older spec: no count
    history = RestartHistory()
    history.rebuild(tasks, service, is_global=False, at=30.0)
    assert history.count(("web", 1), 2, 30.0, None) == 2  # all but the oldest
    assert not should_restart(policy(attempts=2), tasks[0], False, False, history, 30.0)


@pytest.mark.parametrize(
    ("availability", "delay_ns", "expected"),
    [
        (NodeAvailability.ACTIVE, None, 5.0),
        (NodeAvailability.ACTIVE, 2 * SECOND, 2.0),
        (NodeAvailability.ACTIVE, 0, 0.0),
        (NodeAvailability.DRAIN, 2 * SECOND, 0.0),  # leaving a drained node: at once
        (NodeAvailability.PAUSE, None, 5.0),
    ],
)
def test_the_restart_delay(
    availability: NodeAvailability, delay_ns: int | None, expected: float
) -> None:
    node = Node(id="n1", spec=NodeSpec(availability=availability))
    assert restart_delay_seconds(RestartPolicy(delay_ns=delay_ns), node) == expected
    assert restart_delay_seconds(None, None) == 5.0


def test_a_replacement_takes_the_slot_with_the_current_spec_desired_ready() -> None:
    spec = ServiceSpec(name="web", task_template=TaskSpec(force_update=3))
    service = Service(id="web", spec=spec, spec_version=Version(index=7))
    old = replace(stopped(TaskState.FAILED, slot=4), job_iteration=Version(index=2))
    new = replacement(service, old, is_global=False, rng=random.Random(1), wall=50.0)
    assert (new.slot, new.node_id, new.desired_state) == (4, "", TaskState.READY)
    assert (new.spec, new.spec_version, new.job_iteration) == (
        spec.task_template,
        Version(index=7),
        Version(index=2),
    )
    assert (new.status.state, new.status.message) == (TaskState.NEW, "created")
    assert new.status.timestamp.seconds() == 50.0 and len(new.id) == 25
    same_node = replacement(service, old, is_global=True, rng=random.Random(1), wall=50.0)
    assert (same_node.slot, same_node.node_id) == (0, "n1")
    assert same_node.id == new.id  # ids come from the rng handed in
