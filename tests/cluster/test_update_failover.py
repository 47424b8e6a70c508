"""Issue 7's acceptance: updates across a leader failover, in a simulated swarm."""

from __future__ import annotations

from collections import Counter

import pytest

from core.model import replace
from core.model.enums import UpdateState
from sim.cluster import ClusterWorld
from sim.executor import ImageBehaviour
from tests.cluster.support import replicated, running, swarm
from tests.cluster.test_failover import (
    WORKERS_ONLY,
    crash_leader,
    leader_name,
    wait_for_new_leader,
)
from tests.cluster.updates import TaskLog, images_running, update_config, update_state, with_image

SEEDS = (1, 2, 3)
CRASHY = ImageBehaviour(exit_after=1.0, exit_code=1)


def ask_leader(world: ClusterWorld, method: str, **params: object) -> None:
    name = leader_name(world)
    assert name is not None
    reply = world.call(name, method, **params)
    assert reply.ok, reply.error


def new_image_slots(world: ClusterWorld, service_id: str, image: str) -> set[int]:
    return {
        t.slot
        for t in world.tasks()
        if t.service_id == service_id
        and t.spec.container_spec is not None
        and t.spec.container_spec.image == image
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_paused_update_stays_paused_through_a_failover_until_the_next_update(seed: int) -> None:
    world = swarm(seed, **{"bad:2": CRASHY})
    # on the workers: a task lost with the crashed manager would be replaced with the
    # service's spec, the new image, as Swarm does, which is not the update going on
    spec = replicated("web", 5, image="nginx:1", placement=WORKERS_ONLY)
    service_id = world.call("manager-1", "ServiceCreate", spec=spec).value
    assert world.run_until(lambda: len(running(world, service_id)) == 5, 60)
    ask_leader(world, "ServiceUpdate", service="web", spec=with_image(spec, "bad:2"))
    assert world.run_until(lambda: update_state(world, service_id) is UpdateState.PAUSED, 120)
    touched = new_image_slots(world, service_id, "bad:2")
    old, crashed_at = crash_leader(world)
    wait_for_new_leader(world, old, crashed_at)
    world.run_for(60)
    assert update_state(world, service_id) is UpdateState.PAUSED
    assert new_image_slots(world, service_id, "bad:2") == touched  # no slot more
    ask_leader(world, "ServiceUpdate", service="web", spec=with_image(spec, "nginx:3"))
    assert world.run_until(lambda: update_state(world, service_id) is UpdateState.COMPLETED, 300)
    assert world.run_until(lambda: images_running(world, service_id) == ["nginx:3"] * 5, 60)


@pytest.mark.parametrize("seed", SEEDS)
def test_leader_crash_mid_update_completes_on_the_new_leader_without_repeating(seed: int) -> None:
    world = swarm(seed)
    config = update_config(parallelism=2, delay=5.0)
    spec = replace(
        replicated("web", 10, image="nginx:1", placement=WORKERS_ONLY), update_config=config
    )
    service_id = world.call("manager-1", "ServiceCreate", spec=spec).value
    assert world.run_until(lambda: len(running(world, service_id)) == 10, 60)
    log = TaskLog(service_id).attach(world)
    old_ids = log.ids()
    ask_leader(world, "ServiceUpdate", service="web", spec=with_image(spec, "nginx:2"))
    # crash the leader with the update part way: some slots done, some to do
    assert world.run_until(
        lambda: 2 <= len(new_image_slots(world, service_id, "nginx:2")) < 10, 60, step=0.1
    )
    old, crashed_at = crash_leader(world)
    wait_for_new_leader(world, old, crashed_at)
    assert world.run_until(lambda: update_state(world, service_id) is UpdateState.COMPLETED, 300)
    assert world.run_until(lambda: images_running(world, service_id) == ["nginx:2"] * 10, 60)
    created = Counter(
        slot
        for _, task_id, slot, state, _ in log.events
        if state == "NEW" and task_id not in old_ids
    )
    assert created == Counter(range(1, 11))  # one new task per slot: none updated twice
