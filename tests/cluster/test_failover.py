"""Issue 6's acceptance #4: the leader crashes while a service scales. A new leader
is elected within the election bound, orchestration goes on from the store, no slot
runs twice, and the restart history (attempts counted so far) survives the change."""

from __future__ import annotations

from collections import Counter

import pytest

from core.model.duration import SECOND
from core.model.service import Placement, RestartPolicy
from core.model.task import Task
from core.tasks.states import TaskState
from sim.cluster import ClusterWorld
from sim.executor import ImageBehaviour
from tests.cluster.support import replicated, running, swarm

SEEDS = (1, 2, 3)
# Raft's election timeout is drawn from [10, 20) ticks of 1 s, after the check-quorum
# lease of the followers expires; pre-vote adds one round trip.
ELECTION_BOUND_SECONDS = 2 * 20.0
WORKERS_ONLY = Placement(constraints=("node.role==worker",))


def leader_name(world: ClusterWorld) -> str | None:
    host = world.leader()
    return host.name if host is not None else None


def running_slots(world: ClusterWorld, service_id: str) -> Counter[int]:
    """Running containers per slot of the service, from the executors."""
    task_of = {t.id: t for t in world.tasks()}
    return Counter(
        task_of[task_id].slot
        for ids in world.running_containers().values()
        for task_id in ids
        if task_id in task_of and task_of[task_id].service_id == service_id
    )


def crash_leader(world: ClusterWorld) -> tuple[str, float]:
    old = leader_name(world)
    assert old is not None
    world.hosts[old].crash()
    return old, world.env.now


def wait_for_new_leader(world: ClusterWorld, old: str, crashed_at: float) -> float:
    def elected() -> bool:
        name = leader_name(world)
        return name is not None and name != old

    assert world.run_until(elected, ELECTION_BOUND_SECONDS + 5, step=0.1)
    return world.env.now - crashed_at


def converged_service(seed: int, replicas: int) -> tuple[ClusterWorld, str]:
    """A swarm of 3 managers and 5 workers running ``replicas`` tasks on the workers."""
    world = swarm(seed)
    spec = replicated("web", replicas, placement=WORKERS_ONLY)
    service_id = world.call("manager-2", "ServiceCreate", spec=spec).value
    assert world.run_until(lambda: len(running(world, service_id)) == replicas, 60)
    return world, service_id


def scale_then_crash_leader(
    world: ClusterWorld, service_id: str, replicas: int
) -> tuple[str, float]:
    """Scale through the leader, crash it while it creates or removes tasks, and wait
    for the next one: the old leader's name and how long the election took."""
    leader = leader_name(world)
    assert leader is not None
    scaled = world.call(leader, "ServiceScale", service=service_id, replicas=replicas)
    assert scaled.ok, scaled.error
    world.run_for(0.3)  # the leader has started creating or removing tasks
    old, crashed_at = crash_leader(world)
    return old, wait_for_new_leader(world, old, crashed_at)


@pytest.mark.parametrize("seed", SEEDS)
def test_leader_crash_while_scaling_up_resumes_without_duplicate_slots(seed: int) -> None:
    world, service_id = converged_service(seed, 10)
    old, took = scale_then_crash_leader(world, service_id, 30)
    assert took <= ELECTION_BOUND_SECONDS

    def converged() -> bool:
        return len(running(world, service_id)) == 30 and running_slots(world, service_id) == (
            Counter(range(1, 31))
        )

    assert world.run_until(converged, 90)
    assert sorted(t.slot for t in running(world, service_id)) == list(range(1, 31))
    wanted = [
        t
        for t in world.tasks()
        if t.service_id == service_id and t.desired_state <= TaskState.RUNNING
    ]
    assert sorted(t.slot for t in wanted) == list(range(1, 31))  # one wanted task per slot
    world.hosts[old].boot()
    world.run_for(30)
    assert running_slots(world, service_id) == Counter(range(1, 31))


@pytest.mark.parametrize("seed", SEEDS)
def test_leader_crash_while_scaling_down_removes_exactly_the_surplus(seed: int) -> None:
    world, service_id = converged_service(seed, 20)
    scale_then_crash_leader(world, service_id, 7)
    assert world.run_until(lambda: sum(running_slots(world, service_id).values()) == 7, 90)
    world.run_for(10)
    slots = running_slots(world, service_id)
    assert sum(slots.values()) == 7 and set(slots.values()) == {1}
    assert sorted(t.slot for t in running(world, service_id)) == sorted(slots)


def slot_tasks(world: ClusterWorld, service_id: str) -> list[Task]:
    return [t for t in world.tasks() if t.service_id == service_id]


@pytest.mark.parametrize("seed", SEEDS)
def test_restart_history_survives_a_leader_change(seed: int) -> None:
    """Max attempts 2: after one restart the leader dies; the new leader counts the
    attempt already made and allows only one more (3 tasks in all), where a lost
    history would allow two more."""
    world = swarm(seed, crashy=ImageBehaviour(exit_after=3.0, exit_code=1))
    policy = RestartPolicy(delay_ns=1 * SECOND, max_attempts=2)
    spec = replicated("loop", 1, "crashy", restart_policy=policy, placement=WORKERS_ONLY)
    service_id = world.call("manager-1", "ServiceCreate", spec=spec).value
    assert world.run_until(lambda: len(slot_tasks(world, service_id)) == 2, 60, step=0.1)
    old, crashed_at = crash_leader(world)
    wait_for_new_leader(world, old, crashed_at)
    world.run_for(60)
    tasks = slot_tasks(world, service_id)
    assert len(tasks) == 3, [(t.status.state, t.desired_state) for t in tasks]
    assert all(t.status.state is TaskState.FAILED for t in tasks)
