"""What the scheduler knows about one node: its tasks, free resources and failures.

The scheduler keeps one :class:`NodeInfo` per node and updates it as it assigns
tasks and as the store reports task changes, so that a scheduling pass never reads
the store (SwarmKit's ``NodeInfo``). A task counts against a node from ASSIGNED to
RUNNING; it is *active* while its desired state is at most COMPLETE, and only active
tasks count towards the spread (a task being shut down no longer occupies a slot).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from core.model import replace
from core.model.common import (
    DiscreteGenericResource,
    GenericResource,
    NamedGenericResource,
    Resources,
)
from core.model.enums import PublishMode
from core.model.node import Node
from core.model.task import Task
from core.tasks.states import TaskState

#: A node with this many failures of one service version within the window goes to
#: the back of the line for that service (SwarmKit's ``maxFailures``).
RECENT_FAILURES_MAX = 5
#: How far back failures count, in seconds (SwarmKit's ``monitorFailures``).
FAILURE_WINDOW_SECONDS = 300.0

HostPort = tuple[str, int]  # (protocol, published port)
ServiceVersion = tuple[str, int]  # (service id, spec version index)


def is_active(task: Task) -> bool:
    """Whether the task takes a slot of its service on its node."""
    return task.desired_state <= TaskState.COMPLETE


def reservations(task: Task) -> Resources:
    """The resources a task reserves (none when its spec says nothing)."""
    requirements = task.spec.resources
    if requirements is None or requirements.reservations is None:
        return _NO_RESOURCES
    return requirements.reservations


_NO_RESOURCES = Resources()


def host_ports(task: Task) -> tuple[HostPort, ...]:
    """The host-mode ports with a fixed published port that the task binds."""
    if task.endpoint is None:
        return ()
    return tuple(
        (str(port.protocol or "tcp"), port.published_port)
        for port in task.endpoint.ports
        if port.publish_mode is PublishMode.HOST and port.published_port != 0
    )


def service_version(task: Task) -> ServiceVersion:
    return (task.service_id, task.spec_version.index if task.spec_version else 0)


@dataclass(slots=True)
class GenericPool:
    """A node's free generic resources: counts of discrete kinds, and the free
    instances of named kinds in the order the node lists them."""

    discrete: dict[str, int] = field(default_factory=dict)
    named: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, resources: tuple[GenericResource, ...]) -> GenericPool:
        pool = cls()
        pool.release(resources)
        return pool

    def has_enough(self, kind: str, count: int) -> bool:
        return self.discrete.get(kind, 0) >= count or len(self.named.get(kind, ())) >= count

    def claim(self, wanted: tuple[GenericResource, ...]) -> tuple[GenericResource, ...]:
        """Take what ``wanted`` (discrete requests) asks for; return what was taken.
        Named instances are preferred, as SwarmKit's ``genericresource.Claim`` does."""
        taken: list[GenericResource] = []
        for kind, count in _requests(wanted):
            free = self.named.get(kind, [])
            if len(free) >= count:
                names, self.named[kind] = free[:count], free[count:]
                taken += [
                    GenericResource(named_resource_spec=NamedGenericResource(kind=kind, value=n))
                    for n in names
                ]
            else:
                self.discrete[kind] = self.discrete.get(kind, 0) - count
                spec = DiscreteGenericResource(kind=kind, value=count)
                taken.append(GenericResource(discrete_resource_spec=spec))
        return tuple(taken)

    def release(self, resources: tuple[GenericResource, ...]) -> None:
        for resource in resources:
            if resource.named_resource_spec is not None:
                named = resource.named_resource_spec
                self.named.setdefault(named.kind, []).append(named.value)
            elif resource.discrete_resource_spec is not None:
                discrete = resource.discrete_resource_spec
                self.discrete[discrete.kind] = self.discrete.get(discrete.kind, 0) + discrete.value

    def holds(self, assigned: tuple[GenericResource, ...]) -> bool:
        """Whether every resource a task was given is still here and free."""
        discrete: dict[str, int] = {}
        for resource in assigned:
            if resource.named_resource_spec is not None:
                named = resource.named_resource_spec
                if named.value not in self.named.get(named.kind, ()):
                    return False
            elif resource.discrete_resource_spec is not None:
                spec = resource.discrete_resource_spec
                discrete[spec.kind] = discrete.get(spec.kind, 0) + spec.value
        return all(self.discrete.get(kind, 0) >= count for kind, count in discrete.items())

    def consume(self, assigned: tuple[GenericResource, ...]) -> None:
        """Take exactly the resources a task already holds (read back from the store)."""
        for resource in assigned:
            if resource.named_resource_spec is not None:
                named = resource.named_resource_spec
                free = self.named.get(named.kind, [])
                if named.value in free:
                    free.remove(named.value)
            elif resource.discrete_resource_spec is not None:
                discrete = resource.discrete_resource_spec
                self.discrete[discrete.kind] = self.discrete.get(discrete.kind, 0) - discrete.value


