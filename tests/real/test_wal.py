"""The WAL: what it reports durable survives a power cut, and it recovers exactly that.

Durability is proven on :class:`PowerLossFiles`, which drops every un-fsynced byte and
every directory change not followed by a directory fsync (kill -9 would keep the page
cache and prove nothing). The reference for "what should come back" is ``apply_record``
(``PersistentState.apply`` for Raft writes, and the node's identity and tasks) fed
exactly the records that ``sync`` reported durable.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.agent.agent import AgentWrite
from core.ca.credentials import NodeCredentials
from core.model import Task
from core.node import NodeDisk, NodeIdentity
from core.raft.storage import PersistentState
from core.raft.types import (
    ConfState,
    DurableWrite,
    Entry,
    EntryKind,
    HardState,
    Snapshot,
)
from real.files import OsFiles, PowerLossFiles, PowerLost
from real.wal import DataKeys, IdentityChange, RaftReset, Record, Wal, WalCorrupt, WalError
from real.wal.frames import HEADER_SIZE, encode_frame, scan
from real.wal.log import checkpoint_name, segment_name
from real.wal.records import (
    Kind,
    RecordError,
    apply_record,
    decode_record,
    encode_record,
)
from tests.ca.support import make_root, node_cert

DIR = "/data/wal"
KEYS = DataKeys.fresh()  # one node's data keys for every log of this module
SEGMENT = os.path.join(DIR, segment_name(0))


def expected(records: Sequence[Record]) -> NodeDisk:
    """The disk a node fed ``records`` in order holds."""
    disk = NodeDisk()
    for record in records:
        apply_record(disk, record)
    return disk


def entries(first: int, count: int, term: int) -> tuple[Entry, ...]:
    return tuple(Entry(term, first + i, data=f"e{first + i}".encode()) for i in range(count))


def fresh(files: PowerLossFiles | None = None, **options: int) -> tuple[PowerLossFiles, Wal]:
    files = files or PowerLossFiles()
    return files, Wal.open(files, DIR, KEYS, **options)


def commit(wal: Wal, records: Sequence[Record]) -> int | None:
    for record in records:
        wal.append(record)
    return wal.sync()


IDENTITY = NodeIdentity("node1abc", True, 7, ((7, "h1"), (9, "h2")))
TASK = Task(id="task1", name="web.1", service_id="svc", slot=1)
SNAPSHOT = Snapshot(4, 2, ConfState(frozenset({7, 9}), frozenset({3})), b"app state")

STORY: list[Record] = [
    IdentityChange(IDENTITY),
    DurableWrite(1, HardState(1, 7, 0), entries(1, 3, 1)),
    AgentWrite("task1", TASK),
    DurableWrite(2, HardState(2, 9, 2), entries(3, 3, 2)),  # replaces entry 3
    DurableWrite(3, None, (), SNAPSHOT, (4, 2)),  # snapshot, compaction
    AgentWrite("task2", Task(id="task2")),
    AgentWrite("task1", None),
    DurableWrite(4, HardState(2, 9, 5), (*entries(6, 2, 2), Entry(2, 8, EntryKind.CONF_CHANGE))),
]


def test_round_trip_equals_persistent_state_apply() -> None:
    files, wal = fresh()
    assert commit(wal, STORY) == 4
    assert wal.durable() == expected(STORY)
    assert Wal.open(files, DIR, KEYS).recovered() == expected(STORY)
    files.power_loss()
    assert Wal.open(files, DIR, KEYS).recovered() == expected(STORY)


def test_reset_replaces_raft_state_and_identity_can_be_forgotten() -> None:
    base = PersistentState(HardState(5, 1, 3), SNAPSHOT, 4, 2, list(entries(5, 2, 5)))
    story = [*STORY, RaftReset(base), DurableWrite(1, None, entries(7, 1, 6)), IdentityChange(None)]
    files, wal = fresh()
    commit(wal, story)
    files.power_loss()
    recovered = Wal.open(files, DIR, KEYS).recovered()
    assert recovered == expected(story)
    assert recovered.identity is None and recovered.raft.last_index() == 7


def test_a_joined_nodes_credentials_survive_a_restart() -> None:
    """A node that joined has no other copy of its key: the WAL keeps key, certificate
    and root, and a restart (even after a power cut) gets them back."""
    root = make_root()
    cert, key = node_cert(root)
    credentials = NodeCredentials(key, cert, root.cert_pem)
    joined = NodeIdentity("node2xyz", False, 0, ((1, "10.0.0.1:2377"),), credentials)
    files, wal = fresh()
    commit(wal, [IdentityChange(joined)])
    files.power_loss()
    identity = Wal.open(files, DIR, KEYS).recovered().identity
    assert identity is not None and identity.credentials is not None
    assert identity.credentials.key_pem == key
    assert identity.credentials.cert_pem == cert
    assert identity.credentials.root_pem == root.cert_pem
    assert identity == joined


def test_unreadable_credentials_are_a_record_error() -> None:
    root = make_root()
    cert, key = node_cert(root)
    identity = NodeIdentity("n", False, 0, (), NodeCredentials(key, cert, root.cert_pem))
    kind, payload = encode_record(IdentityChange(identity))
    garbled = payload.replace(b"MII", b"MI!", 1)
    assert garbled != payload
    with pytest.raises(RecordError, match="unreadable credentials"):
        decode_record(kind, garbled)


def test_power_loss_after_sync_keeps_everything_synced() -> None:
    files, wal = fresh()
    for start in range(0, len(STORY), 3):
        commit(wal, STORY[start : start + 3])
    files.power_loss()
    assert Wal.open(files, DIR, KEYS).recovered() == expected(STORY)


def test_power_loss_before_sync_loses_only_unsynced_writes() -> None:
    files, wal = fresh()
    commit(wal, STORY[:4])
    for record in STORY[4:]:
        wal.append(record)
    files.power_loss()
    assert Wal.open(files, DIR, KEYS).recovered() == expected(STORY[:4])


def test_power_loss_during_the_group_commit_reports_nothing_and_loses_the_batch() -> None:
    files, wal = fresh()
    commit(wal, STORY[:4])
    for record in STORY[4:]:
        wal.append(record)
    files.arm_power_loss(after_fsyncs=0)
    with pytest.raises(WalError):
        wal.sync()
    assert wal.durable_seq == 2
    with pytest.raises(WalError, match="failed earlier"):
        wal.append(STORY[0])
    assert Wal.open(files, DIR, KEYS).recovered() == expected(STORY[:4])


@pytest.mark.parametrize("torn", [1, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + 5])
def test_torn_last_frame_is_dropped_and_the_log_goes_on(torn: int) -> None:
    files, wal = fresh()
    commit(wal, STORY[:4])
    size = len(files.read(SEGMENT))
    for record in STORY[4:]:
        wal.append(record)
    files.arm_power_loss(after_fsyncs=0, torn=torn)
    with pytest.raises(WalError):
        wal.sync()
    assert len(files.read(SEGMENT)) == size + torn  # the torn bytes are there
    wal = Wal.open(files, DIR, KEYS)
    assert wal.recovered() == expected(STORY[:4])
    assert len(files.read(SEGMENT)) == size  # and cut off
    commit(wal, STORY[4:])
    files.power_loss()
    assert Wal.open(files, DIR, KEYS).recovered() == expected(STORY)


def _corrupt(files: PowerLossFiles, path: str, offset: int) -> None:
    data = bytearray(files.read(path))
    data[offset] ^= 0x40
    files.write_raw(path, bytes(data))


def _frame_offsets(data: bytes) -> list[int]:
    offsets, offset = [], 0
    while offset < len(data):
        offsets.append(offset)
        offset += HEADER_SIZE + int.from_bytes(data[offset : offset + 4], "little")
    return offsets


@pytest.mark.parametrize("field", ["payload", "length"])
def test_corruption_in_the_middle_is_refused_naming_file_and_offset(field: str) -> None:
    files, wal = fresh()
    for record in STORY:
        commit(wal, [record])  # one batch each: later frames prove earlier ones synced
    offsets = _frame_offsets(files.read(SEGMENT))
    victim = offsets[3]
    _corrupt(files, SEGMENT, victim + (HEADER_SIZE + 2 if field == "payload" else 2))
    with pytest.raises(WalCorrupt, match=f"{SEGMENT}: corrupt frame at offset {victim}"):
        Wal.open(files, DIR, KEYS)


def test_corruption_in_an_earlier_segment_is_refused() -> None:
    files, wal = fresh(segment_bytes=1)  # a new segment for every batch
    commit(wal, STORY[:2])
    commit(wal, STORY[2:4])
    commit(wal, STORY[4:])
    first = os.path.join(DIR, segment_name(0))
    _corrupt(files, first, len(files.read(first)) - 1)  # the last byte of its last frame
    with pytest.raises(WalCorrupt, match=f"{first}: corrupt frame at offset .*not the last"):
        Wal.open(files, DIR, KEYS)


@pytest.mark.parametrize("field", ["payload", "batch"])
def test_a_bad_frame_inside_an_acknowledged_batch_is_refused(field: str) -> None:
    """Seqs 1-3 in one group commit, seq 4 in the next, both acknowledged; rot in seq 2.
    The frames after it (seq 3 of the same batch, seq 4 of a later one) prove it was no
    torn write: recovery refuses, naming the bad frame and the valid one after it."""
    files, wal = fresh()
    assert commit(wal, [DurableWrite(s, HardState(1), entries(s, 1, 1)) for s in (1, 2, 3)]) == 3
    assert commit(wal, [DurableWrite(4, HardState(1), entries(4, 1, 1))]) == 4
    offsets = _frame_offsets(files.read(SEGMENT))
    assert len(offsets) == 5  # the segment header, seqs 1-4
    victim = offsets[2]
    _corrupt(files, SEGMENT, victim + (HEADER_SIZE + 2 if field == "payload" else 5))
    with pytest.raises(
        WalCorrupt, match=f"{SEGMENT}: corrupt frame at offset {victim}.*offset {offsets[3]}"
    ):
        Wal.open(files, DIR, KEYS)


@pytest.mark.parametrize("forged_batch", [2**64 - 1, 2, 3])
def test_a_frame_spelled_out_inside_a_torn_frame_is_not_evidence(forged_batch: int) -> None:
    """Payloads are sealed, so user data no longer reaches the disk as it was given;
    the scan must not lean on that: the bytes of a frame whose header is intact are
    never searched, so a frame spelled out inside one (by chance in ciphertext, as a
    label would spell it in the clear) leaves a torn last frame a torn tail."""
    written = encode_frame(Kind.HEADER, 1, b"h") + encode_frame(Kind.RAFT, 1, b"x")
    forged = encode_frame(Kind.RAFT, forged_batch, b"forged")
    torn = encode_frame(Kind.RAFT, 2, b"label=" + forged + b"; more")[:-1]
    result = scan(written + torn, SEGMENT, last=True, batch=0)
    assert [frame.payload for frame in result.frames] == [b"h", b"x"]
    assert result.end == len(written)


def test_nothing_is_written_in_the_clear_and_another_key_opens_nothing() -> None:
    """A marker in an entry, the identity's key and a task never reach the disk as
    they are; a log opened with another node's keys is corrupt at its first frame."""
    files, wal = fresh()
    marker = b"marker-7f3a9c"
    root = make_root()
    cert, key = node_cert(root)
    credentials = NodeCredentials(key, cert, root.cert_pem)
    identified = IdentityChange(NodeIdentity("n", True, 7, (), credentials))
    commit(wal, [*STORY, identified, DurableWrite(5, None, (Entry(2, 9, data=marker),))])
    wal.checkpoint()
    commit(wal, [DurableWrite(6, None, (Entry(2, 10, data=marker),))])
    written = b"".join(files.read(os.path.join(DIR, name)) for name in files.list(DIR))
    secret_key = key.splitlines()[1]
    assert written and marker not in written and secret_key not in written
    assert b"task1" not in written  # (two-byte entries like e1 may turn up by chance)
    with pytest.raises(WalCorrupt, match="does not authenticate under data key 1"):
        Wal.open(files, DIR, DataKeys.fresh())


