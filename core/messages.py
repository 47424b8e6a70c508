"""What nodes say to each other, beside Raft: agent sessions, task status,
assignments, joins and forwarded API requests, with one wire codec for them all.

Hosts are addressed by name (an address, in real mode). Every message is a frozen
dataclass; :func:`encode` turns one into msgpack bytes and :func:`decode` back, so the
simulator can pass every message through the bytes real mode would send. Model
objects travel as Docker's JSON; Raft messages inside :class:`RaftEnvelope` as the
Raft codec's bytes.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgpack

from core.dataplane.delta import BindingChange, NetworkDelta
from core.dataplane.state import Endpoint, NetworkState, PublishedPort, ServiceBinding
from core.errors import ShoalError
from core.model.cluster import Cluster, ClusterSpec
from core.model.network import Network, NetworkSpec
from core.model.node import Node, NodeDescription, NodeSpec
from core.model.secret import Config, ConfigSpec, Secret, SecretSpec
from core.model.service import Service, ServiceSpec
from core.model.task import Task, TaskStatus
from core.model.wire import WireModel
from core.raft.codec import decode_message, encode_message
from core.raft.types import EntryKind, Message
from core.store.actions import Transaction

_FORMAT = 1


class MessageDecodeError(ShoalError):
    """Bytes that are not a cluster message this build reads."""


# -- agent <-> dispatcher ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Register:
    """An agent opens a session with the leader's dispatcher."""

    node_id: str
    description: NodeDescription


@dataclass(frozen=True, slots=True)
class Registered:
    node_id: str
    session: str
    period: float  # seconds until the first heartbeat is due
    managers: tuple[str, ...]  # hosts of the managers, for reconnecting elsewhere
    # the roots (PEM) the node is to trust: the cluster's, then during a root rotation
    # the new one (SwarmKit's session message carries the root CA so)
    root_ca: bytes = b""


@dataclass(frozen=True, slots=True)
class SessionRefused:
    """Not the leader (``leader`` names it when known), or a refused registration."""

    node_id: str
    error: str
    leader: str = ""


@dataclass(frozen=True, slots=True)
class Heartbeat:
    node_id: str
    session: str


@dataclass(frozen=True, slots=True)
class HeartbeatAck:
    """``assignments``: the sequence of the session's last assignment message, so an
    agent that missed the newest one (the stream's tail, lost on the wire, has no
    later message to reveal the gap) starts a new session."""

    session: str
    period: float
    assignments: int = 0
    managers: tuple[str, ...] = ()  # the managers now, as :class:`ManagerList` says
    root_ca: bytes = b""  # the roots to trust now, as :class:`Registered` says


@dataclass(frozen=True, slots=True)
class ManagerList:
    """The managers' hosts changed: pushed to every session (SwarmKit's session
    stream), so that an agent can reconnect to a manager that joined after it."""

    session: str
    managers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LeaderElected:
    """A manager that has just become leader tells every node it knows of, so that
    an agent without a session registers with it at once rather than on its next
    backed-off try of managers that may be gone (after ``--force-new-cluster``). The
    leader is the sender."""

    node_id: str  # the node addressed


@dataclass(frozen=True, slots=True)
class StatusReport:
    """Task statuses since the last acknowledged report (latest per task)."""

    node_id: str
    session: str
    sequence: int
    statuses: tuple[tuple[str, TaskStatus], ...]


@dataclass(frozen=True, slots=True)
class StatusAck:
    session: str
    sequence: int


@dataclass(frozen=True, slots=True)
class AssignmentsMessage:
    """One message of a session's assignment stream; ``sequence`` counts from 1, so
    an agent that sees a gap knows it missed one and opens a new session.

    ``service_names`` pairs each updated task's service id with the service's name
    (SwarmKit's task carries its ServiceAnnotations; the Engine API's task, our
    model, does not): a worker has no store, yet names and labels containers
    ``web.1.<task id>`` and ``com.docker.swarm.service.name=web`` as Docker does."""

    session: str
    sequence: int
    complete: bool  # the whole set (the first of a session), else only changes
    updates: tuple[Task, ...]
    removes: tuple[str, ...]
    service_names: tuple[tuple[str, str], ...] = ()
    #: What changed of the overlay networks the node needs (each whole when
    #: ``complete`` or new to it), and those it no longer needs (see
    #: core/dispatcher/networks.py and core/dataplane/delta.py).
    networks: tuple[NetworkDelta, ...] = ()
    networks_removed: tuple[str, ...] = ()
    #: The secrets and configs (with their data) the node's tasks now use that it
    #: was not sent yet, and the ids of those no task there uses any more (see
    #: core/dispatcher/assignments.py). A secret's data leaves the store only so.
    secrets: tuple[Secret, ...] = ()
    secrets_removed: tuple[str, ...] = ()
    configs: tuple[Config, ...] = ()
    configs_removed: tuple[str, ...] = ()


