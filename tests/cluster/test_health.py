"""Health checks in a simulated swarm: a task whose check never passes stays STARTING
until it fails; one that turns unhealthy while RUNNING is failed and replaced, and
its container is stopped (the executors show it)."""

from __future__ import annotations

import math

import pytest

from core.model.duration import SECOND
from core.model.service import (
    ContainerSpec,
    HealthConfig,
    ReplicatedService,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
)
from core.tasks.executor import UNHEALTHY_ERROR
from core.tasks.states import TaskState
from sim.cluster import ClusterWorld
from sim.executor import ImageBehaviour
from tests.cluster.support import swarm

SEEDS = (1, 2, 3)
CHECK = HealthConfig(test=("CMD", "true"), interval_ns=2 * SECOND, retries=3)


def checked(image: str) -> ServiceSpec:
    container = ContainerSpec(image=image, healthcheck=CHECK)
    return ServiceSpec(
        name="web",
        task_template=TaskSpec(container_spec=container),
        mode=ServiceMode(replicated=ReplicatedService(replicas=1)),
    )


def create(world: ClusterWorld, image: str) -> str:
    reply = world.call("manager-1", "ServiceCreate", spec=checked(image))
    assert reply.ok, reply.error
    return str(reply.value)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_task_that_never_turns_healthy_stays_starting_then_fails(seed: int) -> None:
    world = swarm(seed, managers=1, workers=1, sick=ImageBehaviour(healthy_after=math.inf))
    service_id = create(world, "sick")
    world.run_for(4)  # started, not yet 3 failed probes (6 s)
    first = [t for t in world.tasks() if t.service_id == service_id]
    assert [t.status.state for t in first] == [TaskState.STARTING]
    world.run_for(6)
    task = next(t for t in world.tasks() if t.id == first[0].id)
    assert task.status.state is TaskState.FAILED
    assert task.status.err == UNHEALTHY_ERROR
    assert task.id not in [i for ids in world.running_containers().values() for i in ids]


@pytest.mark.parametrize("seed", SEEDS)
def test_a_task_that_turns_unhealthy_while_running_is_failed_and_replaced(seed: int) -> None:
    world = swarm(seed, managers=1, workers=1, flaky=ImageBehaviour(unhealthy_after=20.0))
    service_id = create(world, "flaky")
    world.run_for(10)
    (task,) = [t for t in world.tasks() if t.service_id == service_id]
    assert task.status.state is TaskState.RUNNING  # healthy at the first probe (2 s)
    world.run_for(25)  # failing from 20 s: unhealthy after 3 probes, then replaced
    tasks = {t.id: t for t in world.tasks() if t.service_id == service_id}
    assert tasks[task.id].status.state is TaskState.FAILED
    assert tasks[task.id].status.err == UNHEALTHY_ERROR
    replacements = [t for t in tasks.values() if t.id != task.id]
    assert replacements and replacements[0].slot == task.slot
    running = [i for ids in world.running_containers().values() for i in ids]
    assert task.id not in running
