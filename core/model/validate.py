"""Checks a spec must pass before the manager stores it.

Each check raises :class:`~core.errors.InvalidSpec` naming the field by its Docker
path (``UpdateConfig.MaxFailureRatio``), the value and the rule, so that the same
message reads well from the CLI, a scenario file and the API. The rules follow
SwarmKit's ``controlapi`` validation and the Engine API's documented ranges.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterator

from core.errors import InvalidSpec
from core.model.cluster import ClusterSpec
from core.model.common import ResourceRequirements
from core.model.enums import PublishMode, ResolutionMode
from core.model.node import NodeSpec
from core.model.service import (
    ContainerSpec,
    EndpointSpec,
    Placement,
    RestartPolicy,
    ServiceMode,
    ServiceSpec,
    UpdateConfig,
)
from core.model.wire import WireModel
from core.scheduler.constraint import parse_constraint

#: SwarmKit's rule for service, network, secret and config names (a DNS label).
_DNS_NAME = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")
NAME_LENGTH_MAX = 63
PORT_MAX = 65535


def validate_name(field: str, name: str) -> None:
    if not name:
        raise InvalidSpec(field, name, "a name must be provided")
    if len(name) > NAME_LENGTH_MAX:
        raise InvalidSpec(field, name, f"at most {NAME_LENGTH_MAX} characters are allowed")
    if not _DNS_NAME.fullmatch(name):
        raise InvalidSpec(
            field,
            name,
            "must be valid as a DNS name component "
            "(letters, digits, '-' and '_', starting and ending alphanumeric)",
        )


def validate_service_spec(spec: ServiceSpec) -> None:
    """Everything ``docker service create``/``update`` would refuse."""
    validate_name("ServiceSpec.Name", spec.name)
    container = spec.task_template.container_spec
    if container is None:
        raise InvalidSpec("TaskTemplate.ContainerSpec", None, "a container spec must be provided")
    validate_container_spec(container)
    if spec.task_template.resources is not None:
        validate_resources(spec.task_template.resources)
    if spec.task_template.restart_policy is not None:
        validate_restart_policy(spec.task_template.restart_policy)
    if spec.task_template.placement is not None:
        validate_placement(spec.task_template.placement)
    validate_mode(spec.mode)
    if spec.mode.is_job and spec.update_config is not None:
        raise InvalidSpec(
            "UpdateConfig", "set", f"{spec.mode.name} services may not have an update config"
        )
    for field, config in (
        ("UpdateConfig", spec.update_config),
        ("RollbackConfig", spec.rollback_config),
    ):
        if config is not None:
            validate_update_config(field, config)
    if spec.endpoint_spec is not None:
        validate_endpoint_spec(spec.endpoint_spec)
    validate_integers(spec)


def validate_container_spec(container: ContainerSpec) -> None:
    if not container.image.strip():
        raise InvalidSpec(
            "ContainerSpec.Image", container.image, "an image reference must be provided"
        )
    if container.stop_grace_period_ns is not None and container.stop_grace_period_ns < 0:
        raise InvalidSpec(
            "ContainerSpec.StopGracePeriod", container.stop_grace_period_ns, "must not be negative"
        )
    for index, entry in enumerate(container.env):
        if entry.startswith("=") or entry == "":
            raise InvalidSpec(f"ContainerSpec.Env[{index}]", entry, "must be NAME=value or NAME")
    health = container.healthcheck
    if health is not None:
        for field, value in (
            ("Interval", health.interval_ns),
            ("Timeout", health.timeout_ns),
            ("StartPeriod", health.start_period_ns),
            ("Retries", health.retries),
        ):
            if value < 0:
                raise InvalidSpec(f"Healthcheck.{field}", value, "must not be negative")


#: SwarmKit's floors: a CPU share below a thousandth, or under 4 MiB of memory, is
#: a typing mistake (``--reserve-memory 4`` means bytes), not a request.
NANO_CPUS_MIN = 1_000_000
MEMORY_BYTES_MIN = 4 << 20


def validate_resources(requirements: ResourceRequirements) -> None:
    """Reservations and limits: none negative, none below SwarmKit's floors, and a
    reservation never above its limit."""
    limits, reservations = requirements.limits, requirements.reservations
    for field, value in (
        ("Resources.Limits.NanoCPUs", limits.nano_cpus if limits else 0),
        ("Resources.Reservations.NanoCPUs", reservations.nano_cpus if reservations else 0),
    ):
        if value != 0 and value < NANO_CPUS_MIN:
            raise InvalidSpec(field, value, "must be at least 0.001 CPU (1000000 nano CPUs)")
    for field, value in (
        ("Resources.Limits.MemoryBytes", limits.memory_bytes if limits else 0),
        ("Resources.Reservations.MemoryBytes", reservations.memory_bytes if reservations else 0),
    ):
        if value != 0 and value < MEMORY_BYTES_MIN:
            raise InvalidSpec(field, value, "must be at least 4MiB")
    if limits is None or reservations is None:
        return
    for kind, limit, reserved in (
        ("NanoCPUs", limits.nano_cpus, reservations.nano_cpus),
        ("MemoryBytes", limits.memory_bytes, reservations.memory_bytes),
    ):
        if limit and reserved > limit:
            raise InvalidSpec(
                f"Resources.Reservations.{kind}", reserved, f"must not exceed the limit {limit}"
            )


def validate_restart_policy(policy: RestartPolicy) -> None:
    for field, value in (
        ("Delay", policy.delay_ns),
        ("Window", policy.window_ns),
        ("MaxAttempts", policy.max_attempts),
    ):
        if value is not None and value < 0:
            raise InvalidSpec(f"RestartPolicy.{field}", value, "must not be negative")


def validate_placement(placement: Placement) -> None:
    for index, constraint in enumerate(placement.constraints):
        validate_constraint(f"Placement.Constraints[{index}]", constraint)
    # A spread descriptor that names no node or engine label is accepted and spreads
    # over nothing (all nodes share its "" branch), as SwarmKit's API and scheduler do.
    for index, preference in enumerate(placement.preferences):
        if preference.spread is None:
            raise InvalidSpec(
                f"Placement.Preferences[{index}]", None, "only spread preferences exist"
            )
    if placement.max_replicas < 0:
        raise InvalidSpec("Placement.MaxReplicas", placement.max_replicas, "must not be negative")


def validate_constraint(field: str, text: str) -> None:
    """A constraint is ``key==value`` or ``key!=value`` over a known attribute."""
    parse_constraint(field, text)


def validate_mode(mode: ServiceMode) -> None:
    modes = [
        m
        for m in (mode.replicated, mode.global_, mode.replicated_job, mode.global_job)
        if m is not None
    ]
    if len(modes) != 1:
        raise InvalidSpec("ServiceSpec.Mode", len(modes), "exactly one mode must be set")
    if mode.replicated is not None and (mode.replicated.replicas or 0) < 0:
        raise InvalidSpec(
            "Mode.Replicated.Replicas", mode.replicated.replicas, "must not be negative"
        )
    if mode.replicated is not None and (mode.replicated.replicas or 0) > SERVICE_TASKS_MAX:
        raise InvalidSpec("Mode.Replicated.Replicas", mode.replicated.replicas, _TOO_MANY_TASKS)
    job = mode.replicated_job
    if job is not None:
        for field, value in (
            ("MaxConcurrent", job.max_concurrent),
            ("TotalCompletions", job.total_completions),
        ):
            if value is not None and value < 0:
                raise InvalidSpec(f"Mode.ReplicatedJob.{field}", value, "must not be negative")
            if value is not None and value > SERVICE_TASKS_MAX:
                raise InvalidSpec(f"Mode.ReplicatedJob.{field}", value, _TOO_MANY_TASKS)


#: The most tasks one service may ask for (replicas, or a job's completions or
#: concurrency). Swarm sets no limit, but shoal simulates every task on every
#: manager: a Swarm2k-size run (95,000 tasks on 2,000 workers) converges in about
#: 130 s and holds 2.5 GB, and a 9,500-task run holds 285 MiB (about 25 KiB a
#: task), so a million-task service would need some 25 GB and never converge in
#: a test's time. 100,000 keeps the largest service near the Swarm2k experiment.
SERVICE_TASKS_MAX = 100_000
_TOO_MANY_TASKS = f"shoal simulates every task: at most {SERVICE_TASKS_MAX:,} tasks per service"


def validate_update_config(field: str, config: UpdateConfig) -> None:
    if config.parallelism < 0:
        raise InvalidSpec(f"{field}.Parallelism", config.parallelism, "must not be negative")
    if config.delay_ns < 0:
        raise InvalidSpec(f"{field}.Delay", config.delay_ns, "must not be negative")
    if config.monitor_ns < 0:
        raise InvalidSpec(f"{field}.Monitor", config.monitor_ns, "must not be negative")
    if not 0.0 <= config.max_failure_ratio <= 1.0:
        raise InvalidSpec(f"{field}.MaxFailureRatio", config.max_failure_ratio, "must be in [0, 1]")
    if config.progress_deadline_ns < 0:
        raise InvalidSpec(
            f"{field}.ProgressDeadline", config.progress_deadline_ns, "must not be negative"
        )


def validate_endpoint_spec(endpoint: EndpointSpec) -> None:
    seen: set[tuple[int, str, str]] = set()
    for index, port in enumerate(endpoint.ports):
        where = f"EndpointSpec.Ports[{index}]"
        if not 1 <= port.target_port <= PORT_MAX:
            raise InvalidSpec(
                f"{where}.TargetPort", port.target_port, f"must be in [1, {PORT_MAX}]"
            )
        if not 0 <= port.published_port <= PORT_MAX:
            raise InvalidSpec(
                f"{where}.PublishedPort",
                port.published_port,
                f"must be in [0, {PORT_MAX}] (0 picks one)",
            )
        ingress = port.publish_mode in (None, PublishMode.INGRESS)
        if ingress and endpoint.mode is ResolutionMode.DNSRR:
            raise InvalidSpec(
                f"{where}.PublishMode",
                "ingress",
                "port published with ingress mode can't be used with dnsrr mode",
            )
        if port.published_port:
            key = (
                port.published_port,
                str(port.protocol or "tcp"),
                str(port.publish_mode or "ingress"),
            )
            if key in seen:
                raise InvalidSpec(
                    f"{where}.PublishedPort",
                    port.published_port,
                    "duplicate published ports provided",
                )
            seen.add(key)


#: Go's integer types, in which Docker's API carries spec fields: name and range.
INT64 = ("int64", -(2**63), 2**63 - 1)
UINT64 = ("uint64", 0, 2**64 - 1)
UINT32 = ("uint32", 0, 2**32 - 1)

#: The spec fields (by JSON key) Docker declares unsigned; every other integer of
#: a spec is an int64 (or Go's 64-bit ``int``): sizes, NanoCPUs, durations,
#: ulimits, retries, ticks. ``Mode`` is a file mode (``os.FileMode``).
_UNSIGNED: dict[str, tuple[str, int, int]] = {
    "Replicas": UINT64,
    "MaxConcurrent": UINT64,
    "TotalCompletions": UINT64,
    "MaxAttempts": UINT64,
    "MaxReplicas": UINT64,
    "ForceUpdate": UINT64,
    "Parallelism": UINT64,
    "SnapshotInterval": UINT64,
    "KeepOldSnapshots": UINT64,
    "LogEntriesForSlowFollowers": UINT64,
    "ForceRotate": UINT64,
    "TargetPort": UINT32,
    "PublishedPort": UINT32,
    "Mode": UINT32,
}


def validate_integers(spec: WireModel) -> None:
    """Every integer of the spec in the range of the Go type Docker has for it, so
    that what the API accepts the store's encoding (msgpack: 64 bits) and a real
    Docker can carry; the error names the field by its JSON path."""
    for path, key, value in _integers(spec, "", ""):
        kind, low, high = _UNSIGNED.get(key, INT64)
        if not low <= value <= high:
            raise InvalidSpec(path, value, f"must be in [{low}, {high}] (a Go {kind})")


def _integers(value: object, path: str, key: str) -> Iterator[tuple[str, str, int]]:
    """(path, JSON key, value) of every integer in a model object, depth first."""
    if isinstance(value, WireModel):
        for field in dataclasses.fields(value):  # type: ignore[arg-type]
            wire_key = field.metadata.get("wire")
            inner = wire_key.key if wire_key is not None else field.name
            found = getattr(value, field.name)
            yield from _integers(found, f"{path}.{inner}" if path else inner, inner)
    elif isinstance(value, tuple):
        for index, item in enumerate(value):
            yield from _integers(item, f"{path}[{index}]", key)
    elif isinstance(value, int) and not isinstance(value, bool | enum.Enum):
        yield path, key, value


def validate_node_spec(spec: NodeSpec) -> None:
    if spec.role is None:
        raise InvalidSpec("NodeSpec.Role", "", "must be worker or manager")
    if spec.availability is None:
        raise InvalidSpec("NodeSpec.Availability", "", "must be active, pause or drain")


def validate_cluster_spec(spec: ClusterSpec) -> None:
    raft = spec.raft
    if raft.heartbeat_tick < 1:
        raise InvalidSpec("Raft.HeartbeatTick", raft.heartbeat_tick, "must be at least 1")
    if raft.election_tick <= raft.heartbeat_tick:
        raise InvalidSpec(
            "Raft.ElectionTick", raft.election_tick, "must be greater than HeartbeatTick"
        )
    limit = spec.orchestration.task_history_retention_limit
    if limit is not None and limit < -1:
        raise InvalidSpec("Orchestration.TaskHistoryRetentionLimit", limit, "must be -1 or more")
    if spec.dispatcher.heartbeat_period_ns < 0:
        raise InvalidSpec(
            "Dispatcher.HeartbeatPeriod",
            spec.dispatcher.heartbeat_period_ns,
            "must not be negative",
        )
    expiry = spec.ca_config.node_cert_expiry_ns
    if expiry and expiry < 3600 * 10**9:
        raise InvalidSpec("CAConfig.NodeCertExpiry", expiry, "must be at least 1h")
    validate_integers(spec)
