"""Services and their specs, in the shape of the Engine API's ``swarm.Service``.

Fields that Go declares as pointers are ``X | None`` here: ``None`` means "not set",
and :mod:`core.model.defaults` says what an unset field means (SwarmKit's
``api/defaults``). Durations are integer nanoseconds, as on the wire.
"""

from __future__ import annotations

from core.model.common import (
    Annotated,
    Driver,
    GenericResource,
    Platform,
    ResourceRequirements,
    StoredObject,
    Version,
)
from core.model.duration import SECOND
from core.model.enums import (
    FailureAction,
    MountType,
    PortProtocol,
    PublishMode,
    ResolutionMode,
    RestartCondition,
    UpdateOrder,
    UpdateState,
)
from core.model.timestamp import GO_ZERO_TIME, Timestamp
from core.model.wire import Labels, WireModel, model, wire

# -- container ----------------------------------------------------------------------


@model
class BindOptions(WireModel):
    propagation: str = wire("Propagation", default="")
    non_recursive: bool = wire("NonRecursive", default=False)
    create_mountpoint: bool = wire("CreateMountpoint", default=False)


@model
class VolumeOptions(WireModel):
    no_copy: bool = wire("NoCopy", default=False)
    labels: Labels = wire("Labels", default_factory=Labels)
    driver_config: Driver | None = wire("DriverConfig", default=None)


@model
class TmpfsOptions(WireModel):
    size_bytes: int = wire("SizeBytes", default=0)
    mode: int = wire("Mode", default=0)


@model
class Mount(WireModel):
    type: MountType | None = wire("Type", default=None)
    source: str = wire("Source", default="")
    target: str = wire("Target", default="")
    read_only: bool = wire("ReadOnly", default=False)
    consistency: str = wire("Consistency", default="")
    bind_options: BindOptions | None = wire("BindOptions", default=None)
    volume_options: VolumeOptions | None = wire("VolumeOptions", default=None)
    tmpfs_options: TmpfsOptions | None = wire("TmpfsOptions", default=None)


@model
class HealthConfig(WireModel):
    """A container health check: ``Test`` is ``["CMD", ...]``, ``["CMD-SHELL", cmd]``
    or ``["NONE"]``; durations in nanoseconds, zero meaning "inherit"."""

    test: tuple[str, ...] = wire("Test", default=())
    interval_ns: int = wire("Interval", default=0)
    timeout_ns: int = wire("Timeout", default=0)
    start_period_ns: int = wire("StartPeriod", default=0)
    start_interval_ns: int = wire("StartInterval", default=0)
    retries: int = wire("Retries", default=0)


@model
class DNSConfig(WireModel):
    nameservers: tuple[str, ...] = wire("Nameservers", default=())
    search: tuple[str, ...] = wire("Search", default=())
    options: tuple[str, ...] = wire("Options", default=())


@model
class FileTarget(WireModel):
    """Where a secret or config appears in the container, and with what owner/mode."""

    name: str = wire("Name", omitempty=False, default="")
    uid: str = wire("UID", omitempty=False, default="0")
    gid: str = wire("GID", omitempty=False, default="0")
    mode: int = wire("Mode", omitempty=False, default=0o444)


@model
class SecretReference(WireModel):
    file: FileTarget | None = wire("File", default=None)
    secret_id: str = wire("SecretID", omitempty=False, default="")
    secret_name: str = wire("SecretName", omitempty=False, default="")


@model
class RuntimeTarget(WireModel):
    """A config consumed by the runtime (credential specs) rather than as a file."""


@model
class ConfigReference(WireModel):
    file: FileTarget | None = wire("File", default=None)
    runtime: RuntimeTarget | None = wire("Runtime", default=None)
    config_id: str = wire("ConfigID", omitempty=False, default="")
    config_name: str = wire("ConfigName", omitempty=False, default="")


@model
class CredentialSpec(WireModel):
    config: str = wire("Config", default="")
    file: str = wire("File", default="")
    registry: str = wire("Registry", default="")


