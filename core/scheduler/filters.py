"""The filters a node must pass to take a task, in SwarmKit's order, and the words
Docker uses when they fail.

A :class:`TaskNeeds` is what one group of identical tasks asks of a node, computed
once per group. Each filter is enabled only when the task asks for what it checks
(SwarmKit's ``SetTask``), checks one node, and explains ``n`` failures. *Static*
filters depend only on the node and the spec, so the scheduler can cache their
verdicts until a node changes; the others depend on what the node already runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from core.errors import InvalidSpec
from core.model.common import Platform
from core.model.enums import MountType, NodeAvailability, NodeState
from core.model.task import Task
from core.scheduler.constraint import Constraint, node_matches, parse_constraints
from core.scheduler.nodeinfo import HostPort, NodeInfo, host_ports, reservations


@dataclass(frozen=True, slots=True)
class TaskNeeds:
    """What a task asks of the node it runs on."""

    service_id: str
    nano_cpus: int = 0
    memory_bytes: int = 0
    generic: tuple[tuple[str, int], ...] = ()  # (kind, count)
    constraints: tuple[Constraint, ...] | None = ()  # None: unparseable, never matches
    platforms: tuple[tuple[str, str], ...] = ()  # (os, normalised architecture)
    volume_plugins: tuple[str, ...] = ()
    network_plugins: tuple[str, ...] = ()
    log_driver: str = ""
    host_ports: tuple[HostPort, ...] = ()
    max_replicas: int = 0

    @classmethod
    def of(cls, task: Task) -> TaskNeeds:
        reserved = reservations(task)
        placement = task.spec.placement
        return cls(
            service_id=task.service_id,
            nano_cpus=reserved.nano_cpus,
            memory_bytes=reserved.memory_bytes,
            generic=tuple(
                (r.discrete_resource_spec.kind, r.discrete_resource_spec.value)
                for r in reserved.generic_resources
                if r.discrete_resource_spec is not None
            ),
            constraints=_constraints(placement.constraints) if placement else (),
            platforms=tuple(_platform(p) for p in placement.platforms) if placement else (),
            volume_plugins=_volume_plugins(task),
            network_plugins=tuple(
                sorted(
                    {
                        a.network.driver_state.name
                        for a in task.networks_attachments
                        if a.network.driver_state.name
                    }
                )
            ),
            log_driver=_log_driver(task),
            host_ports=host_ports(task),
            max_replicas=placement.max_replicas if placement else 0,
        )

    def static_key(self) -> tuple[object, ...]:
        """What the static filters read: tasks with equal keys fit the same nodes."""
        return (
            self.constraints,
            self.platforms,
            self.volume_plugins,
            self.network_plugins,
            self.log_driver,
        )


def _constraints(texts: tuple[str, ...]) -> tuple[Constraint, ...] | None:
    try:
        return parse_constraints(texts)
    except InvalidSpec:
        return None  # stored before validation existed: it can match no node


def _platform(platform: Platform) -> tuple[str, str]:
    return (platform.os, normalise_architecture(platform.architecture))


def normalise_architecture(architecture: str) -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(architecture, architecture)


def _volume_plugins(task: Task) -> tuple[str, ...]:
    container = task.spec.container_spec
    if container is None:
        return ()
    names = set()
    for mount in container.mounts:
        options = mount.volume_options
        if mount.type is MountType.VOLUME and options and options.driver_config:
            name = options.driver_config.name
            if name not in ("", "local"):
                names.add(name)
    return tuple(sorted(names))


def _log_driver(task: Task) -> str:
    driver = task.spec.log_driver
    return "" if driver is None or driver.name == "none" else driver.name


def _plural(count: int, text: str) -> str:
    return f"{text} on {count} node{'' if count == 1 else 's'}"


class Filter:
    """One rule of the pipeline. Subclasses set ``static`` and the three methods."""

    static: ClassVar[bool] = True

    @staticmethod
    def enabled(needs: TaskNeeds) -> bool:
        raise NotImplementedError

    @staticmethod
    def check(needs: TaskNeeds, info: NodeInfo) -> bool:
        raise NotImplementedError

    @staticmethod
    def explain(count: int) -> str:
        raise NotImplementedError


class ReadyFilter(Filter):
    """The node is up and its availability is active (not paused or drained)."""

    @staticmethod
    def enabled(needs: TaskNeeds) -> bool:
        return True

    @staticmethod
    def check(needs: TaskNeeds, info: NodeInfo) -> bool:
        node = info.node
        return (
            node.status.state is NodeState.READY
            and node.spec.availability is NodeAvailability.ACTIVE
        )

    @staticmethod
    def explain(count: int) -> str:
        return f"{count} node{' ' if count == 1 else 's '}not available for new tasks"


class ResourceFilter(Filter):
    """The node has the reserved CPU, memory and generic resources free."""

    static = False

    @staticmethod
    def enabled(needs: TaskNeeds) -> bool:
        return bool(needs.nano_cpus or needs.memory_bytes or needs.generic)

    @staticmethod
    def check(needs: TaskNeeds, info: NodeInfo) -> bool:
        if needs.nano_cpus > info.free_nano_cpus or needs.memory_bytes > info.free_memory_bytes:
            return False
        return all(info.free_generic.has_enough(kind, n) for kind, n in needs.generic)

    @staticmethod
    def explain(count: int) -> str:
        return _plural(count, "insufficient resources")


class PluginFilter(Filter):
    """The volume, network and log drivers the task uses are on the node. A node
    that reports no plugins at all is not filtered (SwarmKit: an engine that does
    not describe itself); a log driver is checked only if the node lists any."""

    @staticmethod
    def enabled(needs: TaskNeeds) -> bool:
        return bool(needs.volume_plugins or needs.network_plugins or needs.log_driver)

    @staticmethod
    def check(needs: TaskNeeds, info: NodeInfo) -> bool:
        plugins = info.node.description.engine.plugins
        if not plugins:
            return True
        listed = [(plugin.type, plugin.name) for plugin in plugins]
        if not all(_has_plugin(listed, "Volume", name) for name in needs.volume_plugins):
            return False
        if not all(_has_plugin(listed, "Network", name) for name in needs.network_plugins):
            return False
        if needs.log_driver and any(kind == "Log" for kind, _ in listed):
            return _has_plugin(listed, "Log", needs.log_driver)
        return True

    @staticmethod
    def explain(count: int) -> str:
        return _plural(count, "missing plugin")


def _has_plugin(listed: Iterable[tuple[str, str]], kind: str, name: str) -> bool:
    return any(t == kind and (n == name or n == name + ":latest") for t, n in listed)


class ConstraintFilter(Filter):
    """The node satisfies every placement constraint."""

    @staticmethod
    def enabled(needs: TaskNeeds) -> bool:
        return needs.constraints != ()

    @staticmethod
    def check(needs: TaskNeeds, info: NodeInfo) -> bool:
        return needs.constraints is not None and node_matches(needs.constraints, info.node)

    @staticmethod
    def explain(count: int) -> str:
        return _plural(count, "scheduling constraints not satisfied")


class PlatformFilter(Filter):
    """The node's OS and architecture are among the image's platforms."""

    @staticmethod
    def enabled(needs: TaskNeeds) -> bool:
        return bool(needs.platforms)

    @staticmethod
    def check(needs: TaskNeeds, info: NodeInfo) -> bool:
        platform = info.node.description.platform
        os, arch = platform.os, normalise_architecture(platform.architecture)
        return any((not o or o == os) and (not a or a == arch) for o, a in needs.platforms)

    @staticmethod
    def explain(count: int) -> str:
        return _plural(count, "unsupported platform")


class HostPortFilter(Filter):
    """The host-mode ports the task publishes are free on the node."""

    static = False

    @staticmethod
    def enabled(needs: TaskNeeds) -> bool:
        return bool(needs.host_ports)

    @staticmethod
    def check(needs: TaskNeeds, info: NodeInfo) -> bool:
        return info.used_host_ports.isdisjoint(needs.host_ports)

    @staticmethod
    def explain(count: int) -> str:
        return _plural(count, "host-mode port already in use")


class MaxReplicasFilter(Filter):
    """The node runs fewer than ``Placement.MaxReplicas`` tasks of the service."""

    static = False

    @staticmethod
    def enabled(needs: TaskNeeds) -> bool:
        return needs.max_replicas > 0

    @staticmethod
    def check(needs: TaskNeeds, info: NodeInfo) -> bool:
        return info.active_by_service.get(needs.service_id, 0) < needs.max_replicas

    @staticmethod
    def explain(count: int) -> str:
        return "max replicas per node limit exceed"


#: SwarmKit's order; the first failing filter is the one a node is counted under.
FILTERS: tuple[type[Filter], ...] = (
    ReadyFilter,
    ResourceFilter,
    PluginFilter,
    ConstraintFilter,
    PlatformFilter,
    HostPortFilter,
    MaxReplicasFilter,
)
