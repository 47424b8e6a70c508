"""What ``swarm init`` may set on the new cluster (the Engine API's InitRequest):
its spec, default address pools, subnet size and VXLAN port, checked before the node
becomes a manager so a mistake leaves it outside any swarm."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from core.manager.requests import ApiError
from core.model import defaults, replace
from core.model.cluster import ClusterSpec
from core.model.validate import validate_cluster_spec

MIN_DATA_PATH_PORT, MAX_DATA_PATH_PORT = 1024, 49151  # dockerd's range for --data-path-port
MAX_SUBNET_SIZE = 29


def init_options(params: Mapping[str, Any]) -> dict[str, Any]:
    """The new cluster's fields from ``SwarmInit``'s ``spec``, ``default_addr_pool``,
    ``subnet_size`` and ``data_path_port`` (absent or zero: Docker's defaults)."""
    spec = params.get("spec") or ClusterSpec(name="default")
    if not isinstance(spec, ClusterSpec):
        raise ApiError("InvalidArgument", "a cluster spec is required")
    if not spec.name:
        spec = replace(spec, name="default")
    validate_cluster_spec(spec)
    refuse_autolock(spec)
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


def refuse_autolock(spec: ClusterSpec) -> None:
    """Encryption at rest is not built yet: a swarm that asks to be locked is told so
    rather than left unencrypted while its owner believes it locked."""
    if spec.encryption_config.auto_lock_managers:
        raise ApiError("InvalidArgument", "autolock is not supported by this version of shoal")
