"""Raft's knobs (SwarmKit's defaults in comments) and the test-only mutation switches."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.errors import InvalidSpec
from core.model.defaults import (
    RAFT_ELECTION_TICKS,
    RAFT_HEARTBEAT_TICKS,
    RAFT_LOG_ENTRIES_FOR_SLOW_FOLLOWERS,
    RAFT_SNAPSHOT_INTERVAL_ENTRIES,
)


@dataclass(frozen=True, slots=True)
class Mutations:
    """Deliberate bugs, for proving that the tests and checkers catch them.

    Never set outside tests. Each switch breaks one rule of the Raft paper.
    """

    grant_two_votes_per_term: bool = False  # 5.2: at most one vote per term
    commit_old_term_by_counting: bool = False  # 5.4.2: count only current-term entries
    send_before_persist: bool = False  # 5.x: durable before answering
    accept_stale_term: bool = False  # 5.1: reject messages from older terms
    skip_log_matching: bool = False  # 5.3: append only after the previous entry matches

    def any(self) -> bool:
        return any(getattr(self, name) for name in self.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class RaftConfig:
    """Timing is in ticks; the driver decides how long a tick is (SwarmKit: 1 s)."""

    election_ticks: int = RAFT_ELECTION_TICKS  # SwarmKit's: a timeout drawn in [10, 20)
    heartbeat_ticks: int = RAFT_HEARTBEAT_TICKS
    pre_vote: bool = True  # SwarmKit lacks it; shoal turns it on (swarmkit#1364)
    check_quorum: bool = True  # SwarmKit: true
    inflight_max: int = 256  # SwarmKit MaxInflightMsgs 256
    entries_per_append_max: int = 64  # batch size of one append message
    uncommitted_entries_max: int = 10_000  # proposals dropped beyond this backlog
    snapshot_interval: int = RAFT_SNAPSHOT_INTERVAL_ENTRIES
    snapshot_keep_entries: int = RAFT_LOG_ENTRIES_FOR_SLOW_FOLLOWERS
    mutations: Mutations = field(default_factory=Mutations)

    def __post_init__(self) -> None:
        if self.heartbeat_ticks < 1:
            raise InvalidSpec(
                "RaftConfig.heartbeat_ticks", self.heartbeat_ticks, "must be at least 1"
            )
        if self.election_ticks <= self.heartbeat_ticks:
            raise InvalidSpec(
                "RaftConfig.election_ticks",
                self.election_ticks,
                "must be greater than heartbeat_ticks",
            )
        for name in (
            "inflight_max",
            "entries_per_append_max",
            "uncommitted_entries_max",
            "snapshot_interval",
        ):
            if getattr(self, name) < 1:
                raise InvalidSpec(f"RaftConfig.{name}", getattr(self, name), "must be at least 1")
        if self.snapshot_keep_entries < 0:
            raise InvalidSpec(
                "RaftConfig.snapshot_keep_entries",
                self.snapshot_keep_entries,
                "must not be negative",
            )
