"""What the WAL stores, as bytes: Raft's durable writes, the node's identity, the
agent's assignments, and checkpoints of all three.

Raft's objects (entries, snapshots) go through core/raft/codec.py, carried in an
otherwise empty message, so the log and the wire share one encoding; the rest is a
small msgpack array per record. Decoding trusts nothing and raises
:class:`RecordError`; the log adds the file and offset.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

import msgpack

from core.agent.agent import AgentWrite
from core.ca.credentials import NodeCredentials
from core.ca.errors import CAError
from core.errors import ShoalError
from core.model import Task
from core.node import NodeDisk, NodeIdentity
from core.raft.codec import WireError, decode_message, encode_message
from core.raft.storage import PersistentState
from core.raft.types import DurableWrite, Entry, HardState, Message, MessageType, Snapshot

MAGIC = b"shoal-wal"
FORMAT_VERSION = 3  # 2: the identity carries the credentials; 3: payloads are sealed


class Kind(enum.IntEnum):
    """The record kind byte of a frame."""

    HEADER = 1  # first frame of a segment: magic, version, segment number
    RAFT = 2  # a DurableWrite
    RAFT_RESET = 3  # Raft's state starts anew from a PersistentState
    IDENTITY = 4  # the node's identity (or none: it left the swarm)
    AGENT = 5  # keep or forget one assigned task
    CHECKPOINT = 6  # the whole durable state (the only frame of a checkpoint file)


@dataclass(frozen=True, slots=True)
class RaftReset:
    """Raft's durable state starts anew from ``state`` (swarm init, a new cluster)."""

    state: PersistentState


@dataclass(frozen=True, slots=True)
class IdentityChange:
    identity: NodeIdentity | None


Record = DurableWrite | RaftReset | IdentityChange | AgentWrite


class RecordError(ShoalError):
    """A frame whose checksum is right but whose payload this build cannot read."""


def encode_record(record: Record) -> tuple[Kind, bytes]:
    if isinstance(record, DurableWrite):
        return Kind.RAFT, _pack(
            [
                record.seq,
                _hard_state(record.hard_state),
                None if record.compaction is None else list(record.compaction),
                _raft_objects(record.entries, record.snapshot),
            ]
        )
    if isinstance(record, RaftReset):
        return Kind.RAFT_RESET, _pack(_state(record.state))
    if isinstance(record, IdentityChange):
        return Kind.IDENTITY, _pack(_identity(record.identity))
    return Kind.AGENT, _pack([record.task_id, None if record.task is None else _task(record.task)])


def decode_record(kind: int, payload: bytes) -> Record:
    fields = _unpack(payload)
    if kind == Kind.RAFT:
        seq, hard, compaction, raft = _array(fields, 4, "raft write")
        entries, snapshot = _read_raft_objects(raft)
        return DurableWrite(
            _uint(seq, "seq"),
            None if hard is None else _read_hard_state(hard),
            entries,
            snapshot,
            None if compaction is None else _pair(compaction, "compaction"),
        )
    if kind == Kind.RAFT_RESET:
        return RaftReset(_read_state(fields))
    if kind == Kind.IDENTITY:
        return IdentityChange(_read_identity(fields))
    if kind == Kind.AGENT:
        task_id, task = _array(fields, 2, "agent write")
        return AgentWrite(_str(task_id, "task id"), None if task is None else _read_task(task))
    raise RecordError(f"unknown record kind {kind}")


def apply_record(disk: NodeDisk, record: Record) -> None:
    """Make ``record`` part of ``disk`` (what a restarted node is given back)."""
    if isinstance(record, DurableWrite):
        disk.raft.apply(record)
    elif isinstance(record, RaftReset):
        disk.raft = record.state.copy()
    elif isinstance(record, IdentityChange):
        disk.identity = record.identity
    elif record.task is None:
        disk.tasks.pop(record.task_id, None)
    else:
        disk.tasks[record.task_id] = record.task


def copy_disk(disk: NodeDisk) -> NodeDisk:
    return NodeDisk(disk.identity, disk.raft.copy(), dict(disk.tasks))


def encode_header(segment: int) -> bytes:
    return _pack([MAGIC, FORMAT_VERSION, segment])


def decode_header(payload: bytes) -> int:
    magic, version, segment = _array(_unpack(payload), 3, "segment header")
    if magic != MAGIC:
        raise RecordError(f"not a shoal WAL segment (magic {magic!r})")
    if version != FORMAT_VERSION:
        raise RecordError(
            f"unsupported WAL format version {version!r} (this build reads {FORMAT_VERSION})"
        )
    return _uint(segment, "segment number")


def encode_checkpoint(next_segment: int, disk: NodeDisk) -> bytes:
    tasks = [[task_id, _task(disk.tasks[task_id])] for task_id in sorted(disk.tasks)]
    return _pack([FORMAT_VERSION, next_segment, _state(disk.raft), _identity(disk.identity), tasks])


def decode_checkpoint(payload: bytes) -> tuple[int, NodeDisk]:
    """The first segment to replay after this checkpoint, and the state it holds."""
    version, next_segment, state, identity, tasks = _array(_unpack(payload), 5, "checkpoint")
    if version != FORMAT_VERSION:
        raise RecordError(f"unsupported checkpoint format version {version!r}")
    disk = NodeDisk(_read_identity(identity), _read_state(state))
    if type(tasks) is not tuple:
        raise RecordError("checkpoint tasks must be an array")
    for item in tasks:
        task_id, task = _array(item, 2, "checkpoint task")
        disk.tasks[_str(task_id, "task id")] = _read_task(task)
    return _uint(next_segment, "next segment"), disk


