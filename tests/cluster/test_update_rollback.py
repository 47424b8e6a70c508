"""Issue 7's acceptance: manual rollback, one level of history, a failing rollback,
and the API's refusals, in a simulated swarm."""

from __future__ import annotations

import pytest

from core.model import replace
from core.model.enums import FailureAction, UpdateState
from core.model.service import ServiceSpec
from sim.cluster import ClusterWorld
from sim.executor import ImageBehaviour
from tests.cluster.support import replicated, running, swarm
from tests.cluster.updates import images_running, service, update_config, update_state, with_image

SEEDS = (1, 2, 3)
CRASHY = ImageBehaviour(exit_after=1.0, exit_code=1)


def settled(world: ClusterWorld, service_id: str, state: UpdateState, image: str) -> bool:
    return world.run_until(
        lambda: (
            update_state(world, service_id) is state
            and images_running(world, service_id) == [image] * 3
        ),
        300,
    )


def deployed(
    seed: int, *images: str, **spec_fields: object
) -> tuple[ClusterWorld, str, ServiceSpec]:
    """3 replicas of the first image, then updated to each of the others in turn."""
    world = swarm(seed, **{"bad:2": CRASHY})
    spec = replace(replicated("web", 3, image=images[0]), **spec_fields)  # type: ignore[arg-type]
    service_id = world.call("manager-1", "ServiceCreate", spec=spec).value
    assert world.run_until(lambda: len(running(world, service_id)) == 3, 60)
    for image in images[1:]:
        reply = world.call(
            "manager-1", "ServiceUpdate", service="web", spec=with_image(spec, image)
        )
        assert reply.ok, reply.error
        assert world.run_until(
            lambda: update_state(world, service_id) is UpdateState.COMPLETED, 300
        )
    return world, service_id, spec


@pytest.mark.parametrize("seed", SEEDS)
def test_rollback_flip_flops_between_the_last_two_versions(seed: int) -> None:
    world, service_id, _ = deployed(seed, "nginx:1", "nginx:2", "nginx:3")
    assert world.call("manager-1", "ServiceRollback", service="web").ok
    assert settled(world, service_id, UpdateState.ROLLBACK_COMPLETED, "nginx:2")
    status = service(world, service_id).update_status
    assert status is not None and status.message == "rollback completed"
    assert status.completed_at is not None and status.started_at is not None
    assert world.call("manager-1", "ServiceUpdate", service="web", rollback=True).ok
    assert settled(world, service_id, UpdateState.ROLLBACK_COMPLETED, "nginx:3")  # not v1


@pytest.mark.parametrize("seed", SEEDS)
def test_a_failing_rollback_pauses_and_is_never_rolled_back(seed: int) -> None:
    never_twice = update_config(failure_action=FailureAction.ROLLBACK)
    keep_going = update_config(failure_action=FailureAction.CONTINUE)
    world, service_id, _ = deployed(
        seed, "nginx:1", "bad:2", "nginx:3", update_config=keep_going, rollback_config=never_twice
    )
    assert world.call("manager-1", "ServiceRollback", service="web").ok
    assert world.run_until(
        lambda: update_state(world, service_id) is UpdateState.ROLLBACK_PAUSED, 120
    )
    current = service(world, service_id)
    assert current.update_status is not None
    assert current.update_status.message.startswith(
        "rollback paused due to failure or early termination of task "
    )
    world.run_for(60)
    later = service(world, service_id)
    assert later.update_status is not None
    assert later.update_status.state is UpdateState.ROLLBACK_PAUSED
    assert later.spec.task_template.container_spec.image == "bad:2"  # type: ignore[union-attr]


@pytest.mark.parametrize("seed", SEEDS)
def test_an_update_after_a_rollback_cut_short_reaches_every_slot(seed: int) -> None:
    """A rollback moves the spec version back: the next update must not reuse a
    version that tasks of another spec carry (so every slot is dirty again)."""
    slow_back = update_config(delay=30.0)
    world, service_id, spec = deployed(seed, "nginx:1", "nginx:2", rollback_config=slow_back)
    assert world.call("manager-1", "ServiceRollback", service="web").ok
    assert world.run_until(lambda: "nginx:1" in images_running(world, service_id), 60)
    assert images_running(world, service_id).count("nginx:2") == 2  # cut short
    reply = world.call(
        "manager-1", "ServiceUpdate", service="web", spec=with_image(spec, "nginx:3")
    )
    assert reply.ok, reply.error
    assert settled(world, service_id, UpdateState.COMPLETED, "nginx:3")


@pytest.mark.parametrize("seed", SEEDS[:1])
def test_rollback_refusals(seed: int) -> None:
    world, _, spec = deployed(seed, "nginx:1")
    reply = world.call("manager-1", "ServiceRollback", service="web")
    assert not reply.ok and reply.code == "FailedPrecondition"
    assert reply.error.endswith("does not have a previous spec")
    forced = world.call("manager-1", "ServiceUpdate", service="web", rollback=True, force=True)
    assert not forced.ok and forced.error.endswith("may not be combined with --rollback")
    changed = with_image(spec, "nginx:9")
    reply = world.call("manager-1", "ServiceUpdate", service="web", spec=changed, rollback=True)
    assert not reply.ok and reply.error.endswith("other flags may not be combined with --rollback")