@model
class SELinuxContext(WireModel):
    disable: bool = wire("Disable", default=False)
    user: str = wire("User", default="")
    role: str = wire("Role", default="")
    type: str = wire("Type", default="")
    level: str = wire("Level", default="")


@model
class SeccompOpts(WireModel):
    mode: str = wire("Mode", default="")
    profile: str = wire("Profile", default="")


@model
class AppArmorOpts(WireModel):
    mode: str = wire("Mode", default="")


@model
class Privileges(WireModel):
    credential_spec: CredentialSpec | None = wire("CredentialSpec", omitempty=False, default=None)
    selinux_context: SELinuxContext | None = wire("SELinuxContext", omitempty=False, default=None)
    seccomp: SeccompOpts | None = wire("Seccomp", default=None)
    app_armor: AppArmorOpts | None = wire("AppArmor", default=None)
    no_new_privileges: bool = wire("NoNewPrivileges", default=False)


@model
class Ulimit(WireModel):
    name: str = wire("Name", omitempty=False, default="")
    hard: int = wire("Hard", omitempty=False, default=0)
    soft: int = wire("Soft", omitempty=False, default=0)


@model
class ContainerSpec(WireModel):
    """What runs in each task's container."""

    image: str = wire("Image", default="")
    labels: Labels = wire("Labels", default_factory=Labels)
    command: tuple[str, ...] = wire("Command", default=())
    args: tuple[str, ...] = wire("Args", default=())
    hostname: str = wire("Hostname", default="")
    env: tuple[str, ...] = wire("Env", default=())
    dir: str = wire("Dir", default="")
    user: str = wire("User", default="")
    groups: tuple[str, ...] = wire("Groups", default=())
    privileges: Privileges | None = wire("Privileges", default=None)
    init: bool | None = wire("Init", default=None)
    stop_signal: str = wire("StopSignal", default="")
    tty: bool = wire("TTY", default=False)
    open_stdin: bool = wire("OpenStdin", default=False)
    read_only: bool = wire("ReadOnly", default=False)
    mounts: tuple[Mount, ...] = wire("Mounts", default=())
    stop_grace_period_ns: int | None = wire("StopGracePeriod", default=None)
    healthcheck: HealthConfig | None = wire("Healthcheck", default=None)
    hosts: tuple[str, ...] = wire("Hosts", default=())
    dns_config: DNSConfig | None = wire("DNSConfig", default=None)
    secrets: tuple[SecretReference, ...] = wire("Secrets", default=())
    configs: tuple[ConfigReference, ...] = wire("Configs", default=())
    isolation: str = wire("Isolation", default="")
    sysctls: Labels = wire("Sysctls", default_factory=Labels)
    capability_add: tuple[str, ...] = wire("CapabilityAdd", default=())
    capability_drop: tuple[str, ...] = wire("CapabilityDrop", default=())
    ulimits: tuple[Ulimit, ...] = wire("Ulimits", default=())
    oom_score_adj: int = wire("OomScoreAdj", default=0)


# -- task template ------------------------------------------------------------------


@model
class RestartPolicy(WireModel):
    """When a task that stopped is replaced. Defaults: any, 5s, unlimited attempts,
    no window (``None`` and 0 both mean the attempts are counted over all time)."""

    condition: RestartCondition | None = wire("Condition", default=RestartCondition.ANY)
    delay_ns: int | None = wire("Delay", default=5 * SECOND)
    max_attempts: int | None = wire("MaxAttempts", default=0)
    window_ns: int | None = wire("Window", default=None)


@model
class SpreadOver(WireModel):
    spread_descriptor: str = wire("SpreadDescriptor", omitempty=False, default="")


@model
class PlacementPreference(WireModel):
    spread: SpreadOver | None = wire("Spread", omitempty=False, default=None)