def test_rekey_leaves_nothing_the_old_key_opens() -> None:
    files, wal = fresh()
    commit(wal, STORY)
    rotated = KEYS.rotated()
    wal.rekey(rotated.only_current())
    commit(wal, [DurableWrite(5, None, (Entry(2, 9, data=b"after"),))])
    durable = wal.durable()
    files.power_loss()
    assert Wal.open(files, DIR, rotated.only_current()).recovered() == durable
    with pytest.raises(WalCorrupt, match="which this node does not have"):
        Wal.open(files, DIR, KEYS)


def test_makedirs_makes_every_new_level_durable() -> None:
    files = PowerLossFiles()
    files.makedirs("/a/b/c")
    made = [op for op in files.log if op.op in ("mkdir", "fsync_dir")]
    assert [(op.op, op.path) for op in made] == [
        ("mkdir", "/a"),
        ("fsync_dir", "/"),
        ("mkdir", "/a/b"),
        ("fsync_dir", "/a"),
        ("mkdir", "/a/b/c"),
        ("fsync_dir", "/a/b"),
    ]
    files.power_loss()
    assert files.list("/a/b/c") == []
    _, wal = fresh(files)  # and the WAL under such a directory survives a power cut
    commit(wal, STORY)
    files.power_loss()
    assert Wal.open(files, DIR, KEYS).recovered() == expected(STORY)


