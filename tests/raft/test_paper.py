"""One test per rule of the Raft paper (sections 5 and 6), in etcd's paper-test style.

Each test sets a node in a given state, feeds it one input, and checks the exact
outputs. Sections cited are from "In Search of an Understandable Consensus
Algorithm" (extended version) and Ongaro's dissertation for PreVote and CheckQuorum.
"""

from __future__ import annotations

import random

import pytest

from core.raft.config import RaftConfig
from core.raft.node import RaftNode
from core.raft.progress import ProgressState
from core.raft.quorum import VoteResult, committed_index, quorum, vote_result
from core.raft.storage import PersistentState
from core.raft.types import (
    NONE,
    ChangeKind,
    ConfChange,
    ConfState,
    DurableWrite,
    Entry,
    HardState,
    MembershipRefused,
    Message,
    Role,
    Snapshot,
)
from tests.raft.rules import (
    check_append_requires_matching_previous_entry,
    check_leader_only_commits_current_term_by_counting,
    check_single_vote_per_term,
    check_stale_term_is_rejected,
    check_votes_wait_for_durable_term_and_vote,
)
from tests.raft.support import (
    M,
    acknowledge,
    drain,
    make_leader,
    make_node,
    message,
    paper_config,
)

# -- 5.1 terms --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["follower", "candidate", "leader"])
def test_update_term_from_message(role: str) -> None:
    """5.1: a server that sees a higher term takes it and becomes a follower."""
    node = make_leader() if role == "leader" else make_node(term=1)
    if role == "candidate":
        node._become_candidate()
    node.step(message(M.APP, 2, 1, term=9))
    assert (node.term, node.role, node.lead, node.vote) == (9, Role.FOLLOWER, 2, NONE)


def test_reject_stale_term_message() -> None:
    """5.1: a request with a stale term is rejected; the sender learns our term."""
    node = make_node(term=5, config=paper_config(check_quorum=True))
    node.step(message(M.APP, 2, 1, term=3, index=0, entries=(Entry(3, 1),)))
    out = drain(node)
    assert node.term == 5 and node.log.last_index() == 0
    assert [(m.type, m.to, m.term) for m in out.messages] == [(M.APP_RESP, 2, 5)]


def test_start_as_follower() -> None:
    """5.2: servers start as followers."""
    node = make_node(term=3)
    assert (node.role, node.lead) == (Role.FOLLOWER, NONE)


# -- 5.2 leader election ------------------------------------------------------------------


def test_leader_broadcasts_heartbeats() -> None:
    """5.2: a leader sends heartbeats every heartbeat interval, commit capped by match."""
    leader = make_leader(terms=(1, 1))
    leader.tick()
    heartbeats = drain(leader).of(M.HEARTBEAT)
    assert [(m.to, m.term, m.commit) for m in heartbeats] == [(2, 2, 0), (3, 2, 0)]


def test_follower_starts_election_on_timeout() -> None:
    """5.2: a follower that hears nothing for an election timeout campaigns: a new
    term, a vote for itself, vote requests carrying its last index and term."""
    node = make_node(terms=(1, 2), term=2)
    for _ in range(2 * node.config.election_ticks):
        node.tick()
    votes = drain(node).of(M.VOTE)
    assert (node.role, node.term, node.vote) == (Role.CANDIDATE, 3, 1)
    assert [(m.to, m.term, m.index, m.log_term) for m in votes] == [(2, 3, 2, 2), (3, 3, 2, 2)]


def test_candidate_starts_new_election_on_timeout() -> None:
    """5.2: a candidate whose election times out starts another, in a new term."""
    node = make_node(term=1)
    node._become_candidate()
    drain(node)
    for _ in range(2 * node.config.election_ticks):
        node.tick()
    assert (node.role, node.term) == (Role.CANDIDATE, 3)


def test_sole_voter_leads_at_once() -> None:
    """A cluster of one has nobody to wait for: a node whose configuration names only
    itself campaigns and wins as it starts (SwarmKit campaigns when it is the only
    member), with PreVote and CheckQuorum on as in production."""
    node = RaftNode.bootstrap(1, (1,), RaftConfig(), random.Random(0))
    assert (node.role, node.term, node.vote, node.lead) == (Role.LEADER, 2, 1, 1)
    out = drain(node)
    assert out.messages == [] and [(e.index, e.term) for e in out.committed] == [(1, 1), (2, 2)]


