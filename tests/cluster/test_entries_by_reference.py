"""The managers' Raft entries hold their store transaction as a value: the leader
proposes the transaction itself, the simulated swarm's followers hold that same
value, and only a wire or a disk writes it as bytes (core/raft/codec.py), which
the cluster codec reads back into an equal transaction (core/messages.py)."""

from __future__ import annotations

import dataclasses
import functools

import msgpack
import pytest

from core.manager.manager import _transaction
from core.messages import MessageDecodeError, RaftEnvelope, decode, encode
from core.raft.codec import WireError, decode_message, encode_message
from core.raft.types import DurableWrite, Entry, EntryKind, HardState, Message, MessageType
from core.store.actions import Transaction
from real.wal.records import decode_record, encode_record
from sim.cluster import ClusterConfig, ClusterWorld, standard_hosts
from sim.raft_checks import RaftChecker, SafetyViolation
from tests.cluster.support import replicated


def formed(*, wire: bool = False) -> ClusterWorld:
    world = ClusterWorld(ClusterConfig(hosts=standard_hosts(3, 2), wire=wire), 5)
    world.form_swarm()
    assert world.call("manager-1", "ServiceCreate", spec=replicated("web", 4)).ok
    world.run_for(10)
    return world


def logs(world: ClusterWorld) -> dict[str, dict[int, Entry]]:
    """Each manager's log, by index, from the first entry it still holds."""
    out = {}
    for name in sorted(world.hosts):
        node = world.hosts[name].node
        if node is not None and node.manager is not None:
            log = node.manager.raft.log
            out[name] = {i: log.entry(i) for i in range(log.first_index(), log.last_index() + 1)}
    return out


def transactions(log: dict[int, Entry]) -> dict[int, object]:
    return {
        i: e.data
        for i, e in log.items()
        if e.kind is EntryKind.NORMAL and isinstance(e.data, Transaction)
    }


def test_the_followers_hold_the_very_transaction_the_leader_proposed() -> None:
    by_manager = logs(formed())
    assert len(by_manager) == 3
    first, *others = (transactions(log) for log in by_manager.values())
    assert len(first) > 5  # the service, its tasks, their statuses
    for other in others:
        shared = sorted(set(first) & set(other))
        assert len(shared) > 5
        assert all(other[i] is first[i] for i in shared)


def test_as_bytes_every_message_the_followers_hold_equal_transactions() -> None:
    """--strict-codec: every entry crossed as bytes and was read back, so the
    followers hold transactions equal to, not the same as, the leader's."""
    by_manager = logs(formed(wire=True))
    held = [transactions(log) for log in by_manager.values()]
    shared = sorted(set(held[0]) & set(held[1]) & set(held[2]))
    assert len(shared) > 5
    for i in shared:
        assert held[0][i] == held[1][i] == held[2][i]
    assert any(held[0][i] is not held[1][i] or held[1][i] is not held[2][i] for i in shared)


@functools.cache
def a_transaction() -> Transaction:
    world = formed()
    log = next(iter(logs(world).values()))
    return next(iter(transactions(log).values()))  # type: ignore[return-value]


def test_an_entry_crosses_the_wire_as_bytes_and_comes_back_an_equal_transaction() -> None:
    tx = a_transaction()
    entry = Entry(term=2, index=9, data=tx)
    message = Message(MessageType.APP, to=2, source=1, term=2, entries=(entry, Entry(2, 10)))
    raw = decode_message(encode_message(message))
    assert raw.entries[0].data == tx.encode()  # Raft's codec writes the payload's bytes
    assert raw.entries[1].data == b""  # a no-op stays empty
    back = decode(encode(RaftEnvelope(message)))
    assert back == RaftEnvelope(message)
    assert isinstance(back, RaftEnvelope) and isinstance(back.message.entries[0].data, Transaction)


def test_entry_bytes_that_are_no_transaction_make_the_message_unreadable() -> None:
    bad = Entry(term=2, index=9, data=msgpack.packb([1, 5, [["create", "nope", {}]]]))
    message = Message(MessageType.APP, to=2, source=1, term=2, entries=(bad,))
    with pytest.raises(MessageDecodeError, match="raft entry: invalid store transaction"):
        decode(encode(RaftEnvelope(message)))


def test_an_entry_read_back_from_a_wal_is_applied_as_its_transaction() -> None:
    tx = a_transaction()
    write = DurableWrite(seq=3, hard_state=HardState(term=2), entries=(Entry(2, 9, data=tx),))
    kind, payload = encode_record(write)
    back = decode_record(kind, payload)
    assert isinstance(back, DurableWrite) and back.entries[0].data == tx.encode()
    assert _transaction(back.entries[0]) == tx  # the WAL's bytes, read back
    assert _transaction(Entry(2, 9, data=tx)) is tx  # the value itself, as proposed


class Unwritable:
    def encode(self) -> bytes:
        return msgpack.packb(object())  # type: ignore[no-any-return]


def test_a_payload_that_cannot_be_written_is_a_wire_error() -> None:
    message = Message(
        MessageType.APP, to=2, source=1, term=2, entries=(Entry(2, 9, data=Unwritable()),)
    )
    with pytest.raises(WireError, match="cannot encode entry 9"):
        encode_message(message)


def test_a_safety_violation_between_transactions_is_told_as_one() -> None:
    tx = a_transaction()
    other = dataclasses.replace(tx, wall_ns=tx.wall_ns + 1)
    checker = RaftChecker()
    checker.on_apply(1, Entry(2, 9, data=tx))
    with pytest.raises(SafetyViolation, match="applied \\(term 2, normal, b"):
        checker.on_apply(2, Entry(2, 9, data=other))


def test_a_transaction_is_written_once_and_keeps_the_bytes_it_was_read_from() -> None:
    tx = a_transaction()
    fresh = dataclasses.replace(tx)  # no bytes carried over: a copy is a new value
    assert fresh.encoded == b"" and fresh == tx
    first = fresh.encode()
    assert fresh.encode() is first  # a real leader's WAL and each follower: one encoding
    read = Transaction.decode(bytes(bytearray(first)))  # equal bytes, another object
    assert read == tx and read.encode() == first
    changed = dataclasses.replace(fresh, wall_ns=fresh.wall_ns + 1)
    assert changed.encode() != first
