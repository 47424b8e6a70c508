"""Builders for scheduler tests: nodes, tasks and one whole scheduling pass.

Ids are readable (``node-1``, ``web.3``) rather than random, so that expected
placements can be written down; the scheduler only needs them to be distinct and
sortable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from core.model import Labels, replace
from core.model.common import (
    DiscreteGenericResource,
    GenericResource,
    NamedGenericResource,
    Platform,
    ResourceRequirements,
    Resources,
    Version,
)
from core.model.enums import NodeAvailability, NodeRole, NodeState, PublishMode
from core.model.node import (
    EngineDescription,
    Node,
    NodeDescription,
    NodeSpec,
    NodeStatus,
    PluginDescription,
)
from core.model.service import (
    ContainerSpec,
    Endpoint,
    Placement,
    PlacementPreference,
    PortConfig,
    Service,
    SpreadOver,
    TaskSpec,
)
from core.model.task import Task, TaskStatus
from core.scheduler.scheduler import Decision, Scheduler
from core.tasks.states import TaskState

CPU = 1_000_000_000
MiB = 1 << 20
GiB = 1 << 30


def node(
    node_id: str,
    *,
    labels: dict[str, str] | None = None,
    engine_labels: dict[str, str] | None = None,
    cpus: float = 4,
    memory: int = 8 * GiB,
    generic: tuple[GenericResource, ...] = (),
    state: NodeState = NodeState.READY,
    availability: NodeAvailability = NodeAvailability.ACTIVE,
    role: NodeRole = NodeRole.WORKER,
    os: str = "linux",
    arch: str = "x86_64",
    plugins: tuple[tuple[str, str], ...] = (),
    addr: str = "10.0.0.1",
    version: int = 1,
) -> Node:
    return Node(
        id=node_id,
        version=Version(index=version),
        spec=NodeSpec(labels=Labels(labels or {}), role=role, availability=availability),
        description=NodeDescription(
            hostname=f"host-{node_id}",
            platform=Platform(os=os, architecture=arch),
            resources=Resources(
                nano_cpus=int(cpus * CPU), memory_bytes=memory, generic_resources=generic
            ),
            engine=EngineDescription(
                labels=Labels(engine_labels or {}),
                plugins=tuple(PluginDescription(type=t, name=n) for t, n in plugins),
            ),
        ),
        status=NodeStatus(state=state, addr=addr),
    )


def discrete(kind: str, value: int) -> GenericResource:
    return GenericResource(discrete_resource_spec=DiscreteGenericResource(kind=kind, value=value))


def named(kind: str, value: str) -> GenericResource:
    return GenericResource(named_resource_spec=NamedGenericResource(kind=kind, value=value))


def spec(
    *,
    cpus: float = 0,
    memory: int = 0,
    generic: tuple[GenericResource, ...] = (),
    constraints: tuple[str, ...] = (),
    preferences: tuple[str, ...] = (),
    max_replicas: int = 0,
    platforms: tuple[tuple[str, str], ...] = (),
) -> TaskSpec:
    reservations = (
        Resources(nano_cpus=int(cpus * CPU), memory_bytes=memory, generic_resources=generic)
        if cpus or memory or generic
        else None
    )
    return TaskSpec(
        container_spec=ContainerSpec(image="busybox"),
        resources=ResourceRequirements(reservations=reservations) if reservations else None,
        placement=Placement(
            constraints=constraints,
            preferences=tuple(
                PlacementPreference(spread=SpreadOver(spread_descriptor=d)) for d in preferences
            ),
            max_replicas=max_replicas,
            platforms=tuple(Platform(os=o, architecture=a) for o, a in platforms),
        ),
    )


def host_port(published: int, target: int = 80) -> Endpoint:
    return Endpoint(
        ports=(
            PortConfig(target_port=target, published_port=published, publish_mode=PublishMode.HOST),
        )
    )


def tasks(
    service: str,
    count: int,
    *,
    task_spec: TaskSpec | None = None,
    version: int = 1,
    first_slot: int = 1,
    endpoint: Endpoint | None = None,
) -> list[Task]:
    """``count`` PENDING, unassigned tasks of one service version."""
    return [
        Task(
            id=f"{service}.{slot:05d}",
            version=Version(index=1),
            service_id=service,
            slot=slot,
            spec=task_spec or spec(),
            spec_version=Version(index=version),
            endpoint=endpoint,
            status=TaskStatus(state=TaskState.PENDING, message="pending task scheduling"),
            desired_state=TaskState.RUNNING,
        )
        for slot in range(first_slot, first_slot + count)
    ]


def running_on(node_id: str, pending: Iterable[Task]) -> list[Task]:
    """The tasks as if placed on ``node_id`` and running there."""
    return [
        replace(t, node_id=node_id, status=TaskStatus(state=TaskState.RUNNING)) for t in pending
    ]


def service(service_id: str, version: int = 1) -> Service:
    return Service(id=service_id, spec_version=Version(index=version))


def services_of(all_tasks: Iterable[Task]) -> tuple[Service, ...]:
    ids = sorted({t.service_id for t in all_tasks})
    return tuple(service(i) for i in ids)


def scheduler_with(
    nodes: Iterable[Node], existing: Iterable[Task] = (), **options: int
) -> Scheduler:
    existing = list(existing)
    scheduler = Scheduler(**options)
    scheduler.load(tuple(nodes), tuple(existing), services_of(existing))
    return scheduler


def schedule(
    nodes: Iterable[Node],
    pending: Iterable[Task],
    existing: Iterable[Task] = (),
    now: float = 1000.0,
    **options: int,
) -> list[Decision]:
    """Load the cluster, then run passes until the queue is done."""
    pending, existing = list(pending), list(existing)
    scheduler = Scheduler(**options)
    scheduler.load(tuple(nodes), tuple(existing + pending), services_of(existing + pending))
    decisions = scheduler.schedule(now, now)
    while scheduler.next_deadline is not None:
        decisions += scheduler.tick(now, now)
    return decisions


def per_node(decisions: Iterable[Decision]) -> dict[str, int]:
    """How many tasks each node was given, by node id."""
    counts = Counter(d.new.node_id for d in decisions if d.new.status.state is TaskState.ASSIGNED)
    return dict(sorted(counts.items()))


def placements(decisions: Iterable[Decision]) -> dict[str, str]:
    """Task id -> node id for every assignment."""
    return {d.new.id: d.new.node_id for d in decisions if d.new.status.state is TaskState.ASSIGNED}