def test_a_new_directory_is_lost_with_its_contents_until_its_parent_is_fsynced() -> None:
    files = PowerLossFiles()
    files.arm_power_loss(after_fsyncs=1)  # "/" is fsynced for /a, "/a" is not for /a/b
    with pytest.raises(PowerLost):
        files.makedirs("/a/b")
    assert files.list("/a") == []
    with pytest.raises(FileNotFoundError):
        files.list("/a/b")


def test_real_makedirs_creates_every_level(tmp_path: os.PathLike[str]) -> None:
    directory = os.path.join(os.fspath(tmp_path), "x", "y", "wal")
    OsFiles().makedirs(directory)
    OsFiles().makedirs(directory)  # already there: nothing to do
    assert os.path.isdir(directory)


def test_snapshot_compaction_and_restart_drop_old_segments() -> None:
    files, wal = fresh(segment_bytes=200, checkpoint_bytes=0)
    writes: list[Record] = [DurableWrite(1, HardState(1, 1, 0), entries(1, 40, 1))]
    commit(wal, writes)
    for seq in range(2, 6):
        batch: list[Record] = [
            DurableWrite(seq, HardState(seq, 1, 0), entries(40 * seq - 39, 40, seq))
        ]
        commit(wal, batch)
        writes += batch
    assert len([n for n in files.list(DIR) if n.startswith("wal-")]) == 5
    compaction = DurableWrite(6, HardState(6, 1, 150), (), Snapshot(150, 4, data=b"s"), (150, 4))
    writes.append(compaction)
    assert commit(wal, [compaction]) == 6
    assert files.list(DIR) == [checkpoint_name(6)]  # every segment is covered by it
    tail: list[Record] = [DurableWrite(7, None, entries(201, 2, 6)), AgentWrite("t", TASK)]
    commit(wal, tail)
    files.power_loss()
    wal = Wal.open(files, DIR, KEYS)
    state = wal.recovered()
    assert state == expected(writes + tail)
    assert state.raft.offset == 150 and state.raft.last_index() == 202
    assert files.list(DIR) == [checkpoint_name(6), segment_name(6)]