def test_sole_voter_that_lost_leadership_campaigns_on_its_next_tick() -> None:
    """A sole voter turned follower (a message of a higher term) does not wait out an
    election timeout: one tick and it leads again."""
    node = make_node(voters=(1,), terms=(1,), term=1, config=RaftConfig())
    drain(node)
    node.step(message(M.APP_RESP, 9, 1, term=5))
    assert (node.role, node.term) == (Role.FOLLOWER, 5)
    node.tick()
    assert (node.role, node.term) == (Role.LEADER, 6)


def test_force_new_cluster_leads_at_once() -> None:
    """Disaster recovery: the survivor restarted as a cluster of one leads as it
    starts, in a new term, with the other voters removed."""
    disk = make_node(voters=(1, 2, 3), terms=(1, 1), term=1, commit=2)
    state = PersistentState(
        hard_state=disk.hard_state(),
        snapshot=disk.log.snapshot,
        entries=list(disk.log.entries),
    )
    node = RaftNode.force_new_cluster(1, RaftConfig(), random.Random(0), state)
    assert (node.role, node.term, node.conf.voters) == (Role.LEADER, 2, frozenset({1}))


@pytest.mark.parametrize(
    ("size", "votes", "result"),
    [
        (1, {}, VoteResult.WON),
        (3, {2: True}, VoteResult.WON),
        (3, {2: True, 3: True}, VoteResult.WON),
        (5, {2: True, 3: True}, VoteResult.WON),
        (5, {2: True}, VoteResult.PENDING),
        (3, {2: False, 3: False}, VoteResult.LOST),
        (5, {2: False, 3: False, 4: False}, VoteResult.LOST),
        (5, {2: True, 3: False, 4: False}, VoteResult.PENDING),
    ],
)
def test_leader_election_in_one_round(
    size: int, votes: dict[int, bool], result: VoteResult
) -> None:
    """5.2: a candidate wins with votes from a majority, loses when a majority refuse."""
    voters = frozenset(range(1, size + 1))
    assert vote_result(voters, {1: True, **votes}) is result


@pytest.mark.parametrize(
    ("vote", "candidate", "granted"),
    [(NONE, 2, True), (NONE, 3, True), (2, 2, True), (3, 2, False), (2, 3, False)],
)
def test_follower_votes_once_per_term(vote: int, candidate: int, granted: bool) -> None:
    """5.2: each server votes for at most one candidate in a term, first come first served."""
    node = make_node(term=1, vote=vote)
    node.step(message(M.VOTE, candidate, 1, term=1))
    [response] = drain(node).messages
    assert (response.type, response.to, response.reject) == (M.VOTE_RESP, candidate, not granted)
    assert node.vote == (candidate if granted else vote)


def test_candidate_falls_back_to_follower_on_append_from_leader() -> None:
    """5.2: a candidate that hears from a leader of its term becomes its follower."""
    node = make_node(term=1)
    node._become_candidate()
    node.step(message(M.APP, 2, 1, term=2))
    assert (node.role, node.lead, node.term) == (Role.FOLLOWER, 2, 2)


def test_election_timeout_is_randomized_in_one_to_two_timeouts() -> None:
    """5.2: timeouts are random in [ET, 2 ET) so that split votes are rare."""
    seen = set()
    for seed in range(200):
        node = make_node(seed=seed)
        timeout = node.randomized_election_timeout
        assert node.config.election_ticks <= timeout < 2 * node.config.election_ticks
        seen.add(timeout)
    assert seen == set(range(10, 20))


def test_followers_election_timeouts_do_not_all_conflict() -> None:
    """5.2: across followers, the first to time out is usually alone."""
    alone = 0
    for seed in range(100):
        timeouts = [
            make_node(node_id, seed=seed * 10 + node_id).randomized_election_timeout
            for node_id in (1, 2, 3)
        ]
        alone += timeouts.count(min(timeouts)) == 1
    assert alone > 70


# -- 5.3 log replication ------------------------------------------------------------------


def test_leader_starts_replication_of_a_proposal() -> None:
    """5.3: the leader appends the command and sends it with the previous index/term
    (followers that acknowledged the no-op are replicating, not probing)."""
    leader = make_leader()
    acknowledge(leader, 2, 1)
    acknowledge(leader, 3, 1)
    index = leader.propose(b"x")
    apps = drain(leader).of(M.APP)
    assert index == 2
    assert [(m.to, m.index, m.log_term, [e.data for e in m.entries], m.commit) for m in apps] == [
        (2, 1, 1, [b"x"], 1),
        (3, 1, 1, [b"x"], 1),
    ]


