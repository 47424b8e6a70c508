"""Encryption at rest: every WAL payload sealed with the node's data key (DEK).

A sealed payload is ``generation u32 | nonce 12 | AES-256-GCM ciphertext and tag``.
The generation names the data key that sealed it, so a log written across a key
rotation reads back while both keys are kept (see real/wal/keys.py); the frame's
kind and group-commit number are authenticated with it (associated data), so a
frame cannot be passed off as another kind or moved to another batch.

Nonces are random (96 bits, from the OS): a node writes far fewer than the 2^32
payloads per key at which random GCM nonces start to risk a repeat, and a key
rotation (autolock turned on) starts the count again.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from real.wal.records import RecordError

KEY_BYTES = 32
NONCE_BYTES = 12
_GENERATION = struct.Struct("<I")
_BOUND = struct.Struct("<BQ")  # kind, batch: the associated data
OVERHEAD = _GENERATION.size + NONCE_BYTES + 16


def new_data_key() -> bytes:
    return os.urandom(KEY_BYTES)


@dataclass(frozen=True)
class DataKeys:
    """The data keys a node's log may be sealed with, by generation; new payloads
    are sealed with ``current``'s. More than one only while a rotation completes."""

    current: int
    keys: Mapping[int, bytes] = field(repr=False)
    _ciphers: dict[int, AESGCM] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ValueError(f"no data key of generation {self.current}")
        for generation, key in self.keys.items():
            if len(key) != KEY_BYTES:
                raise ValueError(f"data key {generation} is {len(key)} bytes, not {KEY_BYTES}")
        ciphers = {generation: AESGCM(key) for generation, key in self.keys.items()}
        object.__setattr__(self, "_ciphers", ciphers)

    @classmethod
    def fresh(cls) -> DataKeys:
        return cls(1, {1: new_data_key()})

    def rotated(self) -> DataKeys:
        """A new current key, the old ones kept to read what they sealed."""
        generation = max(self.keys) + 1
        return DataKeys(generation, {**self.keys, generation: new_data_key()})

    def only_current(self) -> DataKeys:
        return DataKeys(self.current, {self.current: self.keys[self.current]})

    def seal(self, kind: int, batch: int, payload: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.current].encrypt(nonce, payload, _BOUND.pack(kind, batch))
        return _GENERATION.pack(self.current) + nonce + sealed

    def open(self, kind: int, batch: int, sealed: bytes) -> bytes:
        """The payload; :class:`RecordError` if no key here sealed it as this frame."""
        if len(sealed) < OVERHEAD:
            raise RecordError(f"a sealed payload of {len(sealed)} bytes is too short")
        (generation,) = _GENERATION.unpack_from(sealed)
        cipher = self._ciphers.get(generation)
        if cipher is None:
            raise RecordError(f"sealed with data key {generation}, which this node does not have")
        nonce = sealed[_GENERATION.size : _GENERATION.size + NONCE_BYTES]
        body = sealed[_GENERATION.size + NONCE_BYTES :]
        try:
            return cipher.decrypt(nonce, body, _BOUND.pack(kind, batch))
        except InvalidTag:
            raise RecordError(
                f"does not authenticate under data key {generation} (tampered, or not this node's)"
            ) from None