@pytest.mark.parametrize("eager_removals", [False, True])
@pytest.mark.parametrize("fsyncs_done", range(6))
def test_power_loss_anywhere_in_a_checkpoint_keeps_the_state(
    fsyncs_done: int, eager_removals: bool
) -> None:
    """The checkpoint's fsyncs (temp file, directory) and the segments' removal can
    be cut at any point, even where removals reach the disk before the rename does;
    recovery finds the old or the new checkpoint, whole."""
    files, wal = fresh(PowerLossFiles(eager_removals), checkpoint_bytes=0)
    commit(wal, STORY[:3])
    files.arm_power_loss(after_fsyncs=fsyncs_done)
    durable = list(STORY[:3])
    for record in STORY[3:]:
        try:
            commit(wal, [record])
        except WalError:
            break
        durable.append(record)
    files.power_loss()
    assert Wal.open(files, DIR, KEYS).recovered() == expected(durable)


def test_every_acknowledgement_follows_its_fsync() -> None:
    """Group commit: one file fsync per sync, after the batch's writes and before the
    seq is reported; and a power cut right after the report keeps the batch."""
    files, wal = fresh(segment_bytes=300)
    acknowledged: list[Record] = []
    for start in range(0, len(STORY), 2):
        batch = STORY[start : start + 2]
        before = len(files.log)
        seq = commit(wal, batch)
        ops = files.log[before:]
        file_fsyncs = [i for i, op in enumerate(ops) if op.op == "fsync"]
        writes = [i for i, op in enumerate(ops) if op.op == "write"]
        assert len(file_fsyncs) == 1 and len(writes) == 1 and writes[0] < file_fsyncs[0]
        assert ops[file_fsyncs[0]].path == ops[writes[0]].path
        created = any(op.op == "create" for op in ops)
        assert [op.op for op in ops].count("fsync_dir") == (1 if created else 0)
        assert ops[-1].op == ("fsync_dir" if created else "fsync")  # nothing after
        raft = [r.seq for r in batch if isinstance(r, DurableWrite)]
        assert seq == (raft[-1] if raft else None)
        acknowledged += batch
        twin = files.copy()
        twin.power_loss()
        assert Wal.open(twin, DIR, KEYS).recovered() == expected(acknowledged)
    assert wal.sync() is None and files.log[-1].op in ("fsync", "fsync_dir")
    fsyncs = files.fsyncs()
    assert wal.sync() is None and files.fsyncs() == fsyncs  # nothing queued: no fsync


