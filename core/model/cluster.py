"""The cluster object (``docker swarm inspect``): swarm-wide settings and tokens."""

from __future__ import annotations

from core.model import defaults
from core.model.common import Annotated, Driver, StoredObject, TLSInfo
from core.model.wire import Labels, WireModel, model, wire


@model
class OrchestrationConfig(WireModel):
    task_history_retention_limit: int | None = wire(
        "TaskHistoryRetentionLimit", default=defaults.TASK_HISTORY_RETENTION_LIMIT
    )


@model
class RaftConfig(WireModel):
    """Raft timing in ticks (``defaults.RAFT_TICK_NS``, 1 s) and snapshot policy."""

    snapshot_interval: int = wire(
        "SnapshotInterval", default=defaults.RAFT_SNAPSHOT_INTERVAL_ENTRIES
    )
    keep_old_snapshots: int | None = wire(
        "KeepOldSnapshots", default=defaults.RAFT_KEEP_OLD_SNAPSHOTS
    )
    log_entries_for_slow_followers: int = wire(
        "LogEntriesForSlowFollowers", default=defaults.RAFT_LOG_ENTRIES_FOR_SLOW_FOLLOWERS
    )
    election_tick: int = wire("ElectionTick", omitempty=False, default=defaults.RAFT_ELECTION_TICKS)
    heartbeat_tick: int = wire(
        "HeartbeatTick", omitempty=False, default=defaults.RAFT_HEARTBEAT_TICKS
    )


@model
class DispatcherConfig(WireModel):
    heartbeat_period_ns: int = wire(
        "HeartbeatPeriod", default=defaults.DISPATCHER_HEARTBEAT_PERIOD_NS
    )


@model
class ExternalCA(WireModel):
    protocol: str = wire("Protocol", omitempty=False, default="cfssl")
    url: str = wire("URL", omitempty=False, default="")
    options: Labels = wire("Options", default_factory=Labels)
    ca_cert: str = wire("CACert", omitempty=False, default="")


@model
class CAConfig(WireModel):
    node_cert_expiry_ns: int = wire("NodeCertExpiry", default=defaults.NODE_CERT_EXPIRY_NS)
    external_cas: tuple[ExternalCA, ...] = wire("ExternalCAs", default=())
    signing_ca_cert: str = wire("SigningCACert", default="")
    signing_ca_key: str = wire("SigningCAKey", default="")
    force_rotate: int = wire("ForceRotate", default=0)


@model
class TaskDefaults(WireModel):
    log_driver: Driver | None = wire("LogDriver", default=None)


@model
class EncryptionConfig(WireModel):
    auto_lock_managers: bool = wire("AutoLockManagers", omitempty=False, default=False)


@model
class ClusterSpec(Annotated):
    orchestration: OrchestrationConfig = wire("Orchestration", default_factory=OrchestrationConfig)
    raft: RaftConfig = wire("Raft", default_factory=RaftConfig)
    dispatcher: DispatcherConfig = wire("Dispatcher", default_factory=DispatcherConfig)
    ca_config: CAConfig = wire("CAConfig", default_factory=CAConfig)
    task_defaults: TaskDefaults = wire("TaskDefaults", default_factory=TaskDefaults)
    encryption_config: EncryptionConfig = wire("EncryptionConfig", default_factory=EncryptionConfig)


@model
class JoinTokens(WireModel):
    worker: str = wire("Worker", omitempty=False, default="")
    manager: str = wire("Manager", omitempty=False, default="")


@model
class RootRotation(WireModel):
    """SwarmKit's ``RootCA.RootRotation``: the root a rotation moves to (certificate and
    key, PEM) and that root cross-signed by the current one, the intermediate every node
    certificate issued during the rotation carries so that peers trusting only the
    current root accept it."""

    ca_cert: str = wire("CACert", default="")
    ca_key: str = wire("CAKey", default="")
    cross_signed_ca_cert: str = wire("CrossSignedCACert", default="")


@model
class ClusterRootCA(WireModel):
    """SwarmKit's ``Cluster.RootCA``: the root certificate and key (PEM) every manager
    signs with, replicated with the cluster. Docker never shows it."""

    ca_cert: str = wire("CACert", default="")
    ca_key: str = wire("CAKey", default="")
    ca_cert_hash: str = wire("CACertHash", default="")  # digest of CACert, as tokens carry
    # the rotation under way (``swarm ca --rotate``), None when there is none
    root_rotation: RootRotation | None = wire("RootRotation", default=None)
    # the spec's ``CAConfig.ForceRotate`` the last rotation answered
    last_forced_rotation: int = wire("LastForcedRotation", default=0)


@model
class Cluster(StoredObject):
    """The swarm itself. ``docker swarm inspect`` shows it with its join tokens."""

    spec: ClusterSpec = wire(
        "Spec", omitempty=False, default_factory=lambda: ClusterSpec(name="default")
    )
    tls_info: TLSInfo = wire("TLSInfo", omitempty=False, default_factory=TLSInfo)
    root_rotation_in_progress: bool = wire("RootRotationInProgress", omitempty=False, default=False)
    # None (JSON null) means the default pool, defaults.DEFAULT_ADDR_POOL in /24s.
    default_addr_pool: tuple[str, ...] | None = wire(
        "DefaultAddrPool", omitempty=False, default=None
    )
    subnet_size: int = wire("SubnetSize", omitempty=False, default=defaults.SUBNET_SIZE_PREFIX_BITS)
    data_path_port: int = wire("DataPathPort", omitempty=False, default=defaults.VXLAN_UDP_PORT)
    join_tokens: JoinTokens = wire("JoinTokens", omitempty=False, default_factory=JoinTokens)
    # SwarmKit's own field, left out of the Engine API's JSON (written only when set).
    root_ca: ClusterRootCA | None = wire("RootCA", default=None)
    # SwarmKit's UnlockKeys (the managers' key-encryption key, core/manager/autolock.py),
    # "" without autolock; never in the Engine API's JSON either.
    unlock_key: str = wire("UnlockKey", default="")