# -- joining -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RootCARequest:
    """A joining node asks any manager for the cluster's root certificate (SwarmKit's
    ``GetRootCACertificate``), to check it against its token before sending the token."""

    host: str


@dataclass(frozen=True, slots=True)
class RootCAReply:
    root_ca: bytes  # PEM


@dataclass(frozen=True, slots=True)
class JoinRequest:
    host: str
    token: str
    description: NodeDescription
    csr: bytes = b""  # PEM: the key the node's certificate is to certify


@dataclass(frozen=True, slots=True)
class JoinAccepted:
    node_id: str
    manager: bool
    raft_id: int
    managers: tuple[tuple[int, str], ...]  # (raft id, host) of the members
    certificate: bytes = b""  # PEM, signed for the request's CSR
    root_ca: bytes = b""  # PEM


@dataclass(frozen=True, slots=True)
class RenewCertificate:
    """A member asks the leader for a new certificate over its session (SwarmKit's
    ``IssueNodeCertificate`` by a node that has one); the role comes from the store."""

    node_id: str
    csr: bytes  # PEM


@dataclass(frozen=True, slots=True)
class CertificateIssued:
    """The leader's answer to :class:`RenewCertificate`: a certificate, or why not."""

    node_id: str
    certificate: bytes  # PEM; empty when refused
    root_ca: bytes  # PEM
    error: str = ""


@dataclass(frozen=True, slots=True)
class JoinRefused:
    error: str
    leader: str = ""  # this manager does not lead; the one that does


@dataclass(frozen=True, slots=True)
class Promoted:
    """The leader tells a worker it is a manager now, under ``raft_id``."""

    node_id: str
    raft_id: int
    managers: tuple[tuple[int, str], ...]  # (raft id, host) of the members


@dataclass(frozen=True, slots=True)
class JoinRaft:
    """A promoted node, its Raft member running, asks the leader to add it."""

    node_id: str
    raft_id: int


# -- manager <-> manager -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RaftEnvelope:
    message: Message


@dataclass(frozen=True, slots=True)
class MemberRemoved:
    """A manager's answer to Raft traffic from a member removed from the membership
    (SwarmKit's ``ErrMemberRemoved``): a demoted manager that missed its own removal,
    which the leader stops replicating to once it is applied, learns it this way."""

    raft_id: int


@dataclass(frozen=True, slots=True)
class ForwardedRequest:
    """An API request a follower passes to the leader (SwarmKit's raft proxy)."""

    origin: str
    request_id: str
    method: str
    params: tuple[tuple[str, Any], ...]


@dataclass(frozen=True, slots=True)
class ForwardedReply:
    request_id: str
    ok: bool
    value: Any
    error: str  # the whole message, "rpc error: code = ... desc = ..."
    code: str = ""


@dataclass(frozen=True, slots=True)
class LogRequest:
    """The leader asks an agent for the output of these tasks' containers."""

    request_id: str
    task_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LogReply:
    """(seconds since the epoch, task id, line number in its output, line) per line."""

    request_id: str
    node_id: str
    entries: tuple[tuple[float, str, int, str], ...]


@dataclass(frozen=True, slots=True)
class Proxied:
    """An agent's message relayed by a manager that is not the leader, or the
    leader's answer relayed back (SwarmKit's raft proxy): ``origin`` is the agent's
    host, ``message`` what it sent or is sent."""

    origin: str
    message: Any  # a ClusterMessage


ClusterMessage = (
    Register
    | Registered
    | SessionRefused
    | Heartbeat
    | HeartbeatAck
    | ManagerList
    | LeaderElected
    | StatusReport
    | StatusAck
    | AssignmentsMessage
    | RootCARequest
    | RootCAReply
    | JoinRequest
    | JoinAccepted
    | RenewCertificate
    | CertificateIssued
    | JoinRefused
    | Promoted
    | JoinRaft
    | RaftEnvelope
    | MemberRemoved
    | ForwardedRequest
    | ForwardedReply
    | LogRequest
    | LogReply
    | Proxied
)