def test_leader_commits_once_a_majority_has_the_entry() -> None:
    """5.3: an entry is committed once replicated on a majority; followers learn the
    new commit index in the next append."""
    leader = make_leader()
    acknowledge(leader, 2, 1)
    leader.propose(b"x")
    drain(leader)
    out = acknowledge(leader, 2, 2)
    assert leader.log.committed == 2
    assert [e.data for e in out.committed] == [b"x"]
    assert {m.commit for m in out.of(M.APP)} == {2}


@pytest.mark.parametrize(
    ("size", "acks", "committed"),
    [
        (1, [], True),
        (3, [], False),
        (3, [2], True),
        (5, [2], False),
        (5, [2, 3], True),
        (5, [2, 3, 4], True),
    ],
)
def test_leader_acknowledges_commit_only_with_a_majority(
    size: int, acks: list[int], committed: bool
) -> None:
    """5.3: commit needs the leader plus enough followers for a majority."""
    leader = make_leader(voters=range(1, size + 1))
    index = leader.propose(b"x")
    drain(leader)
    for follower in acks:
        acknowledge(leader, follower, index)
    assert (leader.log.committed >= index) == committed


def test_leader_commit_commits_preceding_entries() -> None:
    """5.3: committing an entry commits every entry before it, even older terms'."""
    leader = make_leader(terms=(1, 1, 2), term=2)
    index = leader.propose(b"x")
    drain(leader)
    out = acknowledge(leader, 2, index)
    assert leader.log.committed == index
    assert [e.index for e in out.committed] == [1, 2, 3, 4, 5]


def test_follower_commits_what_the_leader_committed() -> None:
    """5.3: a follower applies entries up to the leader's commit index."""
    node = make_node(term=1)
    entries = (Entry(1, 1, data=b"a"), Entry(1, 2, data=b"b"))
    node.step(message(M.APP, 2, 1, term=1, index=0, log_term=0, entries=entries, commit=1))
    out = drain(node)
    assert node.log.committed == 1 and [e.data for e in out.committed] == [b"a"]
    assert [(m.type, m.index, m.reject) for m in out.messages] == [(M.APP_RESP, 2, False)]


def test_follower_commit_is_capped_at_the_last_new_entry() -> None:
    """Figure 2, AppendEntries rule 5: commitIndex = min(leaderCommit, index of last
    new entry). Entries beyond the append are a stale tail the leader may not hold
    (here of term 2, where the leader of term 3 has its own): they are not committed
    although the leader's commit index reaches them."""
    node = make_node(terms=(1, 1, 2, 2), term=3)
    entries = (Entry(1, 2, data=b"e2"),)
    node.step(message(M.APP, 2, 1, term=3, index=1, log_term=1, entries=entries, commit=4))
    out = drain(node)
    assert node.log.committed == 2
    assert [(e.index, e.term) for e in out.committed] == [(1, 1), (2, 1)]
    assert [(m.type, m.index, m.reject) for m in out.messages] == [(M.APP_RESP, 2, False)]


@pytest.mark.parametrize(
    ("prev_term", "prev_index", "accepted", "hint"),
    [(0, 0, True, 0), (1, 1, True, 0), (2, 2, True, 0), (1, 2, False, 1), (3, 3, False, 2)],
)
def test_follower_checks_the_previous_entry_before_appending(
    prev_term: int, prev_index: int, accepted: bool, hint: int
) -> None:
    """5.3: the follower refuses an append whose previous entry it lacks, hinting at
    the last index whose term is no newer than the leader's (fast backtracking)."""
    node = make_node(terms=(1, 2), term=2)
    node.step(
        message(
            M.APP,
            2,
            1,
            term=2,
            index=prev_index,
            log_term=prev_term,
            entries=(Entry(2, prev_index + 1),),
        )
    )
    [response] = drain(node).messages
    assert response.reject is not accepted
    assert response.reject_hint == hint


