"""Raft's values: entries, messages, hard state, snapshots, and what a node hands out.

Everything here is a frozen value, so the simulator can copy, log, hash and encode it
without sharing state between hosts. Shapes follow etcd-io/raft's ``raftpb``: one
:class:`Message` type with a :class:`MessageType` and the fields each type uses.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from core.errors import ShoalError

NodeId = int
NONE: NodeId = 0  # "no node": no vote cast, no known leader


class EntryKind(enum.Enum):
    NORMAL = "normal"  # application data (an empty one is a new leader's no-op)
    CONF_CHANGE = "conf-change"  # add or remove one voter


class ChangeKind(enum.Enum):
    ADD = "add"
    REMOVE = "remove"


@dataclass(frozen=True, slots=True)
class ConfChange:
    """Add or remove one voter. One at a time: see core/raft/DESIGN notes in node.py."""

    kind: ChangeKind
    node_id: NodeId


class Payload(Protocol):
    """An entry's data held as the application's own value rather than as bytes:
    deeply immutable and comparable by value, written as bytes only where the entry
    crosses a wire or reaches a disk (core/raft/codec.py). Raft never looks inside
    (an empty ``b""`` is a new leader's no-op); in one process (the simulator) every
    member then shares the one value the leader proposed, with nothing to encode or
    parse on the way."""

    def encode(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Entry:
    term: int
    index: int
    kind: EntryKind = EntryKind.NORMAL
    data: bytes | Payload = b""
    change: ConfChange | None = None


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be durable before any message that depends on it is sent."""

    term: int = 0
    vote: NodeId = NONE
    commit: int = 0


@dataclass(frozen=True, slots=True)
class ConfState:
    """The voters, and every id ever removed (never to be reused)."""

    voters: frozenset[NodeId] = frozenset()
    removed: frozenset[NodeId] = frozenset()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The application's state as of ``index`` (whose term is ``term``)."""

    index: int = 0
    term: int = 0
    conf: ConfState = field(default_factory=ConfState)
    data: bytes = b""


class MessageType(enum.Enum):
    APP = "app"
    APP_RESP = "app-resp"
    VOTE = "vote"
    VOTE_RESP = "vote-resp"
    PRE_VOTE = "pre-vote"
    PRE_VOTE_RESP = "pre-vote-resp"
    HEARTBEAT = "heartbeat"
    HEARTBEAT_RESP = "heartbeat-resp"
    SNAP = "snap"
    TIMEOUT_NOW = "timeout-now"
    READ_INDEX = "read-index"
    READ_INDEX_RESP = "read-index-resp"


@dataclass(frozen=True, slots=True)
class Message:
    """One Raft message; each type uses the fields it needs (as etcd's pb.Message).

    - APP: ``index``/``log_term`` of the entry before ``entries``, leader ``commit``.
    - APP_RESP: ``index`` the follower now matches, or ``reject`` with ``reject_hint``
      (its last index) and ``log_term`` (its term there) for fast backtracking.
    - VOTE/PRE_VOTE: the candidate's last ``index`` and ``log_term``; PRE_VOTE carries
      the term the candidate would campaign in.
    - HEARTBEAT: ``commit`` (capped at what the follower is known to have) and
      ``context`` (a read-index request id); HEARTBEAT_RESP echoes ``context``.
    - SNAP: ``snapshot``. READ_INDEX(_RESP): ``context`` and, in the response,
      ``index`` (the read index).
    """

    type: MessageType
    to: NodeId
    source: NodeId
    term: int
    log_term: int = 0
    index: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    snapshot: Snapshot | None = None
    context: bytes = b""


@dataclass(frozen=True, slots=True)
class DurableWrite:
    """Persist these, in order of ``seq``, then confirm with ``persisted(seq)``.

    ``snapshot`` is the newest snapshot; ``compaction`` (index, term) drops stored
    entries up to that index; ``entries`` replace any stored entries from
    ``entries[0].index`` on; ``hard_state`` is the term, vote and commit index.
    """

    seq: int
    hard_state: HardState | None = None
    entries: tuple[Entry, ...] = ()
    snapshot: Snapshot | None = None
    compaction: tuple[int, int] | None = None


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile facts worth observing: who leads, and this node's role and term."""

    leader: NodeId
    role: Role
    term: int


@dataclass(frozen=True, slots=True)
class ReadState:
    """A linearizable read may be served once ``index`` has been applied."""

    index: int
    context: bytes


@dataclass(frozen=True, slots=True)
class ProposalFailure:
    """A proposal that will not be acknowledged by this node (see NotLeader)."""

    index: int
    term: int
    error: NotLeader


@dataclass(frozen=True, slots=True)
class Ready:
    """Everything a node wants done, in the order it must be done:

    1. persist ``writes`` (then call ``persisted`` with the last seq, at any later
       time: confirmations may be grouped);
    2. send ``messages`` (they depend only on writes already confirmed);
    3. restore the application from ``snapshot_to_apply`` if set, then apply
       ``committed`` entries in order (all are durable here);
    4. serve ``read_states`` once their index is applied; fail ``failed_proposals``.
    """

    writes: tuple[DurableWrite, ...] = ()
    messages: tuple[Message, ...] = ()
    snapshot_to_apply: Snapshot | None = None
    committed: tuple[Entry, ...] = ()
    read_states: tuple[ReadState, ...] = ()
    failed_proposals: tuple[ProposalFailure, ...] = ()
    soft_state: SoftState | None = None

    def is_empty(self) -> bool:
        return not (
            self.writes
            or self.messages
            or self.snapshot_to_apply
            or self.committed
            or self.read_states
            or self.failed_proposals
        )


class RaftError(ShoalError):
    """Base of Raft's expected errors."""


class NotLeader(RaftError):
    """This node cannot take the request; ``leader`` is the one it knows (0: none)."""

    def __init__(self, leader: NodeId, reason: str = "not the leader") -> None:
        self.leader = leader
        self.reason = reason
        known = f"the leader is {leader:x}" if leader != NONE else "no leader is known"
        super().__init__(f"raft: {reason}; {known}")


class ProposalDropped(RaftError):
    """The leader refused the proposal for now (a leadership transfer is under way)."""


class MembershipRefused(RaftError):
    """A configuration change that would be unsafe or is not allowed."""