def _requests(wanted: tuple[GenericResource, ...]) -> Iterator[tuple[str, int]]:
    for resource in wanted:
        if resource.discrete_resource_spec is not None:
            spec = resource.discrete_resource_spec
            yield spec.kind, spec.value


class NodeInfo:
    """One node as the scheduler sees it. Invariant: the free resources are the
    node's resources less the reservations of every task in :attr:`tasks`."""

    __slots__ = (
        "active_by_service",
        "active_tasks",
        "free_generic",
        "free_memory_bytes",
        "free_nano_cpus",
        "node",
        "recent_failures",
        "tasks",
        "used_host_ports",
    )

    def __init__(self, node: Node, tasks: tuple[Task, ...] = ()) -> None:
        self.node = node
        self.tasks: dict[str, Task] = {}
        self.active_tasks = 0
        self.active_by_service: dict[str, int] = {}
        self.used_host_ports: set[HostPort] = set()
        self.recent_failures: dict[ServiceVersion, list[float]] = {}
        self._reset_resources()
        for task in tasks:
            self.add_task(task)

    @property
    def id(self) -> str:
        return self.node.id

    def _reset_resources(self) -> None:
        resources = self.node.description.resources
        self.free_nano_cpus = resources.nano_cpus
        self.free_memory_bytes = resources.memory_bytes
        self.free_generic = GenericPool.of(resources.generic_resources)

    def update_node(self, node: Node) -> None:
        """A new version of the node: recompute what is free from its tasks."""
        self.node = node
        self._reset_resources()
        for task in self.tasks.values():
            self._reserve(task)

    def add_task(self, task: Task) -> tuple[bool, Task]:
        """Count ``task`` on this node. Returns whether anything changed, and the
        task as stored (with generic resources claimed if it had none assigned)."""
        old = self.tasks.get(task.id)
        if old is not None:
            self.tasks[task.id] = task
            if is_active(task) != is_active(old):
                self._count(task, 1 if is_active(task) else -1)
                return True, task
            return False, task
        wanted = reservations(task).generic_resources
        if wanted and not task.generic_resources:
            task = replace(task, generic_resources=self.free_generic.claim(wanted))
            self._reserve(task, generic=False)
        else:
            self._reserve(task)
        self.tasks[task.id] = task
        if is_active(task):
            self._count(task, 1)
        return True, task

    def remove_task(self, task_id: str) -> bool:
        task = self.tasks.pop(task_id, None)
        if task is None:
            return False
        reserved = reservations(task)
        self.free_nano_cpus += reserved.nano_cpus
        self.free_memory_bytes += reserved.memory_bytes
        self.free_generic.release(task.generic_resources)
        self.used_host_ports.difference_update(host_ports(task))
        if is_active(task):
            self._count(task, -1)
        return True

    def _reserve(self, task: Task, generic: bool = True) -> None:
        reserved = reservations(task)
        self.free_nano_cpus -= reserved.nano_cpus
        self.free_memory_bytes -= reserved.memory_bytes
        if generic:
            self.free_generic.consume(task.generic_resources)
        self.used_host_ports.update(host_ports(task))

    def _count(self, task: Task, step: int) -> None:
        self.active_tasks += step
        count = self.active_by_service.get(task.service_id, 0) + step
        if count:
            self.active_by_service[task.service_id] = count
        else:
            del self.active_by_service[task.service_id]

    # -- failures ------------------------------------------------------------------------

    def task_failed(self, task: Task, now: float) -> None:
        """Record a failure of ``task`` here at monotonic time ``now``."""
        key = service_version(task)
        times = [t for t in self.recent_failures.get(key, ()) if now - t <= FAILURE_WINDOW_SECONDS]
        times.append(now)
        self.recent_failures[key] = times

    def count_recent_failures(self, now: float, key: ServiceVersion) -> int:
        times = self.recent_failures.get(key)
        if not times:
            return 0
        return sum(1 for t in times if now - t <= FAILURE_WINDOW_SECONDS)