@pytest.mark.parametrize(
    ("prev", "entries", "expected_terms"),
    [
        (2, [Entry(3, 3)], [1, 2, 3]),
        (1, [Entry(3, 2), Entry(4, 3)], [1, 3, 4]),
        (0, [Entry(1, 1)], [1, 2]),
        (0, [Entry(3, 1)], [3]),
    ],
)
def test_follower_replaces_conflicting_entries(
    prev: int, entries: list[Entry], expected_terms: list[int]
) -> None:
    """5.3: an existing entry that conflicts with a new one is deleted with all that
    follow it; entries already present are kept."""
    node = make_node(terms=(1, 2), term=2)
    prev_term = node.log.term(prev) or 0
    node.step(message(M.APP, 2, 1, term=4, index=prev, log_term=prev_term, entries=tuple(entries)))
    drain(node)
    assert [e.term for e in node.log.entries] == expected_terms


@pytest.mark.parametrize(
    "follower_terms",
    [
        (1, 1, 1, 4, 4, 5, 5, 6, 6),  # missing entries
        (1, 1, 1, 4),
        (1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6),  # extra uncommitted entries
        (1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7),
        (1, 1, 1, 4, 4, 4, 4),
        (1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3),  # the paper's figure 7 (f)
    ],
)
def test_leader_brings_a_divergent_follower_log_into_line(follower_terms: tuple[int, ...]) -> None:
    """5.3 (figure 7): the leader finds the last agreeing entry and overwrites the rest."""
    leader_terms = (1, 1, 1, 4, 4, 5, 5, 6, 6, 6)
    leader = make_leader(terms=leader_terms, term=8)
    follower = make_node(2, terms=follower_terms, term=7)
    pending = [*drain(leader).messages, message(M.HEARTBEAT, 1, 2, leader.term)]
    for _ in range(200):
        if not pending:
            break
        current = pending.pop(0)
        if current.to not in (1, 2):
            continue
        (leader if current.to == 1 else follower).step(current)
        pending += drain(leader).messages + drain(follower).messages
    assert [e.term for e in follower.log.entries] == [e.term for e in leader.log.entries]


# -- 5.4 safety ---------------------------------------------------------------------------


def test_vote_requests_carry_last_log_index_and_term() -> None:
    """5.4.1: vote requests include the candidate's last log index and term."""
    node = make_node(terms=(1, 1, 2), term=2)
    node._campaign(transfer=False)
    assert {(m.index, m.log_term) for m in drain(node).of(M.VOTE)} == {(3, 2)}


@pytest.mark.parametrize(
    ("voter_terms", "candidate_index", "candidate_term", "granted"),
    [
        ((1, 1), 2, 1, True),  # same last term, same length
        ((1, 1), 1, 1, False),  # same last term, shorter
        ((1, 1), 1, 2, True),  # higher last term wins over length
        ((1, 1), 3, 1, True),
        ((2,), 1, 1, False),  # lower last term loses
        ((2,), 5, 1, False),
        ((2,), 1, 2, True),
    ],
)
def test_voter_grants_only_to_up_to_date_logs(
    voter_terms: tuple[int, ...], candidate_index: int, candidate_term: int, granted: bool
) -> None:
    """5.4.1: a voter denies its vote to a candidate whose log is less up to date."""
    node = make_node(terms=voter_terms, term=3)
    node.step(message(M.VOTE, 2, 1, term=3, index=candidate_index, log_term=candidate_term))
    [response] = drain(node).messages
    assert response.reject is not granted


def test_leader_only_commits_log_from_current_term() -> None:
    """5.4.2 (figure 8): a leader commits older entries only through one of its term."""
    check_leader_only_commits_current_term_by_counting(paper_config())


def test_a_server_votes_once_per_term() -> None:
    check_single_vote_per_term(paper_config())


def test_stale_term_changes_nothing() -> None:
    check_stale_term_is_rejected(paper_config(check_quorum=True))


def test_append_requires_the_previous_entry_to_match() -> None:
    check_append_requires_matching_previous_entry(paper_config())


# -- persistence ------------------------------------------------------------------------


def test_messages_wait_until_the_state_they_reveal_is_durable() -> None:
    """Figure 2: respond only after term and vote are on stable storage."""
    check_votes_wait_for_durable_term_and_vote(paper_config())


def test_follower_acknowledges_entries_only_once_durable() -> None:
    node = make_node(term=1)
    node.step(message(M.APP, 2, 1, term=1, index=0, entries=(Entry(1, 1),), commit=1))
    first = node.ready()
    assert [e.index for e in first.writes[0].entries] == [1]
    assert first.messages == () and first.committed == ()
    node.persisted(first.writes[0].seq)
    second = node.ready()
    assert [m.type for m in second.messages] == [M.APP_RESP] and [
        e.index for e in second.committed
    ] == [1]


