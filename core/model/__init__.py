"""shoal's object model: Docker Engine API shapes as frozen values.

Import the objects from here; each submodule holds one family (services, tasks,
nodes, networks, secrets and configs, the cluster) plus the codec, defaults and
validation shared by all.
"""

from core.model.cluster import Cluster, ClusterSpec, JoinTokens, RaftConfig
from core.model.common import Platform, ResourceRequirements, Resources, Version
from core.model.enums import (
    FailureAction,
    NodeAvailability,
    NodeRole,
    NodeState,
    PortProtocol,
    PublishMode,
    Reachability,
    ResolutionMode,
    RestartCondition,
    UpdateOrder,
    UpdateState,
)
from core.model.network import Network, NetworkSpec
from core.model.node import ManagerStatus, Node, NodeDescription, NodeSpec, NodeStatus
from core.model.secret import Config, ConfigSpec, Secret, SecretSpec
from core.model.service import (
    ContainerSpec,
    EndpointSpec,
    Placement,
    PortConfig,
    ReplicatedService,
    RestartPolicy,
    Service,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
    UpdateConfig,
)
from core.model.task import ContainerStatus, Task, TaskStatus
from core.model.wire import Labels, replace

__all__ = [
    "Cluster",
    "ClusterSpec",
    "Config",
    "ConfigSpec",
    "ContainerSpec",
    "ContainerStatus",
    "EndpointSpec",
    "FailureAction",
    "JoinTokens",
    "Labels",
    "ManagerStatus",
    "Network",
    "NetworkSpec",
    "Node",
    "NodeAvailability",
    "NodeDescription",
    "NodeRole",
    "NodeSpec",
    "NodeState",
    "NodeStatus",
    "Placement",
    "Platform",
    "PortConfig",
    "PortProtocol",
    "PublishMode",
    "RaftConfig",
    "Reachability",
    "ReplicatedService",
    "ResolutionMode",
    "ResourceRequirements",
    "Resources",
    "RestartCondition",
    "RestartPolicy",
    "Secret",
    "SecretSpec",
    "Service",
    "ServiceMode",
    "ServiceSpec",
    "Task",
    "TaskSpec",
    "TaskStatus",
    "UpdateConfig",
    "UpdateOrder",
    "UpdateState",
    "Version",
    "replace",
]
