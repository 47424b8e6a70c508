"""The durable log of a real node: the real-mode counterpart of sim/disk.py."""

from real.wal.frames import WalCorrupt
from real.wal.log import Wal, WalError
from real.wal.records import IdentityChange, RaftReset, Record

__all__ = ["IdentityChange", "RaftReset", "Record", "Wal", "WalCorrupt", "WalError"]