def test_confirmations_may_be_grouped() -> None:
    """Group commit: one confirmation covers every earlier write."""
    node = make_node(term=1)
    seqs = []
    for index in (1, 2, 3):
        node.step(
            message(
                M.APP,
                2,
                1,
                term=1,
                index=index - 1,
                log_term=1 if index > 1 else 0,
                entries=(Entry(1, index),),
            )
        )
        seqs += [w.seq for w in node.ready().writes]
    assert seqs == [1, 2, 3]
    node.persisted(3)
    assert [m.index for m in node.ready().messages] == [1, 2, 3]
    assert node.log.stable == 3


def test_leader_counts_itself_only_for_entries_it_persisted() -> None:
    leader = make_leader()
    leader.propose(b"x")
    ready = leader.ready()  # the write is out but not confirmed
    leader.step(message(M.APP_RESP, 2, 1, leader.term, index=2))
    assert leader.log.committed == 1  # follower 2 has index 2, the leader only index 1 on disk
    leader.persisted(ready.writes[-1].seq)
    assert leader.log.committed == 2


# -- PreVote and CheckQuorum (dissertation 9.6, 6.2) -------------------------------------


def test_pre_vote_does_not_change_the_term() -> None:
    node = make_node(terms=(1,), term=1, config=paper_config(pre_vote=True))
    for _ in range(20):
        node.tick()
    pre_votes = drain(node).of(M.PRE_VOTE)
    assert (node.role, node.term, node.vote) == (Role.PRE_CANDIDATE, 1, NONE)
    assert {m.term for m in pre_votes} == {2}


def test_pre_candidate_becomes_candidate_after_a_majority_of_pre_votes() -> None:
    node = make_node(terms=(1,), term=1, config=paper_config(pre_vote=True))
    node._campaign(transfer=False)
    drain(node)
    node.step(message(M.PRE_VOTE_RESP, 2, 1, term=2))
    assert (node.role, node.term, node.vote) == (Role.CANDIDATE, 2, 1)
    assert len(drain(node).of(M.VOTE)) == 2


@pytest.mark.parametrize(
    ("heard_leader", "candidate_index", "candidate_term", "granted"),
    [
        (False, 2, 2, True),  # as up to date: granted
        (False, 3, 1, False),  # longer but of an older last term: behind
        (False, 1, 2, False),  # same last term, shorter: behind
        (True, 2, 2, True),  # a leader was heard, but longer ago than an election timeout
        (True, 1, 2, False),
    ],
)
def test_pre_vote_is_granted_only_to_an_up_to_date_log(
    heard_leader: bool, candidate_index: int, candidate_term: int, granted: bool
) -> None:
    """Dissertation 9.6: a pre-vote is granted on the same terms as a vote (5.4.1), so
    a candidate whose log is behind cannot even start an election. The voter has not
    heard from a leader within an election timeout, so its lease does not refuse first."""
    voter = make_node(
        2, terms=(1, 2), term=2, config=paper_config(pre_vote=True, check_quorum=True)
    )
    if heard_leader:
        voter.step(message(M.HEARTBEAT, 1, 2, term=2))
        voter.randomized_election_timeout = 2 * voter.config.election_ticks - 1
        for _ in range(voter.config.election_ticks):
            voter.tick()
        assert (voter.role, voter.lead) == (Role.FOLLOWER, 1)
    drain(voter)
    voter.step(message(M.PRE_VOTE, 3, 2, term=3, index=candidate_index, log_term=candidate_term))
    [response] = drain(voter).messages
    assert (response.type, response.to, response.reject) == (M.PRE_VOTE_RESP, 3, not granted)
    assert (voter.term, voter.vote) == (2, NONE)  # a pre-vote changes neither


def test_rejoining_node_does_not_disrupt_a_healthy_leader() -> None:
    """swarmkit#1364: with PreVote, a node back from a partition cannot force an
    election on a leader that still hears a majority."""
    follower = make_node(
        2, terms=(1,), term=1, config=paper_config(pre_vote=True, check_quorum=True)
    )
    follower.step(message(M.HEARTBEAT, 1, 2, term=1))
    drain(follower)
    follower.step(message(M.PRE_VOTE, 3, 2, term=2, index=1, log_term=1))
    assert drain(follower).messages == [] and follower.term == 1


