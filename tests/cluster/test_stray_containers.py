"""Issue 15 items 13 and 14b: no container outlives the task it belongs to.

A task told to shut down while its container is still starting is shut down at once
by its agent (the START is cancelled, as SwarmKit's task manager cancels the operation
under way). dockerd holds a container's lock for the whole start, so the stop waits
for the start and then stops the container it started; a simulated executor that
answered the stop at once and started the container afterwards left it running
under a SHUTDOWN task, and the swarm never converged (the fault sweep's seeds 5012,
5146 and 5578, in tests/cluster/test_fault_sweep.py).

A container killed under a running task (exit 137) fails the task with Docker's
error, and the restart policy replaces it.
"""

from __future__ import annotations

import random

import pytest
import simpy

from core.model.service import ContainerSpec, TaskSpec
from core.model.task import Task, TaskStatus
from core.tasks.executor import (
    ExecutorCommand,
    ExecutorResult,
    Operation,
    OperationToken,
    Outcome,
)
from core.tasks.states import TaskState
from sim.cluster import ClusterWorld
from sim.executor import ImageBehaviour, SimExecutor
from tests.cluster.support import replicated, running, swarm
from tests.cluster.updates import with_image

SLOW = ImageBehaviour(start_seconds=5.0)  # dockerd takes 5 s to start its container


def strays(world: ClusterWorld) -> list[tuple[str, str, str]]:
    """(host, task id, task state) of every container whose task is not wanted running."""
    tasks = {t.id: t for t in world.tasks()}
    found = []
    for host, task_ids in world.running_containers().items():
        for task_id in task_ids:
            task = tasks.get(task_id)
            if task is None or task.desired_state > TaskState.RUNNING:
                found.append((host, task_id, task.status.state.name if task else "gone"))
    return found


@pytest.mark.parametrize("seed", (1, 2, 3))
@pytest.mark.parametrize("new_image", ["slow:2", "web:2"])
def test_an_update_while_the_old_task_starts_leaves_no_container_behind(
    seed: int, new_image: str
) -> None:
    world = swarm(seed, **{"slow:1": SLOW, "slow:2": SLOW})
    spec = replicated("web", 1, image="slow:1")
    service_id = world.call("manager-1", "ServiceCreate", spec=spec).value
    assert world.run_until(
        lambda: any(t.status.state is TaskState.STARTING for t in world.tasks()), 30, step=0.1
    )
    reply = world.call(
        "manager-1", "ServiceUpdate", service="web", spec=with_image(spec, new_image)
    )
    assert reply.ok, reply.error
    world.run_for(60)
    old = [t for t in world.tasks() if t.spec.container_spec.image == "slow:1"]  # type: ignore[union-attr]
    assert [t.status.state for t in old] == [TaskState.SHUTDOWN]
    assert strays(world) == []
    wanted = [t.id for t in world.tasks() if t.desired_state is TaskState.RUNNING]
    assert sorted(i for ids in world.running_containers().values() for i in ids) == wanted
    assert [t.service_id for t in world.tasks() if t.id in wanted] == [service_id]


def _task(task_id: str) -> Task:
    spec = TaskSpec(container_spec=ContainerSpec(image="slow"))
    return Task(id=task_id, spec=spec, status=TaskStatus(state=TaskState.STARTING))


class Host:
    """One simulated executor with a task whose container takes 5 s to start."""

    def __init__(self) -> None:
        self.env = simpy.Environment()
        self.results: list[tuple[float, ExecutorResult]] = []
        self.executor = SimExecutor(self.env, random.Random(1), {"slow": SLOW}, self.deliver)
        self.task = _task("t1")

    def deliver(self, result: ExecutorResult) -> None:
        self.results.append((self.env.now, result))

    def run(self, sequence: int, operation: Operation, until: float) -> None:
        token = OperationToken(self.task.id, 1, sequence)
        self.executor.run(ExecutorCommand(token, operation, self.task))
        self.env.run(until=until)

    def starting(self) -> None:
        """Created by 0.5 s, asked to start at 1 s: it runs from 6 s."""
        self.run(1, Operation.PREPARE, 1.0)
        self.run(2, Operation.START, 2.0)


def test_a_stop_asked_while_the_container_starts_waits_and_stops_it() -> None:
    host = Host()
    host.starting()
    host.run(3, Operation.SHUTDOWN, 20.0)  # the START is still under way
    answered = {r.token.sequence: (at, r.result.outcome) for at, r in host.results}
    assert answered[2] == (6.0, Outcome.OK)
    assert answered[3][0] > 6.0  # the stop waited for the start, then stopped it
    assert host.executor.running() == []


def test_a_start_under_way_when_the_host_crashes_never_runs_after_the_reboot() -> None:
    host = Host()
    host.starting()
    host.executor.host_crashed()
    host.env.run(until=3.0)
    host.executor.host_started(host.deliver)
    host.env.run(until=20.0)  # the start was due at 6 s, in dockerd's previous life
    assert host.executor.running() == []
    assert [(at, r.operation) for at, r in host.results] == [(0.5, Operation.PREPARE)]


@pytest.mark.parametrize("seed", (1, 2))
def test_a_killed_container_fails_its_task_and_the_restart_policy_replaces_it(seed: int) -> None:
    world = swarm(seed)
    service_id = world.call("manager-1", "ServiceCreate", spec=replicated("web", 2)).value
    assert world.run_until(lambda: len(running(world, service_id)) == 2, 60)
    victim = running(world, service_id)[0]
    host = next(h for h, ids in world.running_containers().items() if victim.id in ids)
    assert world.hosts[host].executor.kill(victim.id)
    world.run_for(15)  # the default restart delay is 5 s
    tasks = {t.id: t for t in world.tasks()}
    killed = tasks[victim.id]
    assert (killed.status.state, killed.status.err) == (
        TaskState.FAILED,
        "task: non-zero exit (137)",
    )
    assert killed.status.container_status is not None
    assert killed.status.container_status.exit_code == 137
    replacement = [t for t in running(world, service_id) if t.slot == victim.slot]
    assert len(replacement) == 1 and replacement[0].id != victim.id
    assert strays(world) == []
