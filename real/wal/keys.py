"""Where a node keeps its data keys: ``keys.json`` beside its log, wrapped under the
swarm's unlock key on a locked manager, in the clear otherwise (as Docker keeps its
raft DEK in the TLS key's PEM headers, encrypted only under autolock).

The file is ``{"format": 1, "locked": bool, "current": N, "keys": [{"generation": G,
"key" | "wrapped": base64}]}``; a wrapped key is ``nonce | AES-256-GCM(KEK, DEK)``
bound to its generation. It is replaced whole (temp file, fsync, rename, directory
fsync), so a power cut leaves the old file or the new one.

Unlocking is trying the given key on every wrapped data key: a wrong key fails the
GCM tag, so a wrong unlock key is told apart from a damaged file only by the file
being well formed. The unlock key itself is never written anywhere.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from real.files import FileLayer
from real.wal.frames import WalCorrupt
from real.wal.seal import NONCE_BYTES, DataKeys

KEYS_NAME = "keys.json"
FORMAT = 1


class WrongKey(Exception):
    """The key given does not unwrap this node's data keys."""


def _bound(generation: int) -> bytes:
    return b"shoal data key %d" % generation


@dataclass(frozen=True)
class StoredKeys:
    """The file's contents: data keys in the clear (``locked`` False) or wrapped."""

    locked: bool
    current: int
    entries: dict[int, bytes]

    def open(self, kek: bytes | None) -> DataKeys:
        """The data keys; a locked file needs the right key (else :class:`WrongKey`)."""
        if not self.locked:
            return DataKeys(self.current, dict(self.entries))
        if kek is None or len(kek) != 32:
            raise WrongKey()
        cipher = AESGCM(kek)
        keys = {}
        for generation, wrapped in self.entries.items():
            nonce, body = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
            try:
                keys[generation] = cipher.decrypt(nonce, body, _bound(generation))
            except InvalidTag:
                raise WrongKey() from None
        return DataKeys(self.current, keys)


def wrap(keys: DataKeys, kek: bytes | None) -> StoredKeys:
    """``keys`` as the file keeps them: wrapped under ``kek``, or in the clear."""
    if kek is None:
        return StoredKeys(False, keys.current, dict(keys.keys))
    cipher = AESGCM(kek)
    entries = {}
    for generation, key in keys.keys.items():
        nonce = os.urandom(NONCE_BYTES)
        entries[generation] = nonce + cipher.encrypt(nonce, key, _bound(generation))
    return StoredKeys(True, keys.current, entries)


class KeyFile:
    """``keys.json`` in the WAL's directory."""

    def __init__(self, files: FileLayer, directory: str) -> None:
        self.files, self.directory = files, directory
        self.path = os.path.join(directory, KEYS_NAME)

    def load(self) -> StoredKeys | None:
        """What the file holds; None if there is none (a node that never wrote)."""
        self.files.makedirs(self.directory)
        if KEYS_NAME not in self.files.list(self.directory):
            return None
        data = self.files.read(self.path)
        try:
            return _decode(json.loads(data))
        except (ValueError, TypeError, KeyError, binascii.Error) as error:
            raise WalCorrupt(f"wal: {self.path}: unreadable data keys: {error}") from None

    def save(self, stored: StoredKeys) -> None:
        self.files.makedirs(self.directory)
        temp = self.path + ".tmp"
        handle = self.files.create(temp)
        handle.write([json.dumps(_encode(stored), sort_keys=True).encode()])
        handle.fsync()
        handle.close()
        self.files.rename(temp, self.path)
        self.files.fsync_dir(self.directory)


def _encode(stored: StoredKeys) -> dict[str, object]:
    field = "wrapped" if stored.locked else "key"
    return {
        "format": FORMAT,
        "locked": stored.locked,
        "current": stored.current,
        "keys": [
            {"generation": g, field: base64.b64encode(stored.entries[g]).decode()}
            for g in sorted(stored.entries)
        ],
    }


def _decode(data: object) -> StoredKeys:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not a format {FORMAT} key file")
    locked = data["locked"]
    if not isinstance(locked, bool):
        raise TypeError("locked must be true or false")
    field = "wrapped" if locked else "key"
    entries = {}
    for item in data["keys"]:
        generation = item["generation"]
        if not isinstance(generation, int) or isinstance(generation, bool):
            raise TypeError("a generation is a number")
        entries[generation] = base64.b64decode(item[field], validate=True)
    current = data["current"]
    if current not in entries:
        raise KeyError(f"the current generation {current} has no key")
    return StoredKeys(locked, current, entries)
