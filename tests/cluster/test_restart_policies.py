"""Issue 6's acceptance #7 beyond the crash loop: the restart conditions, max attempts
with a window, the task history limit, and jobs, in a simulated swarm over seeds."""

from __future__ import annotations

import pytest

from core.model import replace
from core.model.duration import SECOND
from core.model.enums import RestartCondition
from core.model.service import (
    ContainerSpec,
    ReplicatedJob,
    RestartPolicy,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
)
from core.model.task import Task
from core.tasks.states import TaskState
from sim.cluster import ClusterWorld
from sim.executor import ImageBehaviour
from tests.cluster.support import replicated, swarm

SEEDS = (1, 2, 3)
CRASHY = ImageBehaviour(exit_after=1.0, exit_code=1)
DONE = ImageBehaviour(exit_after=2.0, exit_code=0)


def service_tasks(world: ClusterWorld, service_id: str) -> list[Task]:
    return [t for t in world.tasks() if t.service_id == service_id]


def create(world: ClusterWorld, spec: ServiceSpec) -> str:
    reply = world.call("manager-1", "ServiceCreate", spec=spec)
    assert reply.ok, reply.error
    return str(reply.value)


def tasks_after(
    seed: int, seconds: float, image: ImageBehaviour, replicas: int, policy: RestartPolicy
) -> list[Task]:
    """The tasks of a service of ``replicas`` tasks of ``image`` after ``seconds``."""
    world = swarm(seed, managers=1, workers=2, image=image)
    service_id = create(world, replicated("svc", replicas, "image", restart_policy=policy))
    world.run_for(seconds)
    return service_tasks(world, service_id)


@pytest.mark.parametrize("seed", SEEDS)
def test_on_failure_does_not_restart_a_task_that_exits_zero(seed: int) -> None:
    policy = RestartPolicy(condition=RestartCondition.ON_FAILURE)
    tasks = tasks_after(seed, 40, DONE, 2, policy)
    assert len(tasks) == 2
    assert all(t.status.state is TaskState.COMPLETE for t in tasks)


@pytest.mark.parametrize("seed", SEEDS)
def test_on_failure_restarts_a_task_that_exits_non_zero(seed: int) -> None:
    policy = RestartPolicy(condition=RestartCondition.ON_FAILURE, delay_ns=1 * SECOND)
    assert len(tasks_after(seed, 30, CRASHY, 1, policy)) >= 4


@pytest.mark.parametrize("seed", SEEDS)
def test_condition_none_never_restarts(seed: int) -> None:
    tasks = tasks_after(seed, 40, CRASHY, 3, RestartPolicy(condition=RestartCondition.NONE))
    assert len(tasks) == 3
    assert all(t.status.state is TaskState.FAILED for t in tasks)


@pytest.mark.parametrize("seed", SEEDS)
def test_max_attempts_with_a_window_stops_after_three_and_keeps_four_tasks(seed: int) -> None:
    world = swarm(seed, managers=1, workers=2, crashy=CRASHY)
    policy = RestartPolicy(delay_ns=1 * SECOND, max_attempts=3, window_ns=120 * SECOND)
    service_id = create(world, replicated("loop", 1, "crashy", restart_policy=policy))
    world.run_for(60)
    tasks = service_tasks(world, service_id)
    # the first task and its 3 restarts, all failed, all kept (limit: attempts + 1)
    assert len(tasks) == 4
    assert {t.slot for t in tasks} == {1}
    assert all(t.status.state is TaskState.FAILED for t in tasks)
    world.run_for(60)  # inside the window nothing more happens
    assert len(service_tasks(world, service_id)) == 4


@pytest.mark.parametrize("seed", SEEDS)
def test_without_max_attempts_the_history_limit_keeps_five_tasks_per_slot(seed: int) -> None:
    world = swarm(seed, managers=1, workers=2, crashy=CRASHY)
    policy = RestartPolicy(delay_ns=1 * SECOND)
    service_id = create(world, replicated("loop", 2, "crashy", restart_policy=policy))
    world.run_for(120)  # a restart every ~2.5 s: far more than 5 tasks per slot ran
    tasks = service_tasks(world, service_id)
    per_slot = {slot: [t for t in tasks if t.slot == slot] for slot in (1, 2)}
    assert sorted({t.slot for t in tasks}) == [1, 2]
    for slot_tasks in per_slot.values():
        assert len(slot_tasks) == 5
        assert sum(t.desired_state <= TaskState.RUNNING for t in slot_tasks) == 1


@pytest.mark.parametrize("seed", SEEDS)
def test_a_replicated_job_runs_its_completions_and_stops(seed: int) -> None:
    world = swarm(seed, managers=1, workers=3, done=DONE)
    spec = ServiceSpec(
        name="batch",
        task_template=TaskSpec(container_spec=ContainerSpec(image="done")),
        mode=ServiceMode(replicated_job=ReplicatedJob(max_concurrent=2, total_completions=5)),
    )
    service_id = create(world, spec)
    most_at_once = 0
    for _ in range(120):
        world.run_for(0.5)
        running = sum(len(ids) for ids in world.running_containers().values())
        most_at_once = max(most_at_once, running)
    tasks = service_tasks(world, service_id)
    assert len(tasks) == 5
    assert all(t.status.state is TaskState.COMPLETE for t in tasks)
    assert most_at_once == 2
    world.run_for(30)
    assert len(service_tasks(world, service_id)) == 5


def test_a_replicated_job_sent_without_counts_gets_dockerds_one_at_a_time() -> None:
    """docker/cli's stack convert leaves them unset and dockerd fills them; shoal's
    own clients reach the manager without a dockerd, so the manager fills them."""
    world = swarm(9, managers=1, workers=1)
    spec = replace(replicated("once", 1), mode=ServiceMode(replicated_job=ReplicatedJob()))
    made = world.call("manager-1", "ServiceCreate", spec=spec)
    assert made.ok, made.error
    stored = world.call("manager-1", "ServiceInspect", service=str(made.value)).value
    job = stored.spec.mode.replicated_job
    assert (job.max_concurrent, job.total_completions) == (1, 1)