def test_failed_fsync_is_never_retried_into_an_acknowledgement() -> None:
    files, wal = fresh()
    commit(wal, STORY[:2])
    wal.append(STORY[2])
    files.fail_next_fsync()
    with pytest.raises(WalError, match="group commit failed"):
        wal.sync()
    with pytest.raises(WalError, match="failed earlier"):
        wal.sync()
    assert wal.durable() == expected(STORY[:2])


def test_a_new_segment_is_durable_only_with_its_directory_fsync() -> None:
    files, wal = fresh()
    wal.append(STORY[1])
    files.arm_power_loss(after_fsyncs=1)  # the segment's fsync passes, the directory's not
    with pytest.raises(WalError):
        wal.sync()
    assert files.list(DIR) == []
    assert Wal.open(files, DIR, KEYS).recovered() == NodeDisk()


def test_a_missing_segment_is_an_error() -> None:
    files, wal = fresh(segment_bytes=1)
    for record in STORY[:3]:
        commit(wal, [record])
    files.remove(os.path.join(DIR, segment_name(1)))
    with pytest.raises(WalCorrupt, match=r"wal-0000000000000001\.log is missing"):
        Wal.open(files, DIR, KEYS)


def test_real_files_round_trip_and_torn_tail(tmp_path: os.PathLike[str]) -> None:
    directory = os.path.join(os.fspath(tmp_path), "wal")
    wal = Wal.open(OsFiles(), directory, KEYS, segment_bytes=300, checkpoint_bytes=0)
    assert commit(wal, STORY) == 4
    wal.close()
    assert Wal.open(OsFiles(), directory, KEYS).recovered() == expected(STORY)
    wal = Wal.open(OsFiles(), directory, KEYS)
    commit(wal, [DurableWrite(1, None, entries(9, 1, 3))])
    wal.close()
    last = sorted(n for n in os.listdir(directory) if n.startswith("wal-"))[-1]
    path = os.path.join(directory, last)
    os.truncate(path, os.path.getsize(path) - 3)  # the last frame torn
    assert Wal.open(OsFiles(), directory, KEYS).recovered() == expected(STORY)


