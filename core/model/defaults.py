"""What unset fields mean: SwarmKit's ``api/defaults``, shoal's single source of them.

A spec stores what the user sent; ``None`` (or Go's zero where the Engine API treats
zero as unset) means "the default". Components ask this module for effective values
instead of scattering the numbers. The values are those of DESIGN.md section 3, and
each name carries its unit (``_NS`` nanoseconds, ``_DAYS``, ``_PORT``, ``_ENTRIES``, ...).
"""

from __future__ import annotations

from core.model.duration import HOUR, MILLISECOND, SECOND
from core.model.enums import FailureAction, RestartCondition, UpdateOrder
from core.model.service import (
    ContainerSpec,
    HealthConfig,
    ReplicatedJob,
    RestartPolicy,
    ServiceSpec,
    UpdateConfig,
)
from core.model.wire import replace

UPDATE_CONFIG = UpdateConfig(
    parallelism=1,
    delay_ns=0,
    failure_action=FailureAction.PAUSE,
    monitor_ns=5 * SECOND,
    max_failure_ratio=0.0,
    order=UpdateOrder.STOP_FIRST,
)
ROLLBACK_CONFIG = UPDATE_CONFIG
RESTART_POLICY = RestartPolicy(
    condition=RestartCondition.ANY, delay_ns=5 * SECOND, max_attempts=0, window_ns=None
)
STOP_GRACE_PERIOD_NS = 10 * SECOND
TASK_HISTORY_RETENTION_LIMIT = 5
REPLICAS = 1
JOB_MAX_CONCURRENT = 1

# -- dispatcher: heartbeats and node down detection (SwarmKit's dispatcher defaults) -----

#: How often an agent heartbeats its manager.
DISPATCHER_HEARTBEAT_PERIOD_NS = 5 * SECOND
#: Each period is drawn uniformly from period +/- this jitter (4.5 s .. 5.5 s).
DISPATCHER_HEARTBEAT_JITTER_NS = 500 * MILLISECOND
#: A node that misses this many heartbeat periods in a row is marked DOWN.
NODE_DOWN_MISSED_HEARTBEAT_PERIODS = 3

# -- container health checks (dockerd's defaults for a check's unset fields) -------------

#: A probe runs this long after the previous one finished ...
HEALTH_INTERVAL_NS = 30 * SECOND
#: ... and fails if it has not answered within this.
HEALTH_TIMEOUT_NS = 30 * SECOND
#: Failures this soon after the start, while not yet healthy, are not counted ...
HEALTH_START_PERIOD_NS = 0
#: ... and while it lasts and the container is still "starting", probes run this often.
HEALTH_START_INTERVAL_NS = 5 * SECOND
#: This many counted failures in a row make the container unhealthy.
HEALTH_RETRIES = 3

# -- Raft (SwarmKit's RaftConfig defaults) -------------------------------------------------

#: The length of one Raft tick; election and heartbeat timeouts are counted in ticks.
RAFT_TICK_NS = 1 * SECOND
RAFT_ELECTION_TICKS = 10
RAFT_HEARTBEAT_TICKS = 1
#: A snapshot is taken every this many applied entries ...
RAFT_SNAPSHOT_INTERVAL_ENTRIES = 10_000
#: ... keeping this many entries before it for followers that lag behind.
RAFT_LOG_ENTRIES_FOR_SLOW_FOLLOWERS = 500
RAFT_KEEP_OLD_SNAPSHOTS = 0

# -- networking --------------------------------------------------------------------------

#: The routing mesh's published ports when the user names none: 30000-32767 inclusive.
INGRESS_PUBLISHED_PORT_MIN = 30000
INGRESS_PUBLISHED_PORT_MAX = 32767
INGRESS_PUBLISHED_PORTS = range(INGRESS_PUBLISHED_PORT_MIN, INGRESS_PUBLISHED_PORT_MAX + 1)
#: Overlay traffic is VXLAN on this UDP port (the swarm's DataPathPort).
VXLAN_UDP_PORT = 4789
DATA_PATH_PORT = VXLAN_UDP_PORT
#: Overlay subnets are carved from this pool ...
DEFAULT_ADDR_POOL = ("10.0.0.0/8",)
#: ... as subnets with this prefix length (/24s).
SUBNET_SIZE_PREFIX_BITS = 24
SUBNET_SIZE = SUBNET_SIZE_PREFIX_BITS

# -- certificates and join tokens --------------------------------------------------------