@model
class Placement(WireModel):
    """Where tasks may run: constraints (ANDed), spread preferences, per-node cap."""

    constraints: tuple[str, ...] = wire("Constraints", default=())
    preferences: tuple[PlacementPreference, ...] = wire("Preferences", default=())
    max_replicas: int = wire("MaxReplicas", default=0)
    platforms: tuple[Platform, ...] = wire("Platforms", default=())


@model
class NetworkAttachmentConfig(WireModel):
    target: str = wire("Target", default="")
    aliases: tuple[str, ...] = wire("Aliases", default=())
    driver_opts: Labels = wire("DriverOpts", default_factory=Labels)


@model
class TaskSpec(WireModel):
    """The template every task of a service is made from."""

    container_spec: ContainerSpec | None = wire("ContainerSpec", default=None)
    resources: ResourceRequirements | None = wire("Resources", default=None)
    restart_policy: RestartPolicy | None = wire("RestartPolicy", default=None)
    placement: Placement | None = wire("Placement", default=None)
    networks: tuple[NetworkAttachmentConfig, ...] = wire("Networks", default=())
    log_driver: Driver | None = wire("LogDriver", default=None)
    force_update: int = wire("ForceUpdate", omitempty=False, default=0)
    runtime: str = wire("Runtime", default="")


# -- service spec ----------------------------------------------------------------------


@model
class ReplicatedService(WireModel):
    replicas: int | None = wire("Replicas", default=1)


@model
class GlobalService(WireModel):
    """One task on every eligible node; no fields."""


@model
class ReplicatedJob(WireModel):
    """Run ``total_completions`` tasks to completion, ``max_concurrent`` at a time."""

    max_concurrent: int | None = wire("MaxConcurrent", default=1)
    total_completions: int | None = wire("TotalCompletions", default=None)


@model
class GlobalJob(WireModel):
    """Run one task to completion on every eligible node; no fields."""


@model
class ServiceMode(WireModel):
    """Exactly one of the four modes is set."""

    replicated: ReplicatedService | None = wire("Replicated", default=None)
    global_: GlobalService | None = wire("Global", default=None)
    replicated_job: ReplicatedJob | None = wire("ReplicatedJob", default=None)
    global_job: GlobalJob | None = wire("GlobalJob", default=None)

    @property
    def name(self) -> str:
        """``replicated``, ``global``, ``replicated-job`` or ``global-job`` (the CLI's)."""
        if self.global_ is not None:
            return "global"
        if self.replicated_job is not None:
            return "replicated-job"
        if self.global_job is not None:
            return "global-job"
        return "replicated"

    @property
    def is_job(self) -> bool:
        return self.replicated_job is not None or self.global_job is not None


@model
class UpdateConfig(WireModel):
    """How a rolling update (or rollback) proceeds. The Python defaults are Swarm's;
    a key missing from JSON reads as Go's zero, which SwarmKit also treats as unset."""

    parallelism: int = wire("Parallelism", omitempty=False, default=1)
    delay_ns: int = wire("Delay", default=0)
    failure_action: FailureAction | None = wire("FailureAction", default=FailureAction.PAUSE)
    monitor_ns: int = wire("Monitor", default=5 * SECOND)
    max_failure_ratio: float = wire("MaxFailureRatio", omitempty=False, default=0.0)
    order: UpdateOrder | None = wire("Order", omitempty=False, default=UpdateOrder.STOP_FIRST)
    # shoal's own, not Docker's (written only when set): how long a slot's new task
    # may take to reach RUNNING before it counts as a failure. 0, the default, waits
    # for ever, as SwarmKit does (moby#37493: updates stuck in "updating").
    progress_deadline_ns: int = wire("ProgressDeadline", default=0)


@model
class PortConfig(WireModel):
    name: str = wire("Name", default="")
    protocol: PortProtocol | None = wire("Protocol", default=PortProtocol.TCP)
    target_port: int = wire("TargetPort", default=0)
    published_port: int = wire("PublishedPort", default=0)
    publish_mode: PublishMode | None = wire("PublishMode", default=PublishMode.INGRESS)


