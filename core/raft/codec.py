"""Raft messages as bytes: one wire format for simulation and real mode.

The simulator never relies on hosts sharing Python objects: it can pass every message
through these bytes, so whatever works in simulation also encodes, and real mode sends
exactly the same bytes over TCP.

Format 1 is a msgpack array, positional, in the order of the dataclass fields::

    message  = [1, type, to, source, term, log_term, index, [entry...], commit, reject,
                reject_hint, snapshot, context]
    entry    = [term, index, kind, data, change]      change = nil | [kind, node_id]
    snapshot = nil | [index, term, voters, removed, data]

An entry whose data is held as a value (:class:`~core.raft.types.Payload`) is written
with the payload's own ``encode()``; decoding gives bytes back, which the application
reads (core/messages.py does, for the managers' store transactions).

Enums travel as their ``value`` strings, bytes as msgpack bin, frozensets as strictly
increasing arrays (so the bytes never depend on the hash seed), and integers as unsigned
64-bit ones, as in etcd's ``raftpb`` (to a Python list a negative index would silently
mean "from the end"). The encoder trusts the types; the decoder trusts nothing and raises
:class:`WireError`, naming the field, for bytes it cannot turn back into a message. So a
core bug such as a negative term surfaces in simulation, which decodes every message.
"""

from __future__ import annotations

from typing import TypeVar

import msgpack

from core.errors import ShoalError
from core.raft.types import (
    ChangeKind,
    ConfChange,
    ConfState,
    Entry,
    EntryKind,
    Message,
    MessageType,
    Snapshot,
)

FORMAT_VERSION = 1
MESSAGE_ARITY = 13
ENTRY_ARITY = 5
CHANGE_ARITY = 2
SNAPSHOT_ARITY = 5
UINT64_MAX = 2**64 - 1

_INT_FIELDS = ("to", "source", "term", "log_term", "index", "commit", "reject_hint")

# Enum members by wire value. Encoding reads ``member._value_`` and decoding looks a str
# up here: Enum.value, Enum calls and Enum-keyed dicts all run Python code per field.
_MESSAGE_TYPES: dict[str, MessageType] = {member.value: member for member in MessageType}
_ENTRY_KINDS: dict[str, EntryKind] = {member.value: member for member in EntryKind}
_CHANGE_KINDS: dict[str, ChangeKind] = {member.value: member for member in ChangeKind}

_T = TypeVar("_T")


class WireError(ShoalError):
    """Bytes that are not a Raft message in a format this build reads, or a message
    that cannot be written in it."""


def encode_message(message: Message) -> bytes:
    """The wire bytes of ``message``: the same for equal messages in every process."""
    snapshot = message.snapshot
    fields = (
        FORMAT_VERSION,
        message.type._value_,
        message.to,
        message.source,
        message.term,
        message.log_term,
        message.index,
        [
            (
                entry.term,
                entry.index,
                entry.kind._value_,
                entry_bytes(entry),
                None if entry.change is None else (entry.change.kind._value_, entry.change.node_id),
            )
            for entry in message.entries
        ],
        message.commit,
        message.reject,
        message.reject_hint,
        None
        if snapshot is None
        else (
            snapshot.index,
            snapshot.term,
            sorted(snapshot.conf.voters),
            sorted(snapshot.conf.removed),
            snapshot.data,
        ),
        message.context,
    )
    try:
        data: bytes = msgpack.packb(fields)
    except (TypeError, ValueError, OverflowError) as error:
        problem = _out_of_range(message) or str(error)
        raise WireError(f"raft wire: cannot encode {message.type.name}: {problem}") from error
    return data


def entry_bytes(entry: Entry) -> bytes:
    """An entry's data as bytes: its own, or its payload's encoding."""
    data = entry.data
    if isinstance(data, bytes):
        return data
    try:
        return data.encode()
    except (ShoalError, TypeError, ValueError, OverflowError) as error:
        raise WireError(f"raft wire: cannot encode entry {entry.index}: {error}") from error


