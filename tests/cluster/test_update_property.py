"""Issue 7's property: for random update configs and random task failures, a rolling
update never takes more than ``parallelism`` slots down (stop-first, no failures)
and never keeps more than ``parallelism`` extra tasks in service (start-first: running
and not told to stop), and it ends."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from core.model import replace
from core.model.enums import FailureAction, UpdateOrder, UpdateState
from sim.executor import ImageBehaviour
from tests.cluster.support import replicated, running, swarm
from tests.cluster.updates import TaskLog, update_config, update_state, with_image

# one simulated swarm per example: a few dozen in CI, many more nightly
EXAMPLES = 60 if settings.default.max_examples <= 200 else 2_000


@settings(max_examples=EXAMPLES)
@given(
    seed=st.integers(1, 10_000),
    replicas=st.integers(2, 6),
    parallelism=st.integers(1, 3),
    delay=st.sampled_from([0.0, 1.0, 3.0]),
    order=st.sampled_from([UpdateOrder.STOP_FIRST, UpdateOrder.START_FIRST]),
    fails_after=st.one_of(st.none(), st.floats(0.5, 8.0)),
)
def test_update_stays_within_its_window(
    seed: int,
    replicas: int,
    parallelism: int,
    delay: float,
    order: UpdateOrder,
    fails_after: float | None,
) -> None:
    new_image = (
        ImageBehaviour()
        if fails_after is None
        else ImageBehaviour(exit_after=fails_after, exit_code=1)
    )
    world = swarm(seed, managers=1, workers=3, **{"app:2": new_image})
    config = update_config(
        parallelism=parallelism, delay=delay, order=order, failure_action=FailureAction.CONTINUE
    )
    spec = replace(replicated("web", replicas, image="app:1"), update_config=config)
    service_id = world.call("manager-1", "ServiceCreate", spec=spec).value
    assert world.run_until(lambda: len(running(world, service_id)) == replicas, 60)
    log = TaskLog(service_id).attach(world)
    assert world.call(
        "manager-1", "ServiceUpdate", service="web", spec=with_image(spec, "app:2")
    ).ok
    assert world.run_until(lambda: update_state(world, service_id) is UpdateState.COMPLETED, 600), (
        "the update did not complete"
    )
    counts = [count for _, count in log.running_counts()]
    if order is UpdateOrder.START_FIRST:
        # A task told to stop runs on for the agent's 1 s backoff and its stop, as
        # Docker's do, while the next slots start: the bound is on tasks in service.
        serving = [count for _, count in log.running_counts(in_service=True)]
        assert max(serving) <= replicas + parallelism
    elif fails_after is None:
        assert min(counts) >= replicas - parallelism
