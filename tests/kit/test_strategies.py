"""The testing kit's strategies draw what Docker accepts: a service sketch's command
creates that service, a schedule's faults strike in order within their bounds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from shoal.testing import SimSwarm
from shoal.testing.strategies import (
    GRID,
    ClusterShape,
    ServiceSketch,
    TimedFault,
    clusters,
    fault_schedules,
    services,
)

EXAMPLES = 15 if settings.default.max_examples <= 200 else 200
HOSTS = ["manager-1", "worker-1", "worker-2"]


@settings(max_examples=EXAMPLES)
@given(shape=clusters(managers=(1, 3), max_workers=3), sketch=services())
def test_a_sketched_service_is_created_as_sketched_on_a_drawn_cluster(
    shape: ClusterShape, sketch: ServiceSketch
) -> None:
    assert shape.managers in (1, 3) and 0 <= shape.workers <= 3
    with SimSwarm(shape.managers, shape.workers, seed=2) as swarm:
        assert swarm.world.names == shape.hosts()
        swarm.docker(sketch.create_command())
        wanted = len(shape.hosts()) if sketch.replicas is None else sketch.replicas
        swarm.wait_for(f"service {sketch.name} running {wanted}/{wanted}", within=60)
        store = swarm.world.leader_store()
        assert store is not None
        (service,) = store.tables["services"].values()
        spec = service.spec
        update = spec.update_config
        assert spec.task_template.container_spec.image == sketch.image
        assert (spec.mode.global_ is not None) == (sketch.replicas is None)
        assert update is not None and update.parallelism == sketch.update_parallelism
        assert update.delay_ns == sketch.update_delay * 1_000_000_000
        assert update.order is not None and update.order.value == sketch.update_order


@settings(max_examples=EXAMPLES * 4)
@given(schedule=fault_schedules(HOSTS, within=30, max_faults=5, max_lasting=12))
def test_a_schedule_is_in_time_order_on_the_grid_and_within_its_bounds(
    schedule: list[TimedFault],
) -> None:
    assert len(schedule) <= 5
    assert [f.at for f in schedule] == sorted(f.at for f in schedule)
    for fault in schedule:
        assert 0 <= fault.at < 30 and fault.at % GRID == 0
        verb, _, target = fault.fault.partition(" ")
        if verb == "partition":
            assert target == "majority-ring"
        else:
            assert target in [*HOSTS, "leader"]
        lasting = verb in ("crash", "isolate", "pause", "partition")
        assert (fault.lasting is not None) == lasting
        assert fault.lasting is None or 1 <= fault.lasting <= 12


@settings(max_examples=EXAMPLES)
@given(schedule=fault_schedules(HOSTS, kinds=("restart",)))
def test_a_schedule_draws_only_the_kinds_asked_for(schedule: list[TimedFault]) -> None:
    assert all(f.fault.startswith("restart ") for f in schedule)


def test_an_unknown_fault_kind_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown fault kinds \['flood'\]"):
        fault_schedules(HOSTS, kinds=("crash", "flood"))


def test_services_can_be_replicated_only() -> None:
    @settings(max_examples=EXAMPLES)
    @given(sketch=services(global_mode=False, max_replicas=2))
    def check(sketch: ServiceSketch) -> None:
        assert sketch.replicas is not None and 0 <= sketch.replicas <= 2

    check()
