"""The Raft wire codec: every message survives its bytes, and bad bytes fail cleanly.

- round trip: ``decode(encode(m)) == m`` for arbitrary messages of every type, with
  exact types (frozenset, tuple, bool) and equal hashes, and re-encoding is stable;
- determinism: equal messages give equal bytes in processes with different hash seeds
  and differently built frozensets;
- format pinning: the bytes of one message are fixed, so a format change must bump
  FORMAT_VERSION;
- malformed input (not msgpack, wrong version, arity, enum value or type) raises
  WireError naming the problem, and nothing else ever escapes decode_message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from core.errors import ShoalError
from core.raft.codec import (
    FORMAT_VERSION,
    UINT64_MAX,
    WireError,
    decode_message,
    encode_message,
)
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

ROOT = Path(__file__).parents[2]

# Integers: anything raftpb's uint64 holds, with the edges drawn often.
EDGES = (0, 1, 127, 128, 255, 256, 2**16, 2**32 - 1, 2**32, 2**63 - 1, 2**63, UINT64_MAX)
uints = st.integers(min_value=0, max_value=UINT64_MAX) | st.sampled_from(EDGES)
small = st.integers(min_value=0, max_value=1000)
numbers = small | uints
blobs = st.binary(max_size=300) | st.sampled_from([b"", b"\x00", bytes(range(256))])


def builds_every_field(
    cls: type[Any], fields: dict[str, SearchStrategy[Any]]
) -> SearchStrategy[Any]:
    """``st.builds(cls)`` with a strategy for every dataclass field, so a field added to
    core/raft/types.py without one fails here instead of going untested (as a default)."""
    names = [field.name for field in dataclasses.fields(cls)]
    missing, unknown = set(names) - set(fields), set(fields) - set(names)
    if missing or unknown:
        raise AssertionError(f"{cls.__name__}: no strategy for {missing}; unknown {unknown}")
    return st.builds(cls, **fields)


changes = builds_every_field(ConfChange, {"kind": st.sampled_from(ChangeKind), "node_id": numbers})
entries = builds_every_field(
    Entry,
    {
        "term": numbers,
        "index": numbers,
        "kind": st.sampled_from(EntryKind),
        "data": blobs,
        "change": st.none() | changes,
    },
)
id_sets = st.frozensets(numbers, max_size=12)
conf_states = builds_every_field(ConfState, {"voters": id_sets, "removed": id_sets})
snapshots = builds_every_field(
    Snapshot, {"index": numbers, "term": numbers, "conf": conf_states, "data": blobs}
)
messages = builds_every_field(
    Message,
    {
        "type": st.sampled_from(MessageType),
        "to": numbers,
        "source": numbers,
        "term": numbers,
        "log_term": numbers,
        "index": numbers,
        "entries": st.lists(entries, max_size=6).map(tuple),
        "commit": numbers,
        "reject": st.booleans(),
        "reject_hint": numbers,
        "snapshot": st.none() | snapshots,
        "context": blobs,
    },
)


def assert_same_types(decoded: object, original: object, where: str = "message") -> None:
    """Equality is not enough: set == frozenset, list != tuple, 0 == False."""
    assert type(decoded) is type(original), f"{where}: {type(decoded)} is not {type(original)}"
    if dataclasses.is_dataclass(original):
        for field in dataclasses.fields(original):
            assert_same_types(
                getattr(decoded, field.name), getattr(original, field.name), f"{where}.{field.name}"
            )
    elif isinstance(original, tuple | frozenset):
        assert isinstance(decoded, tuple | frozenset)
        for position, (inner, inner_original) in enumerate(
            zip(sorted(decoded), sorted(original), strict=True)
            if isinstance(original, frozenset)
            else zip(decoded, original, strict=True)
        ):
            assert_same_types(inner, inner_original, f"{where}[{position}]")


@given(messages)
def test_round_trip(message: Message) -> None:
    data = encode_message(message)
    assert type(data) is bytes
    decoded = decode_message(data)
    assert decoded == message
    assert hash(decoded) == hash(message)
    assert_same_types(decoded, message)
    assert encode_message(decoded) == data


@pytest.mark.parametrize("message_type", list(MessageType))
def test_every_message_type_round_trips(message_type: MessageType) -> None:
    message = Message(message_type, to=2, source=1, term=3, index=4, context=b"ctx")
    decoded = decode_message(encode_message(message))
    assert decoded.type is message_type
    assert decoded == message


def test_full_message_round_trips() -> None:
    message = Message(
        MessageType.APP,
        to=UINT64_MAX,
        source=2**63 - 1,
        term=2**40,
        log_term=7,
        index=9,
        entries=(
            Entry(7, 10),
            Entry(8, 11, EntryKind.NORMAL, bytes(range(256))),
            Entry(8, 12, EntryKind.CONF_CHANGE, b"", ConfChange(ChangeKind.ADD, 4)),
            Entry(8, 13, EntryKind.CONF_CHANGE, b"x", ConfChange(ChangeKind.REMOVE, 2**63 - 1)),
        ),
        commit=11,
        reject=True,
        reject_hint=5,
        snapshot=Snapshot(8, 7, ConfState(frozenset({3, 1, 2}), frozenset({9})), b"\x00state"),
        context=b"\xff",
    )
    decoded = decode_message(encode_message(message))
    assert decoded == message
    assert_same_types(decoded, message)


# A heartbeat's bytes, pinned: changing the format must change FORMAT_VERSION (and this).
PINNED = Message(
    MessageType.HEARTBEAT,
    to=2,
    source=1,
    term=5,
    commit=3,
    snapshot=Snapshot(1, 1, ConfState(frozenset({300, 2, 1}), frozenset({7}))),
    entries=(Entry(1, 2, EntryKind.CONF_CHANGE, b"d", ConfChange(ChangeKind.ADD, 3)),),
    context=b"r1",
)
PINNED_HEX = (
    "9d01a9686561727462656174020105000091950102ab636f6e662d6368616e6765c4016492a36164640303c2"
    "00950101930102cd012c9107c400c4027231"
)


def test_format_is_pinned() -> None:
    assert FORMAT_VERSION == 1
    assert encode_message(PINNED).hex() == PINNED_HEX
    assert decode_message(bytes.fromhex(PINNED_HEX)) == PINNED


DETERMINISM_SCRIPT = """
import hashlib, json, random, sys
from core.raft.codec import encode_message
from core.raft.types import ConfState, Message, MessageType, Snapshot

