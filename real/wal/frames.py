"""Checksummed frames, and telling a torn tail from corruption when reading them back.

A frame is ``length u32 | kind u8 | batch u64 | payload_crc u32 | header_crc u32 |
payload`` (little endian). ``header_crc`` covers the 17 bytes before it, so a frame's
extent can be trusted even when its payload is damaged; ``payload_crc`` covers the
payload. ``batch`` numbers group commits: every frame written by one ``sync`` carries
the same number, one more than the last.

Anywhere but the last segment every frame was fsynced, so any bad frame is corruption.
In the last segment a power cut during the last group commit tears the end of what was
being written: the valid frames stop and nothing valid follows. So a bad frame there is
a torn tail, dropped, only when no valid frame comes after it; a valid frame after it
is corruption, an error naming the file and both offsets. When that frame is of a later
batch the damaged one is proven to have been fsynced (acknowledged); when it is of the
same batch we cannot tell bit rot in an acknowledged batch from pages of the last one
reaching the disk out of order, and refuse rather than silently lose acknowledged data.

Looking for a valid frame after a bad one never reads inside a payload whose header is
intact (payloads hold user data, which may spell out a valid-looking frame): it steps
over whole frames, and scans byte by byte only from a header that is itself damaged.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from core.errors import ShoalError
from real.wal.records import Kind

_COVERED = struct.Struct("<IBQI")  # what the header CRC covers
_HEAD = struct.Struct("<IBQII")
HEADER_SIZE = _HEAD.size
MAX_PAYLOAD = 1 << 30
KNOWN_KINDS = frozenset(int(kind) for kind in Kind)


class WalCorrupt(ShoalError):
    """The log cannot be read back without losing data that was reported durable."""


@dataclass(frozen=True, slots=True)
class Frame:
    offset: int
    kind: int
    batch: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Bad:
    """Why there is no frame at an offset. ``torn``: the shape a cut write leaves (too
    few bytes for a header, or an intact header whose frame runs past the end of the
    file). ``end``/``batch``: set when the header is intact and the frame fits, so the
    damaged frame's extent and group commit are known."""

    why: str
    torn: bool = False
    end: int | None = None
    batch: int | None = None


def encode_frame(kind: int, batch: int, payload: bytes) -> bytes:
    covered = _COVERED.pack(len(payload), kind, batch, zlib.crc32(payload))
    return covered + struct.pack("<I", zlib.crc32(covered)) + payload


def _frame_at(data: bytes, offset: int) -> Frame | Bad:
    """The frame at ``offset``, or why there is none."""
    if len(data) - offset < HEADER_SIZE:
        return Bad(f"{len(data) - offset} bytes left, short of a frame header", torn=True)
    length, kind, batch, payload_crc, header_crc = _HEAD.unpack_from(data, offset)
    if zlib.crc32(data[offset : offset + _COVERED.size]) != header_crc:
        return Bad("header checksum mismatch")
    end = offset + HEADER_SIZE + length
    if length > MAX_PAYLOAD or end > len(data):
        why = f"frame length {length} runs past the end of the file ({len(data)} bytes)"
        return Bad(why, torn=True)
    payload = data[offset + HEADER_SIZE : end]
    if zlib.crc32(payload) != payload_crc:
        return Bad("payload checksum mismatch", end=end, batch=batch)
    if kind not in KNOWN_KINDS:
        return Bad(f"unknown record kind {kind}", end=end, batch=batch)
    return Frame(offset, kind, batch, payload)


@dataclass(frozen=True, slots=True)
class Scan:
    frames: list[Frame]
    end: int  # where the valid frames end: the file is truncated here if shorter
    last_batch: int  # of the last frame kept (the ``batch`` passed in if none)


def scan(data: bytes, path: str, last: bool, batch: int) -> Scan:
    """The frames of one segment. ``batch`` is the highest batch read before it;
    ``last`` says whether this is the last segment (the only one that may be torn)."""
    frames: list[Frame] = []
    offset = 0
    while offset < len(data):
        found = _frame_at(data, offset)
        if isinstance(found, Bad):
            where = f"wal: {path}: corrupt frame at offset {offset}: {found.why}"
            if not last:
                raise WalCorrupt(f"{where} (not the last segment, so it was fsynced)")
            later = _later_frame(data, offset, found, batch)
            if later is not None:
                raise WalCorrupt(f"{where}; {_why_not_torn(later, found)}")
            return Scan(frames, offset, batch)
        if found.batch < batch:
            raise WalCorrupt(
                f"wal: {path}: frame at offset {offset} is from batch {found.batch},"
                f" older than batch {batch} before it"
            )
        frames.append(found)
        batch = found.batch
        offset += HEADER_SIZE + len(found.payload)
    return Scan(frames, offset, batch)


def _why_not_torn(later: Frame, bad: Bad) -> str:
    # proof needs the damaged frame's batch, known only when its header is intact
    if bad.batch is not None and later.batch > bad.batch:
        return (
            f"the valid frame at offset {later.offset} was written by a later group commit"
            f" (batch {later.batch} after {bad.batch}), so this one had been fsynced"
        )
    return (
        f"a valid frame follows at offset {later.offset} (batch {later.batch}), and a"
        " power cut tears only the end of the log: this may be acknowledged data"
    )


def _later_frame(data: bytes, start: int, bad: Bad, batch: int) -> Frame | None:
    """The first valid frame after the bad one at ``start``, or None when what follows
    is the rest of a torn write. Frames with an intact header are stepped over whole,
    never searched inside; only from a damaged header is the rest scanned byte by byte
    (its frame's extent is unknown), and then only frames of batch ``batch`` or later
    count."""
    offset = start
    while not bad.torn:
        if bad.end is None:  # a damaged header: its frame's extent is unknown
            return _scan_for_frame(data, offset + 1, batch)
        offset = bad.end
        if offset == len(data):
            return None
        found = _frame_at(data, offset)
        if isinstance(found, Frame):
            return found
        bad = found
    return None


def _scan_for_frame(data: bytes, offset: int, batch: int) -> Frame | None:
    while offset + HEADER_SIZE <= len(data):
        found = _frame_at(data, offset)
        if isinstance(found, Frame) and found.batch >= batch:
            return found
        offset += 1
    return None
