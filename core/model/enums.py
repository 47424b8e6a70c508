"""The string enums of Docker's Engine API, spelled as Docker spells them on the wire."""

from __future__ import annotations

import enum


class NodeRole(enum.StrEnum):
    WORKER = "worker"
    MANAGER = "manager"


class NodeAvailability(enum.StrEnum):
    """Active takes new tasks; pause keeps what it runs; drain moves tasks away."""

    ACTIVE = "active"
    PAUSE = "pause"
    DRAIN = "drain"


class NodeState(enum.StrEnum):
    UNKNOWN = "unknown"
    DOWN = "down"
    READY = "ready"
    DISCONNECTED = "disconnected"


class Reachability(enum.StrEnum):
    UNKNOWN = "unknown"
    UNREACHABLE = "unreachable"
    REACHABLE = "reachable"


class RestartCondition(enum.StrEnum):
    NONE = "none"
    ON_FAILURE = "on-failure"
    ANY = "any"


class FailureAction(enum.StrEnum):
    PAUSE = "pause"
    CONTINUE = "continue"
    ROLLBACK = "rollback"


class UpdateOrder(enum.StrEnum):
    STOP_FIRST = "stop-first"
    START_FIRST = "start-first"


class UpdateState(enum.StrEnum):
    UPDATING = "updating"
    PAUSED = "paused"
    COMPLETED = "completed"
    ROLLBACK_STARTED = "rollback_started"
    ROLLBACK_PAUSED = "rollback_paused"
    ROLLBACK_COMPLETED = "rollback_completed"


class ResolutionMode(enum.StrEnum):
    """How a service is found: one virtual IP, or DNS round robin over task IPs."""

    VIP = "vip"
    DNSRR = "dnsrr"


class PortProtocol(enum.StrEnum):
    TCP = "tcp"
    UDP = "udp"
    SCTP = "sctp"


class PublishMode(enum.StrEnum):
    """Ingress publishes through the routing mesh on every node; host on the task's."""

    INGRESS = "ingress"
    HOST = "host"


class MountType(enum.StrEnum):
    BIND = "bind"
    VOLUME = "volume"
    TMPFS = "tmpfs"
    NPIPE = "npipe"
    CLUSTER = "cluster"
