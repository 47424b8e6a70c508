"""Five rules of the Raft paper as reusable checks.

Each check builds a node with ``config``, feeds it the input that the rule governs,
and raises AssertionError if the rule is broken. The paper tests run them with the
real algorithm; the mutation tests run them with one deliberate bug switched on and
expect the AssertionError: a test suite that cannot see the bug proves nothing.
"""

from __future__ import annotations

from core.raft.config import RaftConfig
from core.raft.types import Entry
from tests.raft.support import M, acknowledge, drain, make_leader, make_node, message


def check_single_vote_per_term(config: RaftConfig) -> None:
    """5.2: a server votes for at most one candidate in a given term."""
    node = make_node(term=1, config=config)
    node.step(message(M.VOTE, 2, 1, term=2))
    node.step(message(M.VOTE, 3, 1, term=2))
    granted = [m.source for m in drain(node).of(M.VOTE_RESP) if not m.reject]
    assert granted == [1], f"votes granted in one term: {granted}"


def check_leader_only_commits_current_term_by_counting(config: RaftConfig) -> None:
    """5.4.2 (figure 8): replicas of an older term's entry do not commit it."""
    leader = make_leader(terms=(1, 2), term=2, config=config)  # now term 3, no-op at 3
    acknowledge(leader, 2, 2)  # follower 2 has the term-2 entry, not the no-op
    assert leader.log.committed == 0, "an entry of an old term was committed by counting"
    acknowledge(leader, 2, 3)
    assert leader.log.committed == 3


def check_votes_wait_for_durable_term_and_vote(config: RaftConfig) -> None:
    """Figure 2: term and vote are on stable storage before responding."""
    node = make_node(term=1, config=config)
    node.step(message(M.VOTE, 2, 1, term=2))
    first = node.ready()
    assert [w.hard_state for w in first.writes] == [node.hard_state()]
    assert first.messages == (), "a vote was sent before the vote was durable"
    node.persisted(first.writes[0].seq)
    assert [m.type for m in node.ready().messages] == [M.VOTE_RESP]


def check_stale_term_is_rejected(config: RaftConfig) -> None:
    """5.1: a request with a stale term is rejected and changes nothing."""
    node = make_node(terms=(5,), term=5, config=config)
    node.step(message(M.APP, 2, 1, term=3, index=1, log_term=5, entries=(Entry(3, 2),)))
    drain(node)
    assert node.log.last_index() == 1, "an append from a stale term was accepted"


def check_append_requires_matching_previous_entry(config: RaftConfig) -> None:
    """5.3: the follower refuses entries whose previous entry does not match."""
    node = make_node(terms=(1, 2), term=3, config=config)
    node.step(message(M.APP, 2, 1, term=3, index=2, log_term=3, entries=(Entry(3, 3),)))
    [response] = drain(node).messages
    assert response.reject, "entries were appended after a mismatching previous entry"
    assert [e.term for e in node.log.entries] == [1, 2]