# The same sets, built in a different order in each process: colliding ids (multiples
# of a power of two) make a set's iteration order depend on its insertion order.
VOTERS = [k << 20 for k in range(400)] + [2**63 + k for k in range(100)]
REMOVED = [(k << 24) + 1 for k in range(300)] + list(range(2, 50))
shuffle = random.Random(int(sys.argv[1])).shuffle
shuffle(VOTERS)
shuffle(REMOVED)
voters, removed = frozenset(VOTERS), frozenset(REMOVED)
snapshot = Snapshot(5, 2, ConfState(voters, removed), b"state")
message = Message(MessageType.SNAP, to=1, source=2, term=2, snapshot=snapshot)
print(json.dumps({
    "iteration": list(voters)[:20] + list(removed)[:20],
    "sha256": hashlib.sha256(encode_message(message)).hexdigest(),
}))
"""


def test_bytes_do_not_depend_on_the_process() -> None:
    outputs = []
    for seed in (0, 1, 2):
        env = {**os.environ, "PYTHONHASHSEED": str(seed), "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-c", DETERMINISM_SCRIPT, str(seed)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(json.loads(done.stdout))
    # The sets really were iterated in different orders, so sorting is what is tested.
    assert len({tuple(output["iteration"]) for output in outputs}) == 3
    voters = frozenset([k << 20 for k in range(400)] + [2**63 + k for k in range(100)])
    removed = frozenset([(k << 24) + 1 for k in range(300)] + list(range(2, 50)))
    here = Message(
        MessageType.SNAP,
        to=1,
        source=2,
        term=2,
        snapshot=Snapshot(5, 2, ConfState(voters, removed), b"state"),
    )
    expected = hashlib.sha256(encode_message(here)).hexdigest()
    assert [output["sha256"] for output in outputs] == [expected] * 3


# Malformed input. Each case starts from a valid message's field array and breaks one
# thing; ``expected`` must appear in the WireError's message.
VALID_FIELDS: list[Any] = [
    FORMAT_VERSION,
    "app",
    2,
    1,
    5,
    4,
    9,
    [[5, 10, "normal", b"a", None], [5, 11, "conf-change", b"", ["add", 3]]],
    8,
    False,
    0,
    [7, 4, [1, 2, 3], [9], b"s"],
    b"",
]


def fields_with(path: tuple[int, ...], value: Any) -> bytes:
    fields = msgpack.unpackb(msgpack.packb(VALID_FIELDS))  # a deep copy, as lists
    target = fields
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    packed: bytes = msgpack.packb(fields)
    return packed


def fields_resized(size: int) -> bytes:
    packed: bytes = msgpack.packb([*VALID_FIELDS, 0, 0][:size])
    return packed


VALID_BYTES: bytes = msgpack.packb(VALID_FIELDS)
MALFORMED: list[tuple[str, object, str]] = [
    ("empty input", b"", "not one msgpack value"),
    ("reserved byte 0xc1", b"\xc1", "a byte that starts no msgpack value"),
    ("truncated", VALID_BYTES[:-3], "not one msgpack value"),
    ("trailing bytes", VALID_BYTES + b"\x00", "trailing bytes after the first value"),
    ("nested too deeply", b"\x91" * 100_000, "nested too deeply"),
    ("text, not bytes", "hello", "not one msgpack value"),
    ("invalid utf-8 string", b"\x92\x01\xa2\xff\xfe", "not one msgpack value"),
    ("a map", msgpack.packb({"type": "app"}), "a message is a msgpack array, not map"),
    ("an integer", msgpack.packb(5), "a message is a msgpack array, not integer 5"),
    ("empty array", msgpack.packb([]), "an empty array has no format version"),
    ("version 2", fields_with((0,), 2), "unsupported format version integer 2"),
    ("version 0", fields_with((0,), 0), "unsupported format version integer 0"),
    ("version as text", fields_with((0,), "1"), "unsupported format version string '1'"),
    ("version as boolean", fields_with((0,), True), "unsupported format version boolean True"),
    ("12 fields", fields_resized(12), "has 13 fields, not 12"),
    ("14 fields", fields_resized(14), "has 13 fields, not 14"),
    (
        "unknown type",
        fields_with((1,), "append"),
        "type string 'append' is not one of 'app', 'app-resp',",
    ),
    ("type by name", fields_with((1,), "APP"), "type string 'APP' is not one of"),
    ("type as integer", fields_with((1,), 0), "type integer 0 is not one of"),
    ("negative to", fields_with((2,), -1), "to must be an unsigned 64-bit integer, not integer -1"),
    ("source as text", fields_with((3,), "1"), "source must be an unsigned 64-bit integer"),
    ("term as float", fields_with((4,), 5.0), "term must be an unsigned 64-bit integer, not float"),
    ("term as boolean", fields_with((4,), True), "term must be an unsigned 64-bit integer"),
    ("term as nil", fields_with((4,), None), "term must be an unsigned 64-bit integer, not nil"),
    ("log_term as bin", fields_with((5,), b"\x01"), "log_term must be an unsigned 64-bit"),
    ("index as array", fields_with((6,), [1]), "index must be an unsigned 64-bit integer"),
    ("index as timestamp", fields_with((6,), msgpack.Timestamp(1)), "index must be an unsigned"),
    ("most negative", fields_with((6,), -(2**63)), "index must be an unsigned 64-bit integer"),
    ("entries as map", fields_with((7,), {"a": 1}), "entries must be an array, not map"),
    ("entries as nil", fields_with((7,), None), "entries must be an array, not nil"),
    ("commit as text", fields_with((8,), "8"), "commit must be an unsigned 64-bit integer"),
    ("reject as integer", fields_with((9,), 0), "reject must be a boolean, not integer 0"),
    ("reject as nil", fields_with((9,), None), "reject must be a boolean"),
    ("negative reject_hint", fields_with((10,), -5), "reject_hint must be an unsigned 64-bit"),
    ("context as text", fields_with((12,), "ctx"), "context must be bin, not string 'ctx'"),
    ("context as nil", fields_with((12,), None), "context must be bin, not nil"),
    ("entry not an array", fields_with((7, 0), 5), "entries[0] must be a [term, index, kind"),
    ("entry of 4 fields", fields_with((7, 1), [5, 11, "normal", b""]), "entries[1] must be a"),
    ("entry negative term", fields_with((7, 0, 0), -1), "entries[0].term must be an unsigned"),
    ("entry index as text", fields_with((7, 1, 1), "11"), "entries[1].index must be an unsigned"),
    (
        "entry unknown kind",
        fields_with((7, 0, 2), "noop"),
        "entries[0].kind string 'noop' is not one of 'normal', 'conf-change'",
    ),
    (
        "entry kind by name",
        fields_with((7, 0, 2), "NORMAL"),
        "entries[0].kind string 'NORMAL' is not",
    ),
    ("entry data as text", fields_with((7, 0, 3), "a"), "entries[0].data must be bin, not string"),
    ("entry data as nil", fields_with((7, 1, 3), None), "entries[1].data must be bin, not nil"),
    ("change not an array", fields_with((7, 1, 4), "add"), "entries[1].change must be nil or"),
    ("change of 3 fields", fields_with((7, 1, 4), ["add", 3, 4]), "entries[1].change must be"),
    (
        "change unknown kind",
        fields_with((7, 1, 4, 0), "promote"),
        "entries[1].change.kind string 'promote' is not one of 'add', 'remove'",
    ),
    ("change negative id", fields_with((7, 1, 4, 1), -3), "entries[1].change.node_id must be"),
    ("change id as text", fields_with((7, 1, 4, 1), "3"), "entries[1].change.node_id must be"),
    ("snapshot as bin", fields_with((11,), b"s"), "snapshot must be nil or an [index, term"),
    ("snapshot of 4 fields", fields_with((11,), [7, 4, [1], [9]]), "snapshot must be nil or"),
    ("snapshot index as text", fields_with((11, 0), "7"), "snapshot.index must be an unsigned"),
    ("snapshot negative term", fields_with((11, 1), -4), "snapshot.term must be an unsigned"),
    ("voters as map", fields_with((11, 2), {"1": 1}), "snapshot.conf.voters must be an array"),
    ("voters as nil", fields_with((11, 2), None), "snapshot.conf.voters must be an array"),
    ("voters unsorted", fields_with((11, 2), [2, 1, 3]), "voters must be strictly increasing"),
    ("voters repeated", fields_with((11, 2), [1, 1, 3]), "voters must be strictly increasing"),
    ("voter negative", fields_with((11, 2), [-1, 2]), "snapshot.conf.voters[0] must be an"),
    ("voter as text", fields_with((11, 2, 1), "2"), "snapshot.conf.voters[1] must be an"),
    ("removed as integer", fields_with((11, 3), 9), "snapshot.conf.removed must be an array"),
    ("removed unsorted", fields_with((11, 3), [9, 8]), "removed must be strictly increasing"),
    ("snapshot data as text", fields_with((11, 4), "s"), "snapshot.data must be bin, not string"),
]


def test_the_malformed_cases_start_from_a_valid_message() -> None:
    message = decode_message(VALID_BYTES)
    assert message.type is MessageType.APP
    assert message.entries[1].change == ConfChange(ChangeKind.ADD, 3)
    assert message.snapshot is not None
    assert message.snapshot.conf == ConfState(frozenset({1, 2, 3}), frozenset({9}))
    assert encode_message(message) == VALID_BYTES


@pytest.mark.parametrize(
    ("data", "expected"),
    [pytest.param(data, expected, id=name) for name, data, expected in MALFORMED],
)
def test_malformed_input_raises_wire_error(data: bytes, expected: str) -> None:
    with pytest.raises(WireError, match=re.escape(expected)) as raised:
        decode_message(data)
    assert isinstance(raised.value, ShoalError)
    assert str(raised.value).startswith("raft wire: ")
    assert len(str(raised.value)) < 300, "messages quote at most a short excerpt"


def test_long_values_are_quoted_short() -> None:
    with pytest.raises(WireError, match=r"context must be bin, not string 'xxx+\.\.\.$"):
        decode_message(fields_with((12,), "x" * 10_000))


msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=UINT64_MAX)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=8)
    | st.sampled_from([member.value for member in (*MessageType, *EntryKind, *ChangeKind)]),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=20,
)


def decodes_or_refuses(data: bytes) -> None:
    """decode_message either returns a message that re-encodes, or raises WireError."""
    try:
        message = decode_message(data)
    except WireError:
        return
    assert decode_message(encode_message(message)) == message


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_other_errors(data: bytes) -> None:
    decodes_or_refuses(data)


@given(messages, st.data())
def test_corrupted_encodings_never_escape_as_other_errors(message: Message, data: Any) -> None:
    encoded = bytearray(encode_message(message))
    position = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    encoded[position] = data.draw(st.integers(min_value=0, max_value=255))
    decodes_or_refuses(bytes(encoded[: data.draw(st.integers(0, len(encoded)))]))
    decodes_or_refuses(bytes(encoded))


@given(msgpack_values, st.data())
def test_any_field_replaced_by_any_value_never_escapes(value: Any, data: Any) -> None:
    fields = msgpack.unpackb(VALID_BYTES)
    target = fields
    while True:  # descend into a random array of the valid message, then replace a slot
        slot = data.draw(st.integers(min_value=0, max_value=len(target) - 1))
        if isinstance(target[slot], list) and target[slot] and data.draw(st.booleans()):
            target = target[slot]
            continue
        target[slot] = value
        break
    decodes_or_refuses(msgpack.packb(fields))


@given(msgpack_values)
def test_any_msgpack_value_never_escapes(value: Any) -> None:
    decodes_or_refuses(msgpack.packb(value))


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (Message(MessageType.APP, to=1, source=2, term=2**64), "term 18446744073709551616"),
        (
            Message(MessageType.APP, 1, 2, 3, entries=(Entry(1, -(2**64)),)),
            "entries[0].index -18446744073709551616",
        ),
        (
            Message(
                MessageType.SNAP, 1, 2, 3, snapshot=Snapshot(conf=ConfState(frozenset({2**70})))
            ),
            "snapshot.conf.voters[] 1180591620717411303424",
        ),
    ],
)
def test_encode_refuses_integers_msgpack_cannot_carry(message: Message, expected: str) -> None:
    with pytest.raises(WireError, match=re.escape(expected) + " is not an unsigned 64-bit"):
        encode_message(message)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (Message(MessageType.VOTE, to=1, source=2, term=-1), "term must be an unsigned"),
        (
            Message(MessageType.APP, 1, 2, 3, entries=(Entry(1, 2), Entry(-1, 3))),
            "entries[1].term must be an unsigned",
        ),
        (
            Message(
                MessageType.SNAP,
                1,
                2,
                3,
                snapshot=Snapshot(conf=ConfState(removed=frozenset({-2}))),
            ),
            "snapshot.conf.removed[0] must be an unsigned",
        ),
    ],
)
def test_a_negative_integer_encodes_but_never_decodes(message: Message, expected: str) -> None:
    """Negative ints fit msgpack, so only decoding catches them (as the simulator does)."""
    data = encode_message(message)
    with pytest.raises(WireError, match=re.escape(expected)):
        decode_message(data)
