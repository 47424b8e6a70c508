"""One seed of the whole-swarm fault sweep: a swarm runs services while random
faults strike, then the faults stop and it must converge.

The safety phase runs the services under the cluster nemeses (a fault starts at
least every ``fault_interval`` seconds) with the Raft checkers and the task
checkers on every step; the liveness phase heals everything and waits for the
desired state (:func:`sim.cluster_checks.convergence`). The result says what broke,
if anything, and the trace hash (the same seed gives the same hash).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import InvariantViolation
from core.manager.mutations import NO_MUTATIONS, ManagerMutations
from core.model.service import (
    ContainerSpec,
    GlobalService,
    Placement,
    ReplicatedService,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
)
from core.raft.config import RaftConfig
from sim.cluster import ClusterConfig, ClusterWorld, HostSpec
from sim.cluster_checks import convergence
from sim.faults.cluster import CLUSTER_NEMESES
from sim.faults.schedule import FaultEngine

ZONE = ("zone", "a")  # the engine label of the first two workers


@dataclass(frozen=True)
class SweepConfig:
    managers: int = 3
    workers: int = 4
    safety_seconds: float = 120.0
    liveness_seconds: float = 240.0
    fault_interval: float = 10.0
    nemeses: tuple[str, ...] = tuple(sorted(CLUSTER_NEMESES))
    mutations: ManagerMutations = NO_MUTATIONS
    raft: RaftConfig = field(default_factory=RaftConfig)
    wire: bool = False  # every message as bytes through the codec (--strict-codec)


@dataclass
class SweepResult:
    seed: int
    violation: str | None = None
    broken: str | None = None  # the property the violation names
    liveness_failure: str | None = None
    trace_hash: str = ""
    faults: Counter[str] = field(default_factory=Counter)
    converged_after: float | None = None  # seconds into the liveness phase
    assignments_checked: int = 0

    @property
    def ok(self) -> bool:
        return self.violation is None and self.liveness_failure is None


def sweep_hosts(managers: int, workers: int) -> tuple[HostSpec, ...]:
    return tuple(HostSpec(f"manager-{i}", manager=True) for i in range(1, managers + 1)) + tuple(
        HostSpec(f"worker-{i}", labels=(ZONE,) if i <= 2 else ()) for i in range(1, workers + 1)
    )


def workload() -> tuple[ServiceSpec, ...]:
    """A replicated service, a constrained one, and a global one."""

    def spec(name: str, mode: ServiceMode, placement: Placement | None = None) -> ServiceSpec:
        template = TaskSpec(container_spec=ContainerSpec(image="nginx"), placement=placement)
        return ServiceSpec(name=name, task_template=template, mode=mode)

    zoned = Placement(constraints=(f"engine.labels.{ZONE[0]}=={ZONE[1]}",))
    return (
        spec("web", ServiceMode(replicated=ReplicatedService(replicas=6))),
        spec("zoned", ServiceMode(replicated=ReplicatedService(replicas=3)), zoned),
        spec("agent", ServiceMode(global_=GlobalService())),
    )


def run_sweep(config: SweepConfig, seed: int, trace_path: str | Path | None = None) -> SweepResult:
    hosts = sweep_hosts(config.managers, config.workers)
    cluster = ClusterConfig(
        hosts=hosts, raft=config.raft, mutations=config.mutations, checks=True, wire=config.wire
    )
    world = ClusterWorld(cluster, seed, trace_path)
    result = SweepResult(seed)
    try:
        _run(world, config, result)
    except InvariantViolation as violation:
        result.violation = str(violation)
        result.broken = getattr(violation, "property", type(violation).__name__)
    finally:
        result.trace_hash = world.trace.hexdigest()
        world.trace.close()
    if world.task_checker is not None:
        result.assignments_checked = world.task_checker.assignments_checked
    return result


def _run(world: ClusterWorld, config: SweepConfig, result: SweepResult) -> None:
    world.form_swarm()
    for spec in workload():
        reply = world.call("manager-1", "ServiceCreate", spec=spec)
        if not reply.ok:
            raise InvariantViolation(f"service create failed: {reply.error}")
    start = world.env.now
    engine = FaultEngine(
        world,
        world.streams.child("faults"),
        world.streams,
        CLUSTER_NEMESES,
        start + config.safety_seconds,
    )
    world.env.process(engine.run(config.nemeses, config.fault_interval))
    world.run_for(config.safety_seconds)
    engine.stop_all()
    result.faults = Counter(engine.started)
    world.trace.emit(world.env.now, "-", "liveness")
    healed_at = world.env.now
    problems: list[str] = []

    def converged() -> bool:
        store = world.leader_store()
        if store is None:
            problems[:] = ["no leader"]
            return False
        problems[:] = convergence(store, world.running_containers())
        return not problems

    if world.run_until(converged, config.liveness_seconds, step=1.0):
        result.converged_after = world.env.now - healed_at
    else:
        result.liveness_failure = (
            f"not converged {config.liveness_seconds:.0f}s after healing: {'; '.join(problems)}"
        )