def test_leader_steps_down_when_it_cannot_hear_a_quorum() -> None:
    leader = make_leader(config=paper_config(check_quorum=True))
    for _ in range(leader.config.election_ticks - 1):
        leader.tick()
    assert leader.role is Role.LEADER
    leader.tick()  # one election timeout without a word from any follower
    assert (leader.role, leader.lead) == (Role.FOLLOWER, NONE)


def test_leader_with_a_responsive_quorum_stays() -> None:
    leader = make_leader(voters=(1, 2, 3), config=paper_config(check_quorum=True))
    for _ in range(3 * leader.config.election_ticks):
        leader.tick()
        leader.step(message(M.HEARTBEAT_RESP, 2, 1, leader.term))
        drain(leader)
    assert leader.role is Role.LEADER


# -- log compaction (section 7) ------------------------------------------------------------


def snapshot_at(index: int, term: int, voters: tuple[int, ...] = (1, 2, 3)) -> Snapshot:
    return Snapshot(index=index, term=term, conf=ConfState(voters=frozenset(voters)), data=b"s")


def test_follower_installs_a_snapshot_once_it_is_durable() -> None:
    """7: a follower far behind replaces its log with the leader's snapshot. The
    snapshot is written first; the acknowledgement and the application's restore wait
    for that write, as every message waits for the state it reveals."""
    node = make_node(terms=(1,), term=1)
    snapshot = snapshot_at(5, 1, voters=(1, 2, 3, 4))
    node.step(message(M.SNAP, 2, 1, term=1, snapshot=snapshot))
    first = node.ready()
    assert first.writes == (DurableWrite(1, HardState(term=1, commit=5), (), snapshot, (5, 1)),)
    assert (first.messages, first.snapshot_to_apply, first.committed) == ((), None, ())
    node.persisted(1)
    second = node.ready()
    assert second.snapshot_to_apply == snapshot
    assert [(m.type, m.to, m.index, m.reject) for m in second.messages] == [
        (M.APP_RESP, 2, 5, False)
    ]
    assert (node.log.offset, node.log.last_index(), node.log.applied) == (5, 5, 5)
    assert node.conf == snapshot.conf


def test_log_continues_after_an_installed_snapshot() -> None:
    """7: the snapshot's last index and term stand in for the entries it replaced, so
    the next append is matched against them (5.3)."""
    node = make_node(terms=(1,), term=1)
    node.step(message(M.SNAP, 2, 1, term=1, snapshot=snapshot_at(5, 1)))
    drain(node)
    node.step(message(M.APP, 2, 1, term=1, index=5, log_term=1, entries=(Entry(1, 6),)))
    [response] = drain(node).messages
    assert (response.type, response.index, response.reject) == (M.APP_RESP, 6, False)


def test_follower_answers_a_stale_snapshot_without_restoring() -> None:
    """7: a snapshot at or below the commit index holds nothing new: the follower
    keeps its log, writes nothing, and tells the leader its commit index."""
    node = make_node(terms=(1, 1, 1), term=1, commit=3)
    drain(node)
    node.step(message(M.SNAP, 2, 1, term=1, snapshot=snapshot_at(2, 1)))
    ready = node.ready()
    assert (ready.writes, ready.snapshot_to_apply) == ((), None)
    assert [(m.type, m.index, m.reject) for m in ready.messages] == [(M.APP_RESP, 3, False)]
    assert (node.log.offset, [e.index for e in node.log.entries]) == (0, [1, 2, 3])


def test_snapshot_of_entries_the_follower_has_only_commits_them() -> None:
    """7: if the follower already holds the snapshot's last entry, it keeps its log
    (and what follows) and only learns that the prefix is committed."""
    node = make_node(terms=(1, 1, 1), term=1)
    node.step(message(M.SNAP, 2, 1, term=1, snapshot=snapshot_at(2, 1)))
    first = node.ready()
    assert [(w.hard_state, w.snapshot) for w in first.writes] == [(HardState(1, 0, 2), None)]
    assert (first.snapshot_to_apply, [e.index for e in first.committed]) == (None, [1, 2])
    node.persisted(first.writes[0].seq)
    assert [(m.type, m.index) for m in node.ready().messages] == [(M.APP_RESP, 2)]
    assert node.log.last_index() == 3


