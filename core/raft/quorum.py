"""Majority maths: the commit index a set of match indexes supports, and vote tallies."""

from __future__ import annotations

import enum
from collections.abc import Mapping

from core.raft.types import NodeId


def quorum(voter_count: int) -> int:
    """Votes needed among ``voter_count`` voters: a majority, floor(n/2)+1."""
    return voter_count // 2 + 1


def committed_index(voters: frozenset[NodeId], match: Mapping[NodeId, int]) -> int:
    """The highest index that a majority of ``voters`` have (0 for no voters)."""
    if not voters:
        return 0
    indexes = sorted((match.get(voter, 0) for voter in voters), reverse=True)
    return indexes[quorum(len(voters)) - 1]


class VoteResult(enum.Enum):
    PENDING = "pending"
    WON = "won"
    LOST = "lost"


def vote_result(voters: frozenset[NodeId], votes: Mapping[NodeId, bool]) -> VoteResult:
    granted = sum(1 for voter in voters if votes.get(voter) is True)
    rejected = sum(1 for voter in voters if votes.get(voter) is False)
    needed = quorum(len(voters))
    if granted >= needed:
        return VoteResult.WON
    if len(voters) - rejected < needed:
        return VoteResult.LOST
    return VoteResult.PENDING