_CLASSES: dict[str, type] = {
    cls.__name__: cls for cls in typing.get_args(ClusterMessage) if isinstance(cls, type)
}

# -- the codec -------------------------------------------------------------------------------

_MODELS: dict[str, type[WireModel]] = {
    cls.__name__: cls
    for cls in (
        Cluster,
        ClusterSpec,
        Config,
        ConfigSpec,
        Network,
        NetworkSpec,
        Node,
        NodeDescription,
        NodeSpec,
        Secret,
        SecretSpec,
        Service,
        ServiceSpec,
        Task,
        TaskStatus,
    )
}


#: Plain frozen values carried inside messages (the data plane's network states).
_VALUES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        NetworkDelta,
        BindingChange,
        NetworkState,
        Endpoint,
        ServiceBinding,
        PublishedPort,
    )
}
#: Their fields' names, looked up once (``dataclasses.fields`` is slow).
_VALUE_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in _VALUES.values()
}


def _pack(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    names = _VALUE_FIELDS.get(type(value))
    if names is not None:
        return {"$value": type(value).__name__, "f": [_pack(getattr(value, n)) for n in names]}
    if isinstance(value, Message):
        return {"$raft": encode_message(value)}
    if isinstance(value, WireModel):
        return {"$model": type(value).__name__, "v": value.to_json()}
    if type(value).__name__ in _CLASSES and dataclasses.is_dataclass(value):
        return {"$message": encode(value)}  # type: ignore[arg-type]
    if isinstance(value, (tuple, list)):
        return [_pack(v) for v in value]
    if isinstance(value, Mapping):
        return {"$map": [[_pack(k), _pack(v)] for k, v in sorted(value.items())]}
    raise MessageDecodeError(f"cannot encode a {type(value).__name__} in a cluster message")


def _unpack(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_unpack(v) for v in value)
    if isinstance(value, dict):
        if "$raft" in value:
            return _with_transactions(decode_message(value["$raft"]))
        if "$message" in value:
            return decode(value["$message"])
        if "$value" in value:
            cls = _VALUES.get(value["$value"])
            if cls is None:
                raise MessageDecodeError(f"unknown value {value['$value']!r}")
            return cls(*(_unpack(v) for v in value["f"]))
        if "$model" in value:
            model = _MODELS.get(value["$model"])
            if model is None:
                raise MessageDecodeError(f"unknown model {value['$model']!r}")
            return model.from_json(value["v"], path=value["$model"])
        if "$map" in value:
            return {_unpack(k): _unpack(v) for k, v in value["$map"]}
        raise MessageDecodeError("a map without a type tag")
    return value


def _with_transactions(message: Message) -> Message:
    """The managers' Raft entries as they hold them: each one's store transaction
    read back into its value (Raft's codec gives bytes), so that a message that
    crossed as bytes equals the one sent, and a follower's log holds what its
    leader's does. Bytes that are no transaction make the message unreadable."""
    if not message.entries:
        return message
    try:
        entries = tuple(
            dataclasses.replace(entry, data=Transaction.decode(entry.data))
            if entry.kind is EntryKind.NORMAL and type(entry.data) is bytes and entry.data
            else entry
            for entry in message.entries
        )
    except ShoalError as error:
        raise MessageDecodeError(f"raft entry: {error}") from None
    return dataclasses.replace(message, entries=entries)


def encode(message: ClusterMessage) -> bytes:
    fields = [_pack(getattr(message, f.name)) for f in dataclasses.fields(message)]
    packed: bytes = msgpack.packb([_FORMAT, type(message).__name__, fields], use_bin_type=True)
    return packed


def decode(data: bytes) -> ClusterMessage:
    try:
        fmt, name, fields = msgpack.unpackb(data, raw=False)
    except (ValueError, TypeError) as error:
        raise MessageDecodeError(f"not a cluster message: {error}") from None
    if fmt != _FORMAT:
        raise MessageDecodeError(f"cluster message format {fmt!r} is not {_FORMAT}")
    cls = _CLASSES.get(name)
    if cls is None:
        raise MessageDecodeError(f"unknown cluster message {name!r}")
    try:
        values = [_unpack(v) for v in fields]
        message: ClusterMessage = cls(*values)
    except MessageDecodeError:
        raise
    except (ShoalError, TypeError, ValueError, KeyError, AttributeError) as error:
        # a bad model, bad Raft bytes or the wrong number of fields: one error for all
        raise MessageDecodeError(f"not a {name}: {error}") from None
    return message
