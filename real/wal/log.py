"""The durable log of one node: segments of frames, checkpoints, group commit.

Files in the WAL directory:

- ``wal-<n>.log`` segments (n in 16 hex digits): a HEADER frame, then records;
- ``checkpoint-<n>.snap``: the whole durable state (Raft's, the identity, the tasks)
  as of the end of segment n-1, in one CHECKPOINT frame. Replay starts there and reads
  segments n, n+1, ...; older segments and checkpoints are dropped.

``append`` only queues. ``sync`` writes every queued record (one frame each), fsyncs
the segment once (group commit) and only then reports the highest Raft seq it made
durable; nothing is reported before its fsync. A failed write or fsync leaves the
log unusable (after a failed fsync the page cache may already have dropped the data:
retrying could report durable what is not), so the node must restart and recover.

``sync`` may run on a worker thread while the event loop calls ``append``.

Every frame's payload is sealed with the node's data key (real/wal/seal.py): nothing
of Raft's entries, the identity (its TLS key) or the agent's tasks is on disk in the
clear. :meth:`rekey` moves the whole log to a new data key by a checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass

from core.node import NodeDisk
from core.raft.types import DurableWrite
from real.files import AppendFile, FileLayer
from real.wal.frames import WalCorrupt, encode_frame, scan
from real.wal.records import (
    Kind,
    RaftReset,
    Record,
    RecordError,
    apply_record,
    copy_disk,
    decode_checkpoint,
    decode_header,
    decode_record,
    encode_checkpoint,
    encode_header,
    encode_record,
)
from real.wal.seal import DataKeys

SEGMENT_BYTES = 16 << 20
CHECKPOINT_BYTES = 8 << 20


class WalError(OSError):
    """The log failed to write or fsync and can no longer be trusted."""


def segment_name(number: int) -> str:
    return f"wal-{number:016x}.log"


def checkpoint_name(number: int) -> str:
    return f"checkpoint-{number:016x}.snap"


def is_log_file(name: str) -> bool:
    """Whether ``name`` holds part of a log (a segment or a checkpoint)."""
    return name.startswith(("wal-", "checkpoint-")) and name.endswith((".log", ".snap"))


def _numbered(names: list[str], prefix: str, suffix: str) -> list[int]:
    numbers = []
    for name in names:
        if name.startswith(prefix) and name.endswith(suffix):
            digits = name[len(prefix) : -len(suffix)]
            if len(digits) == 16:
                try:
                    numbers.append(int(digits, 16))
                except ValueError:
                    continue
    return sorted(numbers)


@dataclass
class _Pending:
    record: Record
    kind: Kind
    payload: bytes


class Wal:
    """Open with :meth:`open`, which recovers what the directory holds."""

    def __init__(
        self,
        files: FileLayer,
        directory: str,
        keys: DataKeys,
        state: NodeDisk,
        segment: int,
        batch: int,
        segment_bytes: int,
        checkpoint_bytes: int,
    ) -> None:
        self.files, self.directory = files, directory
        self.keys = keys
        self.segment_bytes, self.checkpoint_bytes = segment_bytes, checkpoint_bytes
        self._state = state  # exactly what is durable
        self._recovered = copy_disk(state)
        self._segment = segment  # the number of the segment appended to (or next created)
        self._file: AppendFile | None = None  # None: the next sync creates ``_segment``
        self._size = 0
        self._batch = batch
        self._pending: list[_Pending] = []
        self._since_checkpoint = 0  # bytes written since the last checkpoint
        self._compacted = False  # a write since then dropped entries or reset the log
        self._failed: BaseException | None = None
        self._queue_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self.durable_seq = 0  # the last Raft seq made durable by this process
        self.syncs = 0

    # -- recovery --

    @classmethod
    def open(
        cls,
        files: FileLayer,
        directory: str,
        keys: DataKeys,
        segment_bytes: int = SEGMENT_BYTES,
        checkpoint_bytes: int = CHECKPOINT_BYTES,
    ) -> Wal:
        """Recover the durable state from ``directory`` (created if missing), opening
        each payload with ``keys``: the newest checkpoint, then every frame after it;
        a torn last frame is cut off."""
        files.makedirs(directory)
        names = files.list(directory)
        for name in names:
            if name.endswith(".tmp"):  # a checkpoint that was never renamed into place
                files.remove(os.path.join(directory, name))
        state, first, batch = NodeDisk(), 0, 0
        checkpoints = _numbered(names, "checkpoint-", ".snap")
        if checkpoints:
            first = checkpoints[-1]
            batch, state = cls._read_checkpoint(
                files, os.path.join(directory, checkpoint_name(first)), keys
            )
        segments = _numbered(names, "wal-", ".log")
        for number in segments:
            if number < first:  # covered by the checkpoint; its removal was not durable
                files.remove(os.path.join(directory, segment_name(number)))
        for number in checkpoints[:-1]:
            files.remove(os.path.join(directory, checkpoint_name(number)))
        live = [number for number in segments if number >= first]
        if live and live != list(range(first, first + len(live))):
            missing = min(set(range(first, live[-1] + 1)) - set(live))
            raise WalCorrupt(
                f"wal: {os.path.join(directory, segment_name(missing))} is missing"
                f" (segments {', '.join(segment_name(n) for n in live)} are present)"
            )
        wal = cls(files, directory, keys, state, first, batch, segment_bytes, checkpoint_bytes)
        for number in live:
            wal._replay(number, last=number == live[-1])
        wal._recovered = copy_disk(wal._state)
        return wal

    @staticmethod
    def _read_checkpoint(files: FileLayer, path: str, keys: DataKeys) -> tuple[int, NodeDisk]:
        data = files.read(path)
        result = scan(data, path, last=False, batch=0)
        frames = result.frames
        if len(frames) != 1 or frames[0].kind != Kind.CHECKPOINT:
            raise WalCorrupt(f"wal: {path}: a checkpoint holds exactly one checkpoint frame")
        frame = frames[0]
        try:
            first, state = decode_checkpoint(keys.open(frame.kind, frame.batch, frame.payload))
        except RecordError as error:
            raise WalCorrupt(f"wal: {path}: unreadable checkpoint at offset 0: {error}") from error
        expected = os.path.basename(path)
        if checkpoint_name(first) != expected:
            raise WalCorrupt(f"wal: {path}: holds the checkpoint for segment {first}")
        return frames[0].batch, state

    def _replay(self, number: int, last: bool) -> None:
        path = os.path.join(self.directory, segment_name(number))
        data = self.files.read(path)
        result = scan(data, path, last, self._batch)
        for position, frame in enumerate(result.frames):
            where = f"wal: {path}: frame at offset {frame.offset}"
            try:
                if (frame.kind == Kind.HEADER) != (position == 0):
                    raise RecordError("a segment starts with its header, and only there")
                payload = self.keys.open(frame.kind, frame.batch, frame.payload)
                if frame.kind == Kind.HEADER:
                    if decode_header(payload) != number:
                        raise RecordError("the header names another segment")
                    continue
                if frame.kind == Kind.CHECKPOINT:
                    raise RecordError("a checkpoint frame inside a segment")
                apply_record(self._state, decode_record(frame.kind, payload))
            except RecordError as error:
                raise WalCorrupt(f"{where}: {error}") from error
            except AssertionError as error:  # InvariantViolation: entries that do not fit
                raise WalCorrupt(f"{where}: {error}") from error
        self._batch = result.last_batch
        self._segment = number
        if not last:
            return
        if not result.frames:  # not even its header survived: write it anew
            self.files.remove(path)
            self.files.fsync_dir(self.directory)
            return
        if result.end < len(data):
            self.files.truncate(path, result.end)
        self._file = self.files.open_append(path)
        if result.end < len(data):
            self._file.fsync()
        self._size = result.end

    # -- what is durable --

    def recovered(self) -> NodeDisk:
        """What the node restarts from: the state found on disk at :meth:`open`."""
        return copy_disk(self._recovered)

    def durable(self) -> NodeDisk:
        """Everything made durable so far (the recovered state and every synced record)."""
        with self._sync_lock:
            return copy_disk(self._state)

    # -- writing --

    def append(self, record: Record) -> None:
        """Queue ``record``; it is durable only once a later :meth:`sync` returns."""
        if self._failed is not None:
            raise WalError(f"wal: the log failed earlier: {self._failed}") from self._failed
        kind, payload = encode_record(record)
        with self._queue_lock:
            self._pending.append(_Pending(record, kind, payload))

    def sync(self) -> int | None:
        """Make every queued record durable with one fsync (two when a new segment is
        started: the directory too). Returns the last Raft seq made durable by this
        call, or None if it made none durable."""
        with self._sync_lock:
            if self._failed is not None:
                raise WalError(f"wal: the log failed earlier: {self._failed}") from self._failed
            with self._queue_lock:
                batch, self._pending = self._pending, []
            if not batch:
                return None
            try:
                self._write(batch)
            except OSError as error:
                self._failed = error
                raise WalError(
                    f"wal: group commit failed, nothing reported durable: {error}"
                ) from error
            seq = None
            for pending in batch:
                apply_record(self._state, pending.record)
                record = pending.record
                if isinstance(record, DurableWrite):
                    seq = record.seq
                    if record.compaction is not None or record.snapshot is not None:
                        self._compacted = True
                elif isinstance(record, RaftReset):
                    self._compacted = True
            if seq is not None:
                self.durable_seq = seq
            self.syncs += 1
            if self._compacted and self._since_checkpoint >= self.checkpoint_bytes:
                # the batch is durable whatever happens to the checkpoint: say so, and
                # let a failed checkpoint (which marks the log failed) stop the next call
                with contextlib.suppress(WalError):
                    self._checkpoint_locked()
            return seq

    def _write(self, batch: list[_Pending]) -> None:
        self._batch += 1
        chunks = []
        new_segment = self._file is None or self._size >= self.segment_bytes
        if new_segment:
            if self._file is not None:
                self._file.close()
                self._segment += 1
            self._file = self.files.create(self._path(self._segment))
            self._size = 0
            chunks.append(self._frame(Kind.HEADER, encode_header(self._segment)))
        chunks += [self._frame(p.kind, p.payload) for p in batch]
        assert self._file is not None
        self._file.write(chunks)
        self._file.fsync()
        if new_segment:
            self.files.fsync_dir(self.directory)
        written = sum(len(chunk) for chunk in chunks)
        self._size += written
        self._since_checkpoint += written

    def checkpoint(self) -> None:
        """Write the durable state to a checkpoint and drop the segments it covers."""
        with self._sync_lock:
            if self._failed is not None:
                raise WalError(f"wal: the log failed earlier: {self._failed}") from self._failed
            self._checkpoint_locked()

    def _checkpoint_locked(self) -> None:
        """The state as of every synced record; the next sync starts a new segment.
        Temp file, fsync, rename, directory fsync: a power cut leaves the old
        checkpoint or the new one, never half of one."""
        following = self._segment + 1 if self._file is not None else self._segment
        name = checkpoint_name(following)
        temp = os.path.join(self.directory, name + ".tmp")
        try:
            handle = self.files.create(temp)
            payload = encode_checkpoint(following, self._state)
            handle.write([self._frame(Kind.CHECKPOINT, payload)])
            handle.fsync()
            handle.close()
            self.files.rename(temp, os.path.join(self.directory, name))
            self.files.fsync_dir(self.directory)
            if self._file is not None:
                self._file.close()
                self._file = None
            self._segment = following
            for old in _numbered(self.files.list(self.directory), "wal-", ".log"):
                if old < following:
                    self.files.remove(self._path(old))
            for old in _numbered(self.files.list(self.directory), "checkpoint-", ".snap"):
                if old < following:
                    self.files.remove(os.path.join(self.directory, checkpoint_name(old)))
        except OSError as error:
            self._failed = error
            raise WalError(f"wal: checkpoint failed: {error}") from error
        self._since_checkpoint = 0
        self._compacted = False

    def _frame(self, kind: Kind, payload: bytes) -> bytes:
        return encode_frame(kind, self._batch, self.keys.seal(kind, self._batch, payload))

    def rekey(self, keys: DataKeys) -> None:
        """Seal from now on with ``keys``' current data key, and rewrite what is
        durable under it at once (a checkpoint, which drops every older segment), so
        that an older key no longer opens anything on disk."""
        with self._sync_lock:
            if self._failed is not None:
                raise WalError(f"wal: the log failed earlier: {self._failed}") from self._failed
            self.keys = keys
            self._checkpoint_locked()

    def _path(self, number: int) -> str:
        return os.path.join(self.directory, segment_name(number))

    def close(self) -> None:
        with self._sync_lock:
            if self._file is not None:
                self._file.close()
                self._file = None
