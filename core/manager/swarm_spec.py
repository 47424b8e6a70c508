"""The swarm's spec as ``swarm init`` and ``swarm update`` take it through the Engine
API: a spec whose zero fields keep what is there (dockerd's MergeSwarmSpecToGRPC),
and what init may set on the new cluster (address pools, subnet size, VXLAN port),
checked before the node becomes a manager so a mistake leaves it outside any swarm."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from core.manager.ca_api import refuse_external_ca
from core.manager.requests import ApiError
from core.model import defaults, replace
from core.model.cluster import ClusterSpec, EncryptionConfig
from core.model.validate import validate_cluster_spec

MIN_DATA_PATH_PORT, MAX_DATA_PATH_PORT = 1024, 49151  # dockerd's range for --data-path-port
MAX_SUBNET_SIZE = 29


def init_options(params: Mapping[str, Any]) -> dict[str, Any]:
    """The new cluster's fields from ``SwarmInit``'s ``spec``, ``autolock``,
    ``default_addr_pool``, ``subnet_size`` and ``data_path_port`` (absent or zero:
    Docker's defaults)."""
    given = params.get("spec")
    if given is not None and not isinstance(given, ClusterSpec):
        raise ApiError("InvalidArgument", "a cluster spec is required")
    spec = merged(given, ClusterSpec(name="default")) if given else ClusterSpec(name="default")
    if params.get("autolock"):  # shoal's CLI: swarm init --autolock
        spec = replace(spec, encryption_config=EncryptionConfig(auto_lock_managers=True))
    validate_cluster_spec(spec)
    refuse_external_ca(spec)
    options: dict[str, Any] = {"spec": spec}
    pools = tuple(params.get("default_addr_pool") or ())
    for pool in pools:
        try:
            ipaddress.ip_network(pool)
        except ValueError:
            raise ApiError("InvalidArgument", f"invalid base pool {pool!r}") from None
    if pools:
        options["default_addr_pool"] = pools
    size = int(params.get("subnet_size") or 0)
    if size:
        smallest = min((ipaddress.ip_network(p).prefixlen for p in pools), default=8)
        if not smallest <= size <= MAX_SUBNET_SIZE:
            raise ApiError(
                "InvalidArgument",
                f"invalid subnet size {size}: must be between {smallest} and {MAX_SUBNET_SIZE}",
            )
        options["subnet_size"] = size
    elif pools:
        options["subnet_size"] = defaults.SUBNET_SIZE
    port = int(params.get("data_path_port") or 0)
    if port:
        if not MIN_DATA_PATH_PORT <= port <= MAX_DATA_PATH_PORT:
            raise ApiError(
                "InvalidArgument",
                f"data path port should be between {MIN_DATA_PATH_PORT} and "
                f"{MAX_DATA_PATH_PORT}, not {port}",
            )
        options["data_path_port"] = port
    return options


def merged(given: ClusterSpec, current: ClusterSpec) -> ClusterSpec:
    """``given`` over ``current`` as dockerd merges a swarm spec: name and labels as
    given (named ``default``), numbers and optional settings only where given
    (non-zero), the CA's external CAs, force-rotate counter and autolock as given."""
    raft, ca = given.raft, given.ca_config
    history = given.orchestration.task_history_retention_limit
    return replace(
        default_named(given),
        orchestration=current.orchestration if history is None else given.orchestration,
        raft=replace(
            current.raft,
            snapshot_interval=raft.snapshot_interval or current.raft.snapshot_interval,
            keep_old_snapshots=(
                current.raft.keep_old_snapshots
                if raft.keep_old_snapshots is None
                else raft.keep_old_snapshots
            ),
            log_entries_for_slow_followers=(
                raft.log_entries_for_slow_followers or current.raft.log_entries_for_slow_followers
            ),
            heartbeat_tick=raft.heartbeat_tick or current.raft.heartbeat_tick,
            election_tick=raft.election_tick or current.raft.election_tick,
        ),
        dispatcher=replace(
            current.dispatcher,
            heartbeat_period_ns=(
                given.dispatcher.heartbeat_period_ns or current.dispatcher.heartbeat_period_ns
            ),
        ),
        ca_config=replace(
            current.ca_config,
            node_cert_expiry_ns=ca.node_cert_expiry_ns or current.ca_config.node_cert_expiry_ns,
            external_cas=ca.external_cas,
            signing_ca_cert=ca.signing_ca_cert or current.ca_config.signing_ca_cert,
            signing_ca_key=ca.signing_ca_key or current.ca_config.signing_ca_key,
            force_rotate=ca.force_rotate,
        ),
        task_defaults=(
            given.task_defaults if given.task_defaults.log_driver else current.task_defaults
        ),
        encryption_config=given.encryption_config,
    )


def default_named(spec: ClusterSpec) -> ClusterSpec:
    """dockerd's rule: the swarm's spec is named ``default``, or left unnamed."""
    if spec.name not in ("", "default"):
        raise ApiError("InvalidArgument", 'swarm spec must be named "default"')
    return spec if spec.name else replace(spec, name="default")
