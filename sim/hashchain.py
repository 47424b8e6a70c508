"""The test application every simulated Raft node runs: a hash chain of applied entries.

Two nodes that reach the same digest at index ``i`` applied the same entries in the
same order up to ``i``; the :class:`DigestLedger` remembers the first digest seen at
each index and turns any disagreement into a state machine safety violation. The
digest doubles as the snapshot bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from core.raft.codec import entry_bytes
from core.raft.types import Entry
from sim.raft_checks import SafetyViolation


@dataclass
class HashChain:
    applied_index: int = 0
    digest: bytes = b""

    def apply(self, entry: Entry) -> None:
        if entry.index != self.applied_index + 1:
            raise SafetyViolation(
                "state machine safety", f"applied {entry.index} after {self.applied_index}"
            )
        self.digest = hashlib.sha256(
            self.digest + f"{entry.index}:{entry.term}:".encode() + entry_bytes(entry)
        ).digest()
        self.applied_index = entry.index

    def restore(self, index: int, data: bytes) -> None:
        self.applied_index, self.digest = index, data


@dataclass
class DigestLedger:
    digests: dict[int, bytes] = field(default_factory=dict)

    def check(self, who: str, chain: HashChain) -> None:
        if not chain.applied_index:
            return
        expected = self.digests.setdefault(chain.applied_index, chain.digest)
        if expected != chain.digest:
            raise SafetyViolation(
                "state machine safety",
                f"{who}'s applied history diverged at index {chain.applied_index}",
            )