def decode_message(data: bytes) -> Message:
    """The message whose wire bytes are ``data``; :class:`WireError` if there is none."""
    try:
        fields: object = msgpack.unpackb(data, use_list=False)
    except (ValueError, TypeError, msgpack.UnpackException) as error:
        raise WireError(f"raft wire: not one msgpack value: {_unpack_problem(error)}") from error
    if type(fields) is not tuple:
        raise WireError(f"raft wire: a message is a msgpack array, not {_show(fields)}")
    if not fields:
        raise WireError("raft wire: an empty array has no format version")
    version = fields[0]
    if type(version) is not int or version != FORMAT_VERSION:
        raise WireError(
            f"raft wire: unsupported format version {_show(version)}"
            f" (this build reads version {FORMAT_VERSION})"
        )
    if len(fields) != MESSAGE_ARITY:
        raise WireError(
            f"raft wire: a format {FORMAT_VERSION} message has {MESSAGE_ARITY} fields,"
            f" not {len(fields)}"
        )
    (
        _,
        type_value,
        to,
        source,
        term,
        log_term,
        index,
        raw_entries,
        commit,
        reject,
        reject_hint,
        raw_snapshot,
        context,
    ) = fields
    message_type = _MESSAGE_TYPES.get(type_value) if type(type_value) is str else None
    if not (
        message_type is not None
        and type(to) is int
        and type(source) is int
        and type(term) is int
        and type(log_term) is int
        and type(index) is int
        and type(commit) is int
        and type(reject_hint) is int
        and min(to, source, term, log_term, index, commit, reject_hint) >= 0
        and type(reject) is bool
        and type(raw_entries) is tuple
        and type(context) is bytes
    ):
        raise _message_error(fields)
    return Message(
        message_type,
        to,
        source,
        term,
        log_term,
        index,
        _decode_entries(raw_entries) if raw_entries else (),
        commit,
        reject,
        reject_hint,
        None if raw_snapshot is None else _decode_snapshot(raw_snapshot),
        context,
    )


def _decode_entries(raw_entries: tuple[object, ...]) -> tuple[Entry, ...]:
    entries: list[Entry] = []
    append = entries.append
    kinds = _ENTRY_KINDS
    for position, raw in enumerate(raw_entries):
        if type(raw) is tuple and len(raw) == ENTRY_ARITY:
            term, index, kind_value, data, raw_change = raw
            kind = kinds.get(kind_value) if type(kind_value) is str else None
            if (
                kind is not None
                and type(term) is int
                and type(index) is int
                and term >= 0
                and index >= 0
                and type(data) is bytes
            ):
                change = None if raw_change is None else _decode_change(raw_change, position)
                append(Entry(term, index, kind, data, change))
                continue
        raise _entry_error(raw, position)
    return tuple(entries)


def _decode_change(raw: object, position: int) -> ConfChange:
    where = f"entries[{position}].change"
    if type(raw) is not tuple or len(raw) != CHANGE_ARITY:
        raise WireError(
            f"raft wire: {where} must be nil or a [kind, node_id] array, not {_show(raw)}"
        )
    kind_value, node_id = raw
    return ConfChange(
        _enum(_CHANGE_KINDS, kind_value, f"{where}.kind"), _uint(node_id, f"{where}.node_id")
    )


def _decode_snapshot(raw: object) -> Snapshot:
    if type(raw) is not tuple or len(raw) != SNAPSHOT_ARITY:
        raise WireError(
            "raft wire: snapshot must be nil or an [index, term, voters, removed, data] array,"
            f" not {_show(raw)}"
        )
    index, term, voters, removed, data = raw
    if type(data) is not bytes:
        raise WireError(f"raft wire: snapshot.data must be bin, not {_show(data)}")
    return Snapshot(
        _uint(index, "snapshot.index"),
        _uint(term, "snapshot.term"),
        ConfState(
            _id_set(voters, "snapshot.conf.voters"), _id_set(removed, "snapshot.conf.removed")
        ),
        data,
    )