# --- encoding helpers -------------------------------------------------------------


def _pack(value: object) -> bytes:
    data: bytes = msgpack.packb(value)
    return data


def _raft_objects(entries: tuple[Entry, ...], snapshot: Snapshot | None) -> bytes | None:
    """Entries and snapshot in the wire codec's format, inside an empty message."""
    if not entries and snapshot is None:
        return None
    return encode_message(Message(MessageType.APP, 0, 0, 0, entries=entries, snapshot=snapshot))


def _hard_state(hard: HardState | None) -> list[int] | None:
    return None if hard is None else [hard.term, hard.vote, hard.commit]


def _state(state: PersistentState) -> list[object]:
    return [
        _hard_state(state.hard_state),
        state.offset,
        state.offset_term,
        _raft_objects(tuple(state.entries), state.snapshot),
    ]


def _identity(identity: NodeIdentity | None) -> list[object] | None:
    if identity is None:
        return None
    managers = [[raft_id, host] for raft_id, host in identity.managers]
    credentials = identity.credentials
    pem = (
        None
        if credentials is None
        else [credentials.key_pem, credentials.cert_pem, credentials.root_pem]
    )
    return [identity.node_id, identity.manager, identity.raft_id, managers, pem]


def _task(task: Task) -> bytes:
    return json.dumps(task.to_json(), separators=(",", ":"), sort_keys=True).encode()


# --- decoding helpers -------------------------------------------------------------


def _unpack(payload: bytes) -> Any:
    try:
        return msgpack.unpackb(payload, use_list=False)
    except (ValueError, TypeError, msgpack.UnpackException) as error:
        raise RecordError(f"payload is not one msgpack value: {error}") from error


def _array(value: object, arity: int, what: str) -> tuple[Any, ...]:
    if type(value) is not tuple or len(value) != arity:
        raise RecordError(f"a {what} is an array of {arity}, not {value!r:.60}")
    return value


def _uint(value: object, what: str) -> int:
    if type(value) is not int or value < 0:
        raise RecordError(f"{what} must be an unsigned integer, not {value!r:.40}")
    return value


def _str(value: object, what: str) -> str:
    if type(value) is not str:
        raise RecordError(f"{what} must be a string, not {value!r:.40}")
    return value


def _pair(value: object, what: str) -> tuple[int, int]:
    first, second = _array(value, 2, what)
    return _uint(first, f"{what}[0]"), _uint(second, f"{what}[1]")


def _read_hard_state(value: object) -> HardState:
    term, vote, commit = _array(value, 3, "hard state")
    return HardState(_uint(term, "term"), _uint(vote, "vote"), _uint(commit, "commit"))


def _read_raft_objects(value: object) -> tuple[tuple[Entry, ...], Snapshot | None]:
    if value is None:
        return (), None
    if type(value) is not bytes:
        raise RecordError(f"raft objects must be bin, not {value!r:.40}")
    try:
        message = decode_message(value)
    except WireError as error:
        raise RecordError(str(error)) from error
    return message.entries, message.snapshot


def _read_state(value: object) -> PersistentState:
    hard, offset, offset_term, raft = _array(value, 4, "raft state")
    entries, snapshot = _read_raft_objects(raft)
    return PersistentState(
        HardState() if hard is None else _read_hard_state(hard),
        Snapshot() if snapshot is None else snapshot,
        _uint(offset, "offset"),
        _uint(offset_term, "offset term"),
        list(entries),
    )


def _read_identity(value: object) -> NodeIdentity | None:
    if value is None:
        return None
    node_id, manager, raft_id, managers, pem = _array(value, 5, "identity")
    if type(manager) is not bool or type(managers) is not tuple:
        raise RecordError(f"malformed identity {value!r:.60}")
    known = tuple(
        (_uint(pair[0], "manager raft id"), _str(pair[1], "manager host"))
        for pair in (_array(item, 2, "manager") for item in managers)
    )
    return NodeIdentity(
        _str(node_id, "node id"),
        manager,
        _uint(raft_id, "raft id"),
        known,
        None if pem is None else _read_credentials(pem),
    )


def _read_credentials(value: object) -> NodeCredentials:
    """Key, certificate and root (PEM); the certificate must parse."""
    key, cert, root = (_bin(item, "credentials") for item in _array(value, 3, "credentials"))
    try:
        return NodeCredentials(key, cert, root)
    except (CAError, ValueError) as error:
        raise RecordError(f"unreadable credentials: {error}") from error


def _bin(value: object, what: str) -> bytes:
    if type(value) is not bytes:
        raise RecordError(f"{what} must be bin, not {value!r:.40}")
    return value


def _read_task(value: object) -> Task:
    if type(value) is not bytes:
        raise RecordError(f"a task must be JSON bytes, not {value!r:.40}")
    try:
        return Task.from_json(json.loads(value))
    except (ValueError, TypeError, AttributeError, KeyError, ShoalError) as error:
        raise RecordError(f"unreadable task: {error}") from error