def test_leader_sends_a_snapshot_when_the_follower_needs_compacted_entries() -> None:
    """7: entries a follower lacks may be compacted away; the leader sends its snapshot
    instead, sends no appends until the follower reports in, then replicates."""
    config = paper_config(snapshot_keep_entries=0)
    leader = make_leader(terms=(1, 1, 1), term=1, commit=3, config=config)  # no-op at 4
    leader.snapshot(3, b"s")
    drain(leader)
    leader.step(message(M.APP_RESP, 2, 1, leader.term, index=3, reject=True, reject_hint=0))
    [snap] = drain(leader).messages
    assert (snap.type, snap.to, snap.snapshot) == (M.SNAP, 2, leader.log.snapshot)
    assert leader.progress[2].state is ProgressState.SNAPSHOT
    leader.step(message(M.APP_RESP, 2, 1, leader.term, index=3))
    [append] = drain(leader).messages
    assert (append.type, append.index, append.log_term, [e.index for e in append.entries]) == (
        M.APP,
        3,
        1,
        [4],
    )


# -- membership changes (dissertation 4.1) --------------------------------------------------


def settled_leader(voters: tuple[int, ...] = (1, 2, 3), acks: tuple[int, ...] = (2, 3)) -> RaftNode:
    """A leader whose no-op is committed and applied, acknowledged by ``acks``."""
    leader = make_leader(voters=voters)
    for follower in acks:
        acknowledge(leader, follower, 1)
    assert leader.log.applied == 1
    return leader


def test_a_new_leader_changes_no_membership_before_its_first_commit() -> None:
    """4.1 (the single-server change bug): no change until an entry of its term commits."""
    leader = make_leader()
    with pytest.raises(MembershipRefused, match="already in progress"):
        leader.propose_conf_change(ConfChange(ChangeKind.ADD, 4))


def test_leader_adds_progress_when_an_added_voter_is_applied() -> None:
    """4.1: a change takes effect when applied: the leader then tracks the new voter
    and starts probing it at its own last index."""
    leader = settled_leader()
    index = leader.propose_conf_change(ConfChange(ChangeKind.ADD, 4))
    drain(leader)
    assert sorted(leader.progress) == [1, 2, 3]
    with pytest.raises(MembershipRefused, match="already in progress"):
        leader.propose_conf_change(ConfChange(ChangeKind.ADD, 5))
    out = acknowledge(leader, 2, index)
    assert [e.index for e in out.committed] == [index]
    assert (sorted(leader.conf.voters), sorted(leader.progress)) == ([1, 2, 3, 4], [1, 2, 3, 4])
    assert [(m.index, m.log_term, m.commit) for m in out.of(M.APP) if m.to == 4] == [(2, 1, 2)]


def test_leader_drops_progress_of_a_removed_voter_and_refuses_its_return() -> None:
    """4.1: a removed voter leaves the quorum when the removal applies; its id is
    remembered, so re-adding it is refused and the log is unchanged."""
    leader = settled_leader()
    index = leader.propose_conf_change(ConfChange(ChangeKind.REMOVE, 3))
    drain(leader)
    acknowledge(leader, 2, index)
    assert (sorted(leader.conf.voters), sorted(leader.conf.removed)) == ([1, 2], [3])
    assert sorted(leader.progress) == [1, 2]
    with pytest.raises(MembershipRefused, match="3 was removed and cannot rejoin"):
        leader.propose_conf_change(ConfChange(ChangeKind.ADD, 3))
    assert leader.log.last_index() == index


@pytest.mark.parametrize(("removed", "allowed"), [(2, False), (3, False), (4, True), (5, True)])
def test_removal_needs_a_reachable_majority_of_the_new_config(removed: int, allowed: bool) -> None:
    """4.1 / 6.2: with 2 and 3 reachable of 5, removing a reachable voter leaves 2 of 4
    reachable (no quorum): refused; removing an unreachable one leaves 3 of 4."""
    leader = settled_leader(voters=(1, 2, 3, 4, 5), acks=(2, 3))
    change = ConfChange(ChangeKind.REMOVE, removed)
    if allowed:
        assert leader.propose_conf_change(change) == 2
        return
    with pytest.raises(MembershipRefused, match="leave 2 reachable of 4 members"):
        leader.propose_conf_change(change)
    assert leader.log.last_index() == 1


def test_a_leader_that_removes_itself_steps_down_once_applied() -> None:
    """4.2.2: the removed leader steps down when its removal applies; the removal is
    committed, so it is handed out as such and not failed."""
    leader = settled_leader()
    index = leader.propose_conf_change(ConfChange(ChangeKind.REMOVE, 1))
    drain(leader)
    leader.step(message(M.APP_RESP, 2, 1, leader.term, index=index))
    ready = leader.ready()
    assert [e.index for e in ready.committed] == [index]
    assert ready.failed_proposals == ()
    assert (leader.role, sorted(leader.conf.voters)) == (Role.FOLLOWER, [2, 3])


