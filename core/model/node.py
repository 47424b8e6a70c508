"""Nodes: a host in the swarm, in the shape of ``swarm.Node``."""

from __future__ import annotations

from core.model.common import Annotated, Platform, Resources, StoredObject, TLSInfo
from core.model.enums import NodeAvailability, NodeRole, NodeState, Reachability
from core.model.network import NetworkAttachment
from core.model.wire import Labels, WireModel, model, wire


@model
class NodeSpec(Annotated):
    """What an operator sets on a node: labels, role and availability."""

    role: NodeRole | None = wire("Role", default=NodeRole.WORKER)
    availability: NodeAvailability | None = wire("Availability", default=NodeAvailability.ACTIVE)


@model
class PluginDescription(WireModel):
    type: str = wire("Type", default="")
    name: str = wire("Name", default="")


@model
class EngineDescription(WireModel):
    engine_version: str = wire("EngineVersion", default="")
    labels: Labels = wire("Labels", default_factory=Labels)
    plugins: tuple[PluginDescription, ...] = wire("Plugins", default=())


@model
class CSIInfo(WireModel):
    plugin_name: str = wire("PluginName", default="")
    node_id: str = wire("NodeID", default="")
    max_volumes_per_node: int = wire("MaxVolumesPerNode", default=0)


@model
class NodeDescription(WireModel):
    """What the node reports about itself."""

    hostname: str = wire("Hostname", default="")
    platform: Platform = wire("Platform", default_factory=Platform)
    resources: Resources = wire("Resources", default_factory=Resources)
    engine: EngineDescription = wire("Engine", default_factory=EngineDescription)
    tls_info: TLSInfo = wire("TLSInfo", default_factory=TLSInfo)
    csi_info: tuple[CSIInfo, ...] = wire("CSIInfo", default=())


@model
class NodeStatus(WireModel):
    state: NodeState | None = wire("State", default=NodeState.UNKNOWN)
    message: str = wire("Message", default="")
    addr: str = wire("Addr", default="")


@model
class ManagerStatus(WireModel):
    leader: bool = wire("Leader", default=False)
    reachability: Reachability | None = wire("Reachability", default=Reachability.UNKNOWN)
    addr: str = wire("Addr", default="")
    # SwarmKit's own field, left out of the Engine API's JSON (written only when set):
    # the manager's Raft member id, by which its peers address it.
    raft_id: int = wire("RaftID", default=0)


@model
class NodeCertificate(WireModel):
    """SwarmKit's ``Node.Certificate``: the last certificate the CA issued to the node,
    the role it certifies and its CN (the node ID)."""

    role: NodeRole | None = wire("Role", default=None)
    certificate: str = wire("Certificate", default="")  # PEM
    cn: str = wire("CN", default="")


@model
class Node(StoredObject):
    spec: NodeSpec = wire("Spec", default_factory=NodeSpec)
    description: NodeDescription = wire("Description", default_factory=NodeDescription)
    status: NodeStatus = wire("Status", default_factory=NodeStatus)
    manager_status: ManagerStatus | None = wire("ManagerStatus", default=None)
    # SwarmKit's own field, left out of the Engine API's JSON (written only when set).
    certificate: NodeCertificate | None = wire("Certificate", default=None)
    # SwarmKit's own field: the node's load-balancer endpoint on each overlay network it
    # needs (the ingress sandbox's address on ``ingress``), given by the allocator.
    attachments: tuple[NetworkAttachment, ...] = wire("Attachments", default=())
