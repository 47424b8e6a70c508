"""Checksummed frames, and telling a torn tail from corruption when reading them back.

A frame is ``length u32 | crc32 u32 | kind u8 | batch u64 | payload`` (little endian);
the CRC covers the length, kind, batch and payload. ``batch`` numbers group commits:
every frame written by one ``sync`` carries the same number, one more than the last.

Reading stops at the first frame that does not check out. In the last segment that is
a torn tail (a power cut during the last group commit) and is dropped, unless a valid
frame further on belongs to a later batch than the one being written when the power
went: that batch could only have been written after the damaged one was fsynced, so
the damage is corruption of acknowledged data, an error naming the file and offset.
Anywhere but the last segment every frame was fsynced, so any bad frame is corruption.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from core.errors import ShoalError
from real.wal.records import Kind

_HEAD = struct.Struct("<IIBQ")
_COVERED = struct.Struct("<IBQ")  # the header fields the CRC covers
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


def encode_frame(kind: int, batch: int, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(_COVERED.pack(len(payload), kind, batch)))
    return _HEAD.pack(len(payload), crc, kind, batch) + payload


def _frame_at(data: bytes, offset: int) -> Frame | str:
    """The frame at ``offset``, or why there is none."""
    if len(data) - offset < HEADER_SIZE:
        return f"{len(data) - offset} bytes left, short of a frame header"
    length, crc, kind, batch = _HEAD.unpack_from(data, offset)
    end = offset + HEADER_SIZE + length
    if length > MAX_PAYLOAD or end > len(data):
        return f"frame length {length} runs past the end of the file ({len(data)} bytes)"
    payload = data[offset + HEADER_SIZE : end]
    if zlib.crc32(payload, zlib.crc32(_COVERED.pack(length, kind, batch))) != crc:
        return "checksum mismatch"
    if kind not in KNOWN_KINDS:
        return f"unknown record kind {kind}"
    return Frame(offset, kind, batch, payload)


@dataclass(frozen=True, slots=True)
class Scan:
    frames: list[Frame]
    end: int  # where the valid frames end: the file is truncated here if shorter
    highest_batch: int  # of every valid frame seen, the dropped tail included


def scan(data: bytes, path: str, last: bool, batch: int) -> Scan:
    """The frames of one segment. ``batch`` is the highest batch read before it;
    ``last`` says whether this is the last segment (the only one that may be torn)."""
    frames: list[Frame] = []
    offset = 0
    while offset < len(data):
        found = _frame_at(data, offset)
        if isinstance(found, str):
            if not last:
                raise WalCorrupt(
                    f"wal: {path}: corrupt frame at offset {offset}: {found}"
                    " (not the last segment, so it was fsynced)"
                )
            later = _later_frame(data, offset)
            if later is not None and later.batch > batch + 1:
                raise WalCorrupt(
                    f"wal: {path}: corrupt frame at offset {offset}: {found}; the valid"
                    f" frame at offset {later.offset} was written by a later group commit"
                    f" (batch {later.batch} after {batch}), so this one had been fsynced"
                )
            highest = max(batch, later.batch if later is not None else 0)
            return Scan(frames, offset, highest)
        if found.batch < batch:
            raise WalCorrupt(
                f"wal: {path}: frame at offset {offset} is from batch {found.batch},"
                f" older than batch {batch} before it"
            )
        frames.append(found)
        batch = found.batch
        offset += HEADER_SIZE + len(found.payload)
    return Scan(frames, offset, batch)


def _later_frame(data: bytes, start: int) -> Frame | None:
    """Of the valid frames after a bad one at ``start``, the one of the highest batch."""
    best: Frame | None = None
    offset = start + 1
    while offset + HEADER_SIZE <= len(data):
        found = _frame_at(data, offset)
        if isinstance(found, Frame):
            if best is None or found.batch > best.batch:
                best = found
            offset += HEADER_SIZE + len(found.payload)
        else:
            offset += 1
    return best