# -- client interaction ---------------------------------------------------------------------


def test_proposal_on_a_follower_fails_naming_the_leader() -> None:
    from core.raft.types import NotLeader

    node = make_node(term=1)
    node.step(message(M.HEARTBEAT, 3, 1, term=1))
    with pytest.raises(NotLeader) as caught:
        node.propose(b"x")
    assert caught.value.leader == 3 and "the leader is 3" in str(caught.value)


def test_outstanding_proposals_fail_when_leadership_is_lost() -> None:
    leader = make_leader()
    index = leader.propose(b"x")
    drain(leader)
    leader.step(message(M.APP, 3, 1, term=leader.term + 1, index=0))
    ready = leader.ready()
    [failure] = ready.failed_proposals
    assert (failure.index, failure.error.leader) == (index, 3)


def test_committed_proposals_do_not_fail_when_leadership_is_lost() -> None:
    """5.3: a committed entry is durable in the cluster whatever happens to the
    leader, so losing leadership fails only what may still be lost: the entry goes
    out as committed, never also as a failure, and later proposals still fail."""
    leader = make_leader()
    acknowledge(leader, 2, 1)
    committed = leader.propose(b"x")
    leader.persisted(leader.ready().writes[-1].seq)
    leader.step(message(M.APP_RESP, 2, 1, leader.term, index=committed))
    uncommitted = leader.propose(b"y")
    leader.step(message(M.APP, 3, 1, term=leader.term + 1, index=0))
    ready = leader.ready()
    assert [e.index for e in ready.committed] == [committed]
    assert [(f.index, f.error.leader) for f in ready.failed_proposals] == [(uncommitted, 3)]
    assert drain(leader).committed == [] and leader.ready().failed_proposals == ()


def test_read_index_waits_for_a_heartbeat_quorum() -> None:
    leader = make_leader()
    acknowledge(leader, 2, 1)
    leader.read_index(b"r1")
    heartbeats = drain(leader).of(M.HEARTBEAT)
    assert {m.context for m in heartbeats} == {b"r1"}
    leader.step(message(M.HEARTBEAT_RESP, 2, 1, leader.term, context=b"r1"))
    [state] = drain(leader).read_states
    assert (state.index, state.context) == (1, b"r1")


def test_quorum_sizes() -> None:
    assert [quorum(n) for n in range(1, 10)] == [1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert committed_index(frozenset({1, 2, 3}), {1: 5, 2: 3, 3: 1}) == 3


@pytest.mark.parametrize(
    ("match", "committed"),
    [
        ({1: 5}, 5),
        ({1: 5, 2: 3}, 3),  # two voters: both must have it
        ({1: 5, 2: 4, 3: 3, 4: 2}, 3),  # four: three must
        ({1: 5, 2: 5, 3: 1, 4: 1}, 1),  # half is not a majority
        ({1: 6, 2: 5, 3: 4, 4: 3, 5: 2, 6: 1}, 3),  # six: four must
        ({1: 9, 2: 9, 3: 9, 4: 2, 5: 2, 6: 2}, 2),
        ({1: 4, 2: 4}, 4),
    ],
)
def test_committed_index_with_any_number_of_voters(match: dict[int, int], committed: int) -> None:
    """5.3: the commit index is the highest that a majority (floor(n/2)+1) hold; for
    an even n, exactly half is not enough."""
    assert committed_index(frozenset(match), match) == committed


@pytest.mark.parametrize(
    ("size", "acks", "committed"),
    [(2, [], False), (2, [2], True), (4, [2], False), (4, [2, 3], True), (6, [2, 3], False)],
)
def test_leader_with_an_even_number_of_voters_needs_more_than_half(
    size: int, acks: list[int], committed: bool
) -> None:
    leader = make_leader(voters=range(1, size + 1))
    index = leader.propose(b"x")
    drain(leader)
    for follower in acks:
        acknowledge(leader, follower, index)
    assert (leader.log.committed >= index) == committed


def test_node_is_deterministic_for_a_seed() -> None:
    def run(seed: int) -> list[Message]:
        node = RaftNode.bootstrap(1, (1, 2, 3), paper_config(), random.Random(seed))
        for _ in range(40):
            node.tick()
        return drain(node).messages

    assert run(1) == run(1)
