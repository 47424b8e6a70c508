"""Issue 7's acceptance: rolling updates in a simulated swarm, over seeds."""

from __future__ import annotations

import pytest

from core.model import replace
from core.model.duration import SECOND
from core.model.enums import UpdateOrder, UpdateState
from core.model.service import (
    ContainerSpec,
    GlobalService,
    HealthConfig,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
)
from core.model.task import Task
from core.tasks.states import TaskState
from sim.cluster import ClusterWorld
from sim.executor import ImageBehaviour
from tests.cluster.support import host_of, replicated, running, swarm
from tests.cluster.updates import (
    TaskLog,
    images_running,
    update_config,
    update_state,
    with_image,
)

SEEDS = (1, 2, 3)


def rolled(
    seed: int, order: UpdateOrder, parallelism: int = 2, delay: float = 10.0
) -> tuple[TaskLog, set[str], float, float]:
    """10 replicas of nginx:1 updated to nginx:2; the log, the new tasks, when the
    update was asked and when it completed."""
    world = swarm(seed)
    config = update_config(parallelism=parallelism, delay=delay, order=order)
    spec = replicated("web", 10, image="nginx:1")
    spec = replace(spec, update_config=config)
    service_id = world.call("manager-1", "ServiceCreate", spec=spec).value
    assert world.run_until(lambda: len(running(world, service_id)) == 10, 60)
    log = TaskLog(service_id).attach(world)
    before = {t.id for t in world.tasks()}
    asked = world.env.now
    new_spec = with_image(spec, "nginx:2")
    reply = world.call("manager-1", "ServiceUpdate", service="web", spec=new_spec)
    assert reply.ok, reply.error
    assert world.run_until(lambda: update_state(world, service_id) is UpdateState.COMPLETED, 300)
    completed = world.env.now
    assert images_running(world, service_id) == ["nginx:2"] * 10
    return log, log.ids() - before, asked, completed


@pytest.mark.parametrize("seed", SEEDS)
def test_stop_first_keeps_two_in_flight_rests_between_and_serves_eight(seed: int) -> None:
    log, new, asked, completed = rolled(seed, UpdateOrder.STOP_FIRST)
    assert len(new) == 10  # one new task per slot, none failed
    spans = log.in_flight(new)
    assert len(spans) == 10
    instants = sorted({t for span in spans for t in span})
    for t in instants:
        assert sum(1 for start, end in spans if start <= t < end) <= 2
    # a worker rests 10 s after a slot: in flight + finished in the last 10 s <= 2
    for start, _ in spans:
        busy = sum(1 for s, e in spans if s <= start < e)
        resting = sum(1 for _, e in spans if start - 10.0 + 1e-6 < e <= start)
        assert busy + resting <= 2, (start, busy, resting)
    assert completed - asked >= 40.0
    assert min(count for _, count in log.running_counts()) >= 8


@pytest.mark.parametrize("seed", SEEDS)
def test_start_first_never_runs_more_than_twelve_nor_fewer_than_ten(seed: int) -> None:
    log, new, _, _ = rolled(seed, UpdateOrder.START_FIRST)
    assert len(new) == 10
    counts = [count for _, count in log.running_counts()]
    assert max(counts) <= 12
    assert min(counts) >= 10


@pytest.mark.parametrize("seed", SEEDS)
def test_global_service_updates_node_by_node(seed: int) -> None:
    world = swarm(seed)
    spec = ServiceSpec(
        name="agent",
        task_template=TaskSpec(container_spec=ContainerSpec(image="agent:1")),
        mode=ServiceMode(global_=GlobalService()),
        update_config=update_config(parallelism=1),
    )
    service_id = world.call("manager-1", "ServiceCreate", spec=spec).value
    nodes = len(world.hosts)
    assert world.run_until(lambda: len(running(world, service_id)) == nodes, 60)
    node_of = {t.id: t.node_id for t in world.tasks()}
    log = TaskLog(service_id).attach(world)
    before = log.ids()
    assert world.call(
        "manager-1", "ServiceUpdate", service="agent", spec=with_image(spec, "agent:2")
    ).ok
    assert world.run_until(lambda: update_state(world, service_id) is UpdateState.COMPLETED, 300)
    assert images_running(world, service_id) == ["agent:2"] * nodes
    new = log.ids() - before
    spans = log.in_flight(new)
    assert len(spans) == nodes
    for t in sorted({t for span in spans for t in span}):
        assert sum(1 for start, end in spans if start <= t < end) <= 1
    fresh = {t.id: t.node_id for t in world.tasks() if t.id in new}
    assert sorted(fresh.values()) == sorted(node_of.values())  # each on its old task's node


@pytest.mark.parametrize("seed", SEEDS)
def test_start_first_stops_the_old_task_only_once_the_new_one_is_healthy(seed: int) -> None:
    check = HealthConfig(test=("CMD", "true"), interval_ns=SECOND, retries=10)
    world = swarm(seed, **{"web:2": ImageBehaviour(healthy_after=4.0)})
    config = update_config(order=UpdateOrder.START_FIRST)
    spec = replace(replicated("web", 3, image="web:1"), update_config=config)
    service_id = world.call("manager-1", "ServiceCreate", spec=spec).value
    assert world.run_until(lambda: len(running(world, service_id)) == 3, 60)
    log = TaskLog(service_id).attach(world)
    old = log.ids()
    container = replace(with_image(spec, "web:2").task_template.container_spec, healthcheck=check)  # type: ignore[type-var]
    new_spec = replace(spec, task_template=replace(spec.task_template, container_spec=container))
    assert world.call("manager-1", "ServiceUpdate", service="web", spec=new_spec).ok
    assert world.run_until(lambda: update_state(world, service_id) is UpdateState.COMPLETED, 300)
    running_at = {}  # slot -> when its new task was first RUNNING (so healthy)
    shut_at = {}  # slot -> when its old task was first told to shut down
    for time, task_id, slot, state, desired in log.events[log.seeded :]:
        if task_id not in old and state == "RUNNING":
            running_at.setdefault(slot, time)
        if task_id in old and desired == "SHUTDOWN":
            shut_at.setdefault(slot, time)
    assert sorted(running_at) == sorted(shut_at) == [1, 2, 3]
    assert all(shut_at[slot] >= running_at[slot] for slot in shut_at)
    assert all(running_at[slot] - log.events[0][0] >= 4.0 for slot in running_at)