#: Node certificates are valid this long (shown as NodeCertExpiry "2160h0m0s").
NODE_CERT_VALIDITY_DAYS = 90
NODE_CERT_EXPIRY_NS = NODE_CERT_VALIDITY_DAYS * 24 * HOUR
#: Join tokens read ``SWMTKN-1-<CA digest>-<secret>``; this is their format prefix.
JOIN_TOKEN_PREFIX = "SWMTKN-1"


def effective_update_config(config: UpdateConfig | None, *, rollback: bool = False) -> UpdateConfig:
    """The update (or rollback) config in force: unset fields take Swarm's defaults.

    As in the Engine API, a zero monitor period and an empty failure action or order
    mean "unset" (the daemon does not forward them to SwarmKit).
    """
    base = ROLLBACK_CONFIG if rollback else UPDATE_CONFIG
    if config is None:
        return base
    return replace(
        config,
        failure_action=config.failure_action or base.failure_action,
        monitor_ns=config.monitor_ns or base.monitor_ns,
        order=config.order or base.order,
    )


def effective_restart_policy(policy: RestartPolicy | None) -> RestartPolicy:
    if policy is None:
        return RESTART_POLICY
    return RestartPolicy(
        condition=policy.condition or RESTART_POLICY.condition,
        delay_ns=RESTART_POLICY.delay_ns if policy.delay_ns is None else policy.delay_ns,
        max_attempts=policy.max_attempts or 0,
        window_ns=policy.window_ns or None,
    )


def effective_stop_grace_period_ns(container: ContainerSpec | None) -> int:
    if container is None or container.stop_grace_period_ns is None:
        return STOP_GRACE_PERIOD_NS
    return container.stop_grace_period_ns


def health_check_enabled(config: HealthConfig | None) -> bool:
    """Whether a container runs a health check, as SwarmKit's container controller
    decides it: a test is set and is not ``["NONE"]``. (An empty test means "the
    image's", and the images shoal knows carry no HEALTHCHECK.)"""
    return config is not None and bool(config.test) and config.test[0] != "NONE"


def effective_healthcheck(container: ContainerSpec | None) -> HealthConfig | None:
    """The health check a container runs, every unset (zero) field at dockerd's
    default; ``None`` when it runs none (see :func:`health_check_enabled`)."""
    config = container.healthcheck if container is not None else None
    if config is None or not health_check_enabled(config):
        return None
    return replace(
        config,
        interval_ns=config.interval_ns if config.interval_ns > 0 else HEALTH_INTERVAL_NS,
        timeout_ns=config.timeout_ns if config.timeout_ns > 0 else HEALTH_TIMEOUT_NS,
        start_period_ns=(
            config.start_period_ns if config.start_period_ns > 0 else HEALTH_START_PERIOD_NS
        ),
        start_interval_ns=(
            config.start_interval_ns if config.start_interval_ns > 0 else HEALTH_START_INTERVAL_NS
        ),
        retries=config.retries if config.retries > 0 else HEALTH_RETRIES,
    )


def effective_replicas(spec: ServiceSpec) -> int:
    """Desired replicas of a replicated service (1 when unset)."""
    replicated = spec.mode.replicated
    if replicated is None or replicated.replicas is None:
        return REPLICAS
    return replicated.replicas


def effective_job(job: ReplicatedJob) -> ReplicatedJob:
    """A replicated job's concurrency (1) and total completions (= concurrency)."""
    concurrent = JOB_MAX_CONCURRENT if job.max_concurrent is None else job.max_concurrent
    total = concurrent if job.total_completions is None else job.total_completions
    return ReplicatedJob(max_concurrent=concurrent, total_completions=total)


def interpolate_service_spec(spec: ServiceSpec) -> ServiceSpec:
    """Fill every unset field with its default (SwarmKit's ``InterpolateService``)."""
    template = spec.task_template
    container = template.container_spec
    if container is not None and container.stop_grace_period_ns is None:
        container = replace(container, stop_grace_period_ns=STOP_GRACE_PERIOD_NS)
    template = replace(
        template,
        container_spec=container,
        restart_policy=effective_restart_policy(template.restart_policy),
    )
    mode = spec.mode
    if mode.replicated_job is not None:
        mode = replace(mode, replicated_job=effective_job(mode.replicated_job))
    update = None if spec.mode.is_job else effective_update_config(spec.update_config)
    return replace(
        spec,
        task_template=template,
        mode=mode,
        update_config=update,
        rollback_config=effective_update_config(spec.rollback_config, rollback=True),
    )
