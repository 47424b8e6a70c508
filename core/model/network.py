"""Swarm-scoped networks, in the shape of ``swarm.Network``."""

from __future__ import annotations

from core.model.common import Annotated, Driver, StoredObject
from core.model.wire import WireModel, model, wire


@model
class IPAMConfig(WireModel):
    subnet: str = wire("Subnet", default="")
    range: str = wire("Range", default="")
    gateway: str = wire("Gateway", default="")


@model
class IPAMOptions(WireModel):
    driver: Driver = wire("Driver", default_factory=Driver)
    configs: tuple[IPAMConfig, ...] = wire("Configs", default=())


@model
class ConfigFrom(WireModel):
    network: str = wire("Network", omitempty=False, default="")


@model
class NetworkSpec(Annotated):
    driver_configuration: Driver | None = wire("DriverConfiguration", default=None)
    ipv6_enabled: bool = wire("IPv6Enabled", default=False)
    internal: bool = wire("Internal", default=False)
    attachable: bool = wire("Attachable", default=False)
    ingress: bool = wire("Ingress", default=False)
    ipam_options: IPAMOptions | None = wire("IPAMOptions", default=None)
    config_from: ConfigFrom | None = wire("ConfigFrom", default=None)
    scope: str = wire("Scope", default="")


@model
class Network(StoredObject):
    spec: NetworkSpec = wire("Spec", default_factory=NetworkSpec)
    driver_state: Driver = wire("DriverState", default_factory=Driver)
    ipam_options: IPAMOptions | None = wire("IPAMOptions", default=None)


@model
class NetworkAttachment(WireModel):
    """An object's addresses on a network: a task's, or a node's load-balancer
    endpoint (SwarmKit's ``Node.Attachments``)."""

    network: Network = wire("Network", omitempty=False, default_factory=Network)
    addresses: tuple[str, ...] = wire("Addresses", omitempty=False, default=())
