"""A service with more tasks than one reconcile job may write: its plan is carried
on by follow-up jobs, and a change to the service meanwhile is not overrun."""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

import pytest

import core.manager.leader as leader_module
import core.manager.orchestration as orchestration
from core.manager.writes import WriteQueue
from core.tasks.states import TaskState
from sim.cluster import ClusterWorld
from tests.cluster.support import replicated, running, swarm

SEEDS = [1, 2, 3]


@pytest.fixture
def small_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs of 3 changes and rounds of 6, so 40 replicas take many rounds."""
    monkeypatch.setattr(orchestration, "CHANGES_PER_JOB_MAX", 3)
    monkeypatch.setattr(
        leader_module, "WriteQueue", functools.partial(WriteQueue, changes_per_round_max=6)
    )


def wanted_slots(world: ClusterWorld, service_id: str) -> Counter[int]:
    return Counter(
        t.slot
        for t in world.tasks()
        if t.service_id == service_id and t.desired_state <= TaskState.RUNNING
    )


def leftovers(world: ClusterWorld) -> dict[str, object]:
    host = world.leader()
    assert host is not None and host.node is not None and host.node.manager is not None
    leadership = host.node.manager.leadership
    assert leadership is not None
    return dict(leadership.orchestration.leftovers)


@pytest.mark.parametrize("seed", SEEDS)
def test_plan_beyond_one_job_fills_every_slot_once(seed: int, small_jobs: None) -> None:
    world = swarm(seed, managers=1, workers=3)
    service_id = world.call("manager-1", "ServiceCreate", spec=replicated("web", 40)).value
    assert world.run_until(lambda: len(running(world, service_id)) == 40, 120)
    assert wanted_slots(world, service_id) == Counter(range(1, 41))
    assert sum(len(ids) for ids in world.running_containers().values()) == 40


@pytest.mark.parametrize("seed", SEEDS)
def test_scale_down_while_a_plan_is_carried_on_drops_the_rest(seed: int, small_jobs: None) -> None:
    world = swarm(seed, managers=1, workers=3)
    created_at: dict[str, tuple[int, int]] = {}  # task id -> (log index, slot) of its creation
    emit_task = world.trace.emit_task  # every task line of the trace

    def record(time: float, host: str, **fields: Any) -> None:
        created_at.setdefault(fields["id"], (fields["index"], fields["slot"]))
        emit_task(time, host, **fields)

    world.trace.emit_task = record  # type: ignore[method-assign]
    created = world.send_request("manager-1", "ServiceCreate", spec=replicated("web", 40))
    assert world.run_until(lambda: bool(leftovers(world)), 10, step=0.001)
    service_id = world.replies[created].value
    assert len(wanted_slots(world, service_id)) < 40  # the plan is part way
    assert world.call("manager-1", "ServiceUpdate", service="web", spec=replicated("web", 10)).ok
    store = world.leader_store()
    assert store is not None
    updated = store.tables["services"][service_id].version.index
    assert world.run_until(lambda: len(running(world, service_id)) == 10, 120)
    world.run_for(30)
    # nothing of the old plan was written after the service changed
    assert [slot for index, slot in created_at.values() if index > updated and slot > 10] == []
    assert not leftovers(world)
    assert wanted_slots(world, service_id) == Counter(range(1, 11))
    assert sum(len(ids) for ids in world.running_containers().values()) == 10