# --- the property: random writes, syncs and power cuts ------------------------------


@st.composite
def raft_write(draw: st.DrawFn, state: PersistentState, seq: int) -> DurableWrite:
    """A write that fits ``state`` (compaction applies first, then the entries)."""
    snapshot, compaction = None, None
    after = state.copy()
    if draw(st.integers(0, 5)) == 0:
        index = draw(st.integers(0, state.last_index() + 1))
        compaction = (index, draw(st.integers(0, 9)))
        if draw(st.booleans()):
            snapshot = Snapshot(index, compaction[1], data=draw(st.binary(max_size=8)))
        after.apply(DurableWrite(seq, None, (), snapshot, compaction))
    new: tuple[Entry, ...] = ()
    if draw(st.booleans()):
        first = draw(st.integers(after.offset + 1, after.last_index() + 1))
        new = entries(first, draw(st.integers(1, 4)), draw(st.integers(0, 9)))
    hard = draw(st.none() | st.builds(HardState, st.integers(0, 9), st.integers(0, 3)))
    return DurableWrite(seq, hard, new, snapshot, compaction)


OTHERS: list[Record] = [
    IdentityChange(IDENTITY),
    IdentityChange(None),
    AgentWrite("t", TASK),
    AgentWrite("t", None),
    RaftReset(PersistentState(HardState(3))),
]


@settings(max_examples=150)
@given(st.data(), st.integers(1, 400), st.sampled_from([0, 100, 10_000]))
def test_recovered_state_is_exactly_what_was_reported_durable(
    data: st.DataObject, segment_bytes: int, checkpoint_bytes: int
) -> None:
    files = PowerLossFiles()
    options = {"segment_bytes": segment_bytes, "checkpoint_bytes": checkpoint_bytes}
    wal = Wal.open(files, DIR, KEYS, **options)
    durable: list[Record] = []
    pending: list[Record] = []
    current = PersistentState()  # Raft's state with the pending writes applied
    seq = 0
    for _ in range(data.draw(st.integers(1, 30))):
        action = data.draw(st.sampled_from(["write", "write", "other", "sync", "cut", "crash"]))
        if action in ("write", "other"):
            if action == "write":
                seq += 1
                record: Record = data.draw(raft_write(current, seq))
            else:
                record = data.draw(st.sampled_from(OTHERS))
            wal.append(record)
            pending.append(record)
            if isinstance(record, DurableWrite):
                current.apply(record)
            elif isinstance(record, RaftReset):
                current = record.state.copy()
            continue
        if action == "sync":
            reported = wal.sync()
            raft = [r.seq for r in pending if isinstance(r, DurableWrite)]
            assert reported == (raft[-1] if raft else None)
            durable += pending
            pending = []
            assert wal.durable() == expected(durable)
            continue
        if action == "cut":  # the power fails during (or after) a group commit
            files.arm_power_loss(data.draw(st.integers(0, 3)), data.draw(st.integers(0, 40)))
            try:
                wal.sync()
            except WalError:
                pass  # nothing reported durable
            else:
                durable += pending  # reported durable: the cut came later, if at all
        files.power_loss(data.draw(st.integers(0, 40)))
        wal = Wal.open(files, DIR, KEYS, **options)
        assert wal.recovered() == expected(durable)
        pending, current, seq = [], wal.recovered().raft, 0
    files.power_loss()
    assert Wal.open(files, DIR, KEYS, **options).recovered() == expected(durable)
