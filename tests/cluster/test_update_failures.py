"""Issue 7's acceptance: what an update does when its new tasks fail or never
start, and which changes redeploy, in a simulated swarm over seeds."""

from __future__ import annotations

import itertools

import pytest

from core.model import replace
from core.model.duration import SECOND
from core.model.enums import FailureAction, UpdateOrder, UpdateState
from core.model.service import ServiceSpec
from core.model.task import Task
from core.store import Event
from core.tasks.states import TaskState
from sim.cluster import ClusterWorld
from sim.executor import ImageBehaviour
from tests.cluster.support import replicated, running, swarm
from tests.cluster.updates import (
    TaskLog,
    images_running,
    service,
    update_config,
    update_state,
    with_image,
)

SEEDS = (1, 2, 3)
CRASHY = ImageBehaviour(exit_after=1.0, exit_code=1)
SLOW_PULL = ImageBehaviour(pull_seconds=100_000.0)  # never gets to RUNNING in a test
LATE = ImageBehaviour(pull_seconds=15.0)  # RUNNING, but after a 10 s deadline


def started(seed: int, replicas: int = 5, **template: object) -> tuple[ClusterWorld, ServiceSpec]:
    world = swarm(seed, **{"bad:2": CRASHY, "slow:2": SLOW_PULL, "late:2": LATE})  # type: ignore[arg-type]
    spec = replace(replicated("web", replicas, image="nginx:1"), **template)  # type: ignore[arg-type]
    service_id = world.call("manager-1", "ServiceCreate", spec=spec).value
    assert world.run_until(lambda: len(running(world, service_id)) == replicas, 60)
    return world, spec


def update(world: ClusterWorld, spec: ServiceSpec, **params: object) -> None:
    reply = world.call("manager-1", "ServiceUpdate", service="web", spec=spec, **params)
    assert reply.ok, reply.error


def web(world: ClusterWorld) -> str:
    store = world.leader_store()
    assert store is not None
    return next(s.id for s in store.tables["services"].values() if s.spec.name == "web")


def wait_state(world: ClusterWorld, state: UpdateState, seconds: float = 300.0) -> bool:
    return world.run_until(lambda: update_state(world, web(world)) is state, seconds)


def failed_new_tasks(world: ClusterWorld, image: str) -> list[str]:
    return sorted(
        t.id
        for t in world.tasks()
        if t.service_id == web(world)
        and t.spec.container_spec is not None
        and t.spec.container_spec.image == image
        and t.status.state is TaskState.FAILED
    )


def slots_taken_in_turn(log: TaskLog) -> int:
    """How many slots the update took; asserts that, with parallelism 1, each slot
    after the first was taken only once the previous slot's new task was RUNNING
    in the store (as SwarmKit's updater waits), whatever the timing."""
    old = {task_id for _, task_id, _, _, _ in log.events[: log.seeded]}
    created: dict[str, float] = {}
    running_at: dict[str, float] = {}
    first_in_slot: dict[int, str] = {}
    for time, task_id, slot, state, _ in log.events:
        if task_id in old:
            continue
        created.setdefault(task_id, time)
        first_in_slot.setdefault(slot, task_id)
        if state == TaskState.RUNNING.name:
            running_at.setdefault(task_id, time)
    taken = sorted(first_in_slot.values(), key=lambda task_id: created[task_id])
    for previous, following in itertools.pairwise(taken):
        assert previous in running_at, f"{following} was created before {previous} ran"
        assert running_at[previous] <= created[following]
    return len(taken)


def to_bad_image(seed: int, action: FailureAction) -> ClusterWorld:
    """5 replicas of nginx:1 updated to the crash-looping bad:2, with ``action``."""
    world, spec = started(seed)
    config = update_config(failure_action=action)
    update(world, replace(with_image(spec, "bad:2"), update_config=config))
    return world


# -- which changes redeploy ------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_replicas_and_labels_alone_keep_the_running_tasks(seed: int) -> None:
    world, spec = started(seed)
    before = {t.id for t in running(world, web(world))}
    labelled = replace(spec, labels=spec.labels.updated({"tier": "front"}))
    update(world, labelled)
    update(world, replace(labelled, mode=replicated("web", 7).mode))
    assert world.run_until(lambda: len(running(world, web(world))) == 7, 60)
    world.run_for(30)
    after = {t.id for t in running(world, web(world))}
    assert before < after and len(after) == 7
    assert update_state(world, web(world)) is None  # nothing was dirty: no update ran