@model
class EndpointSpec(WireModel):
    mode: ResolutionMode | None = wire("Mode", default=ResolutionMode.VIP)
    ports: tuple[PortConfig, ...] = wire("Ports", default=())


@model
class ServiceSpec(Annotated):
    """What the user asked for: ``docker service create`` builds one of these."""

    task_template: TaskSpec = wire("TaskTemplate", default_factory=TaskSpec)
    mode: ServiceMode = wire(
        "Mode", default_factory=lambda: ServiceMode(replicated=ReplicatedService())
    )
    update_config: UpdateConfig | None = wire("UpdateConfig", default=None)
    rollback_config: UpdateConfig | None = wire("RollbackConfig", default=None)
    networks: tuple[NetworkAttachmentConfig, ...] = wire("Networks", default=())
    endpoint_spec: EndpointSpec | None = wire("EndpointSpec", default=None)


# -- service object --------------------------------------------------------------------


@model
class EndpointVirtualIP(WireModel):
    network_id: str = wire("NetworkID", default="")
    addr: str = wire("Addr", default="")


@model
class Endpoint(WireModel):
    """What the allocator gave the service: resolved ports and virtual IPs."""

    spec: EndpointSpec = wire("Spec", default_factory=lambda: EndpointSpec(mode=None))
    ports: tuple[PortConfig, ...] = wire("Ports", default=())
    virtual_ips: tuple[EndpointVirtualIP, ...] = wire("VirtualIPs", default=())


@model
class UpdateStatus(WireModel):
    state: UpdateState | None = wire("State", default=None)
    started_at: Timestamp | None = wire("StartedAt", default=None)
    completed_at: Timestamp | None = wire("CompletedAt", default=None)
    message: str = wire("Message", default="")


@model
class JobStatus(WireModel):
    """Which run of a job this is (bumped by every update) and when it last ran."""

    job_iteration: Version = wire("JobIteration", omitempty=False, default_factory=Version)
    last_execution: Timestamp = wire("LastExecution", default=GO_ZERO_TIME)


@model
class ServiceStatus(WireModel):
    running_tasks: int = wire("RunningTasks", omitempty=False, default=0)
    desired_tasks: int = wire("DesiredTasks", omitempty=False, default=0)
    completed_tasks: int = wire("CompletedTasks", omitempty=False, default=0)


@model
class Service(StoredObject):
    """A stored service: its spec, the previous spec (one level, for rollback), the
    allocated endpoint and the state of its rolling update."""

    spec: ServiceSpec = wire("Spec", default_factory=ServiceSpec)
    previous_spec: ServiceSpec | None = wire("PreviousSpec", default=None)
    endpoint: Endpoint = wire("Endpoint", default_factory=Endpoint)
    update_status: UpdateStatus | None = wire("UpdateStatus", default=None)
    service_status: ServiceStatus | None = wire("ServiceStatus", default=None)
    job_status: JobStatus | None = wire("JobStatus", default=None)
    # SwarmKit's own field, left out of the Engine API's JSON (written only when set):
    # the version of ``spec``, bumped by every spec change and copied into the tasks
    # made from it, so that tasks of an older revision can be told apart.
    spec_version: Version | None = wire("SpecVersion", default=None)
    # and the version of ``previous_spec``, which a rollback restores with it (so the
    # tasks never updated stay as they are)
    previous_spec_version: Version | None = wire("PreviousSpecVersion", default=None)


__all__ = [
    "ContainerSpec",
    "Endpoint",
    "EndpointSpec",
    "GenericResource",
    "GlobalJob",
    "GlobalService",
    "HealthConfig",
    "JobStatus",
    "Mount",
    "Placement",
    "PlacementPreference",
    "PortConfig",
    "ReplicatedJob",
    "ReplicatedService",
    "RestartPolicy",
    "Service",
    "ServiceMode",
    "ServiceSpec",
    "SpreadOver",
    "TaskSpec",
    "UpdateConfig",
    "UpdateStatus",
]