@pytest.mark.parametrize(("delay", "monitor", "after_last"), [(0.0, 5.0, 5.0), (10.0, 5.0, 21.0)])
def test_completion_waits_one_monitoring_period_after_the_last_slot(
    delay: float, monitor: float, after_last: float
) -> None:
    """After the last slot the worker rests ``delay``; then one more period is
    watched: ``monitor``, or ``delay`` + 1 s when ``delay`` >= ``monitor``."""
    world = swarm(1, managers=1, workers=2)
    config = update_config(delay=delay, monitor_ns=round(monitor * SECOND))
    spec = replace(replicated("web", 2, image="web:1"), update_config=config)
    service_id = world.call("manager-1", "ServiceCreate", spec=spec).value
    assert world.run_until(lambda: len(running(world, service_id)) == 2, 60)
    log = TaskLog(service_id).attach(world)
    old = log.ids()
    assert world.call(
        "manager-1", "ServiceUpdate", service="web", spec=with_image(spec, "web:2")
    ).ok
    assert world.run_until(
        lambda: update_state(world, service_id) is UpdateState.COMPLETED, 300, step=0.01
    )
    last_running = max(
        t for t, task_id, _, state, _ in log.events if task_id not in old and state == "RUNNING"
    )
    assert after_last <= world.env.now - last_running <= after_last + 0.1


START_FIRST_WEB = replace(
    replicated("web", 1, image="web:1"),
    update_config=update_config(order=UpdateOrder.START_FIRST),
)


def one_start_first_replica(seed: int, workers: int) -> tuple[ClusterWorld, str, Task]:
    """One manager, ``workers`` workers and a running one-replica start-first ``web``
    whose image ``slow:2`` pulls for 5 s: the world, the service and its task."""
    world = swarm(seed, managers=1, workers=workers, **{"slow:2": ImageBehaviour(pull_seconds=5.0)})
    service_id = world.call("manager-1", "ServiceCreate", spec=START_FIRST_WEB).value
    assert world.run_until(lambda: len(running(world, service_id)) == 1, 60)
    return world, service_id, running(world, service_id)[0]


def update_to_a_slow_image(world: ClusterWorld) -> Task:
    """Update ``web`` to ``slow:2``; the update's new task, once it is pulling."""
    update = with_image(START_FIRST_WEB, "slow:2")
    assert world.call("manager-1", "ServiceUpdate", service="web", spec=update).ok

    def preparing() -> list[Task]:
        return [t for t in world.tasks() if t.status.state is TaskState.PREPARING]

    assert world.run_until(lambda: bool(preparing()), 30, step=0.05)
    return preparing()[0]


@pytest.mark.parametrize("seed", SEEDS)
def test_start_first_keeps_its_new_task_and_stops_a_restart_made_meanwhile(seed: int) -> None:
    """The old task dies while the start-first slot's new task is still pulling: the
    restart supervisor makes a replacement in the slot. Once the update's new task
    runs, every other task of the slot goes, that replacement too: the slot never
    runs two tasks (it used to, until the completion's reconcile stopped one)."""
    world, service_id, old = one_start_first_replica(seed, workers=2)
    log = TaskLog(service_id).attach(world)
    new = update_to_a_slow_image(world)
    assert world.hosts[host_of(world, old)].executor.kill(old.id)
    assert world.run_until(lambda: update_state(world, service_id) is UpdateState.COMPLETED, 60)
    world.run_for(10)
    assert max(count for _, count in log.running_counts()) == 1
    assert [t.id for t in running(world, service_id)] == [new.id]
    assert len(log.ids()) == 3  # the old task, the update's new one, the restart's


@pytest.mark.parametrize("seed", (1, 4))
def test_a_start_first_slot_whose_new_task_is_replaced_is_still_updated(seed: int) -> None:
    """The update's new task is lost with its node before it runs, and the restart
    supervisor replaces it: the update waits for the replacement and stops the old
    task before it says completed (it used to give the slot up, and complete with
    the old task still running)."""
    world, service_id, old = one_start_first_replica(seed, workers=3)
    new = update_to_a_slow_image(world)
    lost = host_of(world, new)
    assert lost not in ("manager-1", host_of(world, old))
    world.crash(world.hosts[lost])
    assert world.run_until(
        lambda: update_state(world, service_id) is UpdateState.COMPLETED, 120, step=0.05
    )
    tasks = {t.id: t for t in world.tasks()}
    assert tasks[old.id].desired_state is TaskState.SHUTDOWN
    assert images_running(world, service_id) == ["slow:2"]


def test_the_largest_parallelism_docker_takes_updates_every_slot_at_once() -> None:
    """Docker takes any uint64 for --update-parallelism; the updater must not build
    a worker per unit of it (2**64 - 1 of them hung the leader)."""
    _log, new, asked, completed = rolled(1, UpdateOrder.STOP_FIRST, parallelism=2**64 - 1)
    assert len(new) == 10
    assert completed - asked < 60.0