@pytest.mark.parametrize("seed", SEEDS)
def test_force_replaces_every_task(seed: int) -> None:
    world, spec = started(seed)
    before = {t.id for t in running(world, web(world))}
    update(world, spec, force=True)
    assert wait_state(world, UpdateState.COMPLETED)
    after = {t.id for t in running(world, web(world))}
    assert len(after) == 5 and not before & after


# -- failure actions -------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_crash_looping_image_pauses_after_the_first_failure(seed: int) -> None:
    world, spec = started(seed)
    log = TaskLog(web(world)).attach(world)
    update(world, with_image(spec, "bad:2"))
    assert wait_state(world, UpdateState.PAUSED)
    status = service(world, web(world)).update_status
    assert status is not None
    failed = failed_new_tasks(world, "bad:2")
    assert status.message == (
        f"update paused due to failure or early termination of task {failed[0]}"
    )
    # a slot was taken each time the previous one's task reached RUNNING, until the
    # first failure (1 s after RUNNING) paused it; once paused, no other slot is touched
    taken = slots_taken_in_turn(log)
    old_running = images_running(world, web(world)).count("nginx:1")
    assert 2 <= taken < 5 and old_running == 5 - taken
    world.run_for(60)
    assert update_state(world, web(world)) is UpdateState.PAUSED
    assert images_running(world, web(world)).count("nginx:1") == old_running


@pytest.mark.parametrize("seed", SEEDS)
def test_crash_looping_image_with_rollback_returns_to_the_old_image(seed: int) -> None:
    world = to_bad_image(seed, FailureAction.ROLLBACK)
    assert wait_state(world, UpdateState.ROLLBACK_COMPLETED)
    current = service(world, web(world))
    assert current.spec.task_template.container_spec.image == "nginx:1"  # type: ignore[union-attr]
    assert current.update_status is not None
    assert current.update_status.message == "rollback completed"
    assert world.run_until(lambda: images_running(world, web(world)) == ["nginx:1"] * 5, 60)
    # and the next update reaches every slot (the rollback moved the version back)
    update(world, with_image(replicated("web", 5, image="nginx:1"), "nginx:3"))
    assert wait_state(world, UpdateState.COMPLETED)
    assert world.run_until(lambda: images_running(world, web(world)) == ["nginx:3"] * 5, 60)


@pytest.mark.parametrize("seed", SEEDS)
def test_crash_looping_image_with_continue_completes(seed: int) -> None:
    world = to_bad_image(seed, FailureAction.CONTINUE)
    assert wait_state(world, UpdateState.COMPLETED)
    assert len(failed_new_tasks(world, "bad:2")) >= 5  # every slot was updated, and failed


@pytest.mark.parametrize("seed", SEEDS)
def test_failure_ratio_tolerates_one_of_five_and_pauses_on_the_second(seed: int) -> None:
    world, spec = started(seed)
    log = TaskLog(web(world)).attach(world)
    tolerant = update_config(max_failure_ratio=0.2)
    update(world, replace(with_image(spec, "bad:2"), update_config=tolerant))
    assert wait_state(world, UpdateState.PAUSED)
    status = service(world, web(world)).update_status
    assert status is not None
    old = {task_id for _, task_id, _, _, _ in log.events[: log.seeded]}
    # the update's own tasks: the first new task of each slot (the restart
    # supervisor's replacements of failed ones do not count)
    first_in_slot: dict[int, str] = {}
    for _, task_id, slot, _, _ in log.events:
        if task_id not in old:
            first_in_slot.setdefault(slot, task_id)
    updates = set(first_in_slot.values())
    failed_at: dict[str, float] = {}
    for time, task_id, _, state, _ in log.events:
        if task_id in updates and state == TaskState.FAILED.name:
            failed_at.setdefault(task_id, time)
    failures = sorted(failed_at, key=lambda task_id: failed_at[task_id])
    assert len(failures) >= 2
    assert status.message.endswith(f"early termination of task {failures[1]}")