def _id_set(raw: object, where: str) -> frozenset[int]:
    """A frozenset from its canonical form: a strictly increasing array of node ids."""
    if type(raw) is not tuple:
        raise WireError(f"raft wire: {where} must be an array of node ids, not {_show(raw)}")
    ids: list[int] = []
    previous = -1
    for position, value in enumerate(raw):
        node_id = _uint(value, f"{where}[{position}]")
        if node_id <= previous:
            raise WireError(
                f"raft wire: {where} must be strictly increasing (a sorted set),"
                f" but {node_id} follows {previous}"
            )
        ids.append(node_id)
        previous = node_id
    return frozenset(ids)


def _uint(value: object, where: str) -> int:
    if type(value) is not int or not 0 <= value <= UINT64_MAX:
        raise WireError(
            f"raft wire: {where} must be an unsigned 64-bit integer, not {_show(value)}"
        )
    return value


def _enum(members: dict[str, _T], value: object, where: str) -> _T:
    member = members.get(value) if type(value) is str else None
    if member is None:
        known = ", ".join(repr(name) for name in members)
        raise WireError(f"raft wire: {where} {_show(value)} is not one of {known}")
    return member


def _message_error(fields: tuple[object, ...]) -> WireError:
    """The error naming the first bad top-level field (slow path: decoding failed)."""
    try:
        _enum(_MESSAGE_TYPES, fields[1], "type")
        for name, value in zip(_INT_FIELDS[:5], fields[2:7], strict=True):
            _uint(value, name)
        if type(fields[7]) is not tuple:
            raise WireError(f"raft wire: entries must be an array, not {_show(fields[7])}")
        _uint(fields[8], "commit")
        if type(fields[9]) is not bool:
            raise WireError(f"raft wire: reject must be a boolean, not {_show(fields[9])}")
        _uint(fields[10], "reject_hint")
        return WireError(f"raft wire: context must be bin, not {_show(fields[12])}")
    except WireError as error:
        return error


def _entry_error(raw: object, position: int) -> WireError:
    """The error naming what is wrong with entry ``position`` (slow path)."""
    where = f"entries[{position}]"
    if type(raw) is not tuple or len(raw) != ENTRY_ARITY:
        return WireError(
            f"raft wire: {where} must be a [term, index, kind, data, change] array,"
            f" not {_show(raw)}"
        )
    term, index, kind_value, data, _ = raw
    try:
        _uint(term, f"{where}.term")
        _uint(index, f"{where}.index")
        _enum(_ENTRY_KINDS, kind_value, f"{where}.kind")
    except WireError as error:
        return error
    return WireError(f"raft wire: {where}.data must be bin, not {_show(data)}")


def _out_of_range(message: Message) -> str | None:
    """Name an integer of ``message`` that the wire cannot carry (slow path of encode)."""
    named: list[tuple[str, int]] = [(name, getattr(message, name)) for name in _INT_FIELDS]
    for position, entry in enumerate(message.entries):
        named += [(f"entries[{position}].term", entry.term)]
        named += [(f"entries[{position}].index", entry.index)]
        if entry.change is not None:
            named += [(f"entries[{position}].change.node_id", entry.change.node_id)]
    snapshot = message.snapshot
    if snapshot is not None:
        named += [("snapshot.index", snapshot.index), ("snapshot.term", snapshot.term)]
        named += [("snapshot.conf.voters[]", node) for node in sorted(snapshot.conf.voters)]
        named += [("snapshot.conf.removed[]", node) for node in sorted(snapshot.conf.removed)]
    for name, value in named:
        if isinstance(value, int) and not 0 <= value <= UINT64_MAX:
            return f"{name} {value} is not an unsigned 64-bit integer"
    return None


def _unpack_problem(error: Exception) -> str:
    if isinstance(error, msgpack.ExtraData):
        return "trailing bytes after the first value"
    if isinstance(error, msgpack.StackError):
        return "arrays or maps nested too deeply"
    if isinstance(error, msgpack.FormatError):
        return "a byte that starts no msgpack value"
    return f"{type(error).__name__}: {error}"


def _show(value: object) -> str:
    """A short description of a decoded value for an error message."""
    kinds: dict[type, str] = {
        tuple: "array",
        dict: "map",
        str: "string",
        bytes: "bin",
        bool: "boolean",
        int: "integer",
        float: "float",
        type(None): "nil",
    }
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{kinds.get(type(value), type(value).__name__)} {text}"
