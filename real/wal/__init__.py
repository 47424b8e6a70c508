"""The durable log of a real node: the real-mode counterpart of sim/disk.py."""

from real.wal.frames import WalCorrupt
from real.wal.keys import KeyFile, StoredKeys, WrongKey, wrap
from real.wal.log import Wal, WalError
from real.wal.records import IdentityChange, RaftReset, Record
from real.wal.seal import DataKeys

__all__ = [
    "DataKeys",
    "IdentityChange",
    "KeyFile",
    "RaftReset",
    "Record",
    "StoredKeys",
    "Wal",
    "WalCorrupt",
    "WalError",
    "WrongKey",
    "wrap",
]