# -- never reaching RUNNING: the progress deadline --------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_without_a_progress_deadline_a_stuck_update_waits_as_swarm_does(seed: int) -> None:
    world, spec = started(seed)
    update(world, with_image(spec, "slow:2"))
    world.run_for(600)
    assert update_state(world, web(world)) is UpdateState.UPDATING
    assert images_running(world, web(world)) == ["nginx:1"] * 4  # one slot down, waiting


@pytest.mark.parametrize("seed", SEEDS)
def test_progress_deadline_applies_the_failure_action(seed: int) -> None:
    world, spec = started(seed)
    config = update_config(progress_deadline_ns=30 * SECOND)
    update(world, replace(with_image(spec, "slow:2"), update_config=config))
    asked = world.env.now
    assert wait_state(world, UpdateState.PAUSED, 120)
    assert 30.0 <= world.env.now - asked <= 32.0
    status = service(world, web(world)).update_status
    assert status is not None and "early termination of task" in status.message


@pytest.mark.parametrize("seed", SEEDS)
def test_progress_deadline_with_rollback_returns_to_the_old_image(seed: int) -> None:
    world, spec = started(seed)
    config = update_config(progress_deadline_ns=20 * SECOND, failure_action=FailureAction.ROLLBACK)
    update(world, replace(with_image(spec, "slow:2"), update_config=config))
    assert wait_state(world, UpdateState.ROLLBACK_COMPLETED, 200)
    assert world.run_until(lambda: images_running(world, web(world)) == ["nginx:1"] * 5, 60)


@pytest.mark.parametrize("seed", SEEDS)
def test_start_first_slot_past_its_deadline_keeps_serving_until_its_task_comes_up(
    seed: int,
) -> None:
    """A start-first task that misses the deadline (a failure, here tolerated) may
    still come up: the slot's old task is stopped only then, so no slot goes dark."""
    world, spec = started(seed, replicas=3)
    log = TaskLog(web(world)).attach(world)
    config = update_config(
        order=UpdateOrder.START_FIRST,
        failure_action=FailureAction.CONTINUE,
        progress_deadline_ns=10 * SECOND,
    )
    update(world, replace(with_image(spec, "late:2"), update_config=config))
    assert wait_state(world, UpdateState.COMPLETED, 120)
    assert world.run_until(lambda: images_running(world, web(world)) == ["late:2"] * 3, 60)
    world.run_for(5)
    assert min(count for _, count in log.running_counts()) >= 3


@pytest.mark.parametrize("seed", SEEDS)
def test_a_reconcile_queued_before_the_pause_is_written_does_not_go_on(seed: int) -> None:
    """An earlier write of the same round (a node change, say) queued a reconcile of
    the service ahead of the updater's PAUSED write: it still reads UPDATING, and must
    not start another updater toward the same spec while the pause is on its way."""
    world, spec = started(seed)
    service_id = web(world)
    host = world.leader()
    assert host is not None and host.node is not None and host.node.manager is not None
    leadership = host.node.manager.leadership
    assert leadership is not None
    supervisor, orchestration = leadership.updates, leadership.orchestration
    route = supervisor.on_event
    queued: list[str] = []

    def on_event(event: Event, mono: float, wall: float) -> None:
        updater = supervisor.updaters.get(service_id)
        task = event.new
        if (
            not queued
            and updater is not None
            and isinstance(task, Task)
            and task.id in updater.created
            and task.status.state > TaskState.RUNNING
        ):
            queued.append(task.id)  # the reconcile goes into the queue before the pause
            orchestration.dirty.add(service_id)
            orchestration.on_commit(mono, wall)
        route(event, mono, wall)

    supervisor.on_event = on_event  # type: ignore[method-assign]
    log = TaskLog(service_id).attach(world)
    update(world, with_image(spec, "bad:2"))
    assert wait_state(world, UpdateState.PAUSED)
    assert queued
    touched = {t.slot for t in world.tasks() if t.spec.container_spec.image == "bad:2"}  # type: ignore[union-attr]
    world.run_for(120)
    assert update_state(world, service_id) is UpdateState.PAUSED
    assert {t.slot for t in world.tasks() if t.spec.container_spec.image == "bad:2"} == touched  # type: ignore[union-attr]
    assert slots_taken_in_turn(log) == len(touched) < 5  # no second updater ran
