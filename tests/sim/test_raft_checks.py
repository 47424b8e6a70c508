"""Each check of sim/raft_checks.py, caught in the act and left alone next to it.

The simulator's verdict "no safety violation in N seeds" is worth only what its
checks are worth: a checker that never fires proves nothing, and one that fires on
legal runs gets switched off. So each test here puts nodes in a given state (real
RaftNodes, built with tests/raft/support.py), feeds :class:`RaftChecker` one input,
and expects either the exact :class:`SafetyViolation` or silence; the legal
situation next to each violation is tested beside it, so that a check loosened or
tightened by a later change fails here first.
"""

from __future__ import annotations

import re

import pytest

from core.raft.config import RaftConfig
from core.raft.node import RaftNode
from core.raft.storage import PersistentState
from core.raft.types import (
    NONE,
    ChangeKind,
    ConfChange,
    DurableWrite,
    Entry,
    HardState,
    Message,
    Role,
    Snapshot,
)
from sim.raft_checks import RaftChecker, SafetyViolation
from sim.raftnet import RaftNetwork
from tests.raft.support import (
    M,
    acknowledge,
    drain,
    make_leader,
    make_node,
    message,
    paper_config,
    with_mutation,
)


def exactly(text: str) -> str:
    return f"^{re.escape(text)}$"


def starts(text: str) -> str:
    return f"^{re.escape(text)}"


# -- election safety ----------------------------------------------------------------------


def test_two_nodes_leading_one_term_violate_election_safety() -> None:
    checker = RaftChecker()
    checker.on_state(1, make_leader(1, term=1))
    with pytest.raises(
        SafetyViolation, match=exactly("election safety: nodes 1 and 2 both lead term 2")
    ):
        checker.on_state(2, make_leader(2, term=1))


def test_one_leader_reported_twice_and_leaders_of_other_terms_are_legal() -> None:
    checker = RaftChecker()
    leader = make_leader(1, term=1)
    checker.on_state(1, leader)
    checker.on_state(1, leader)
    checker.on_state(2, make_leader(2, term=2))
    assert checker.leaders == {2: 1, 3: 2}


def test_following_another_node_than_the_terms_leader_violates_election_safety() -> None:
    checker = RaftChecker()
    checker.on_state(1, make_leader(1, term=1))
    follower = make_node(3, term=2)
    follower.step(message(M.HEARTBEAT, 2, 3, term=2))
    assert (follower.role, follower.lead) == (Role.FOLLOWER, 2)
    with pytest.raises(
        SafetyViolation,
        match=exactly("election safety: node 3 follows 2 in term 2, whose leader is 1"),
    ):
        checker.on_state(3, follower)


def test_following_the_terms_leader_or_a_leader_not_yet_seen_is_legal() -> None:
    checker = RaftChecker()
    checker.on_state(1, make_leader(1, term=1))
    follower = make_node(3, term=2)
    follower.step(message(M.HEARTBEAT, 1, 3, term=2))
    checker.on_state(3, follower)
    follower.step(message(M.HEARTBEAT, 2, 3, term=3))  # term 3: no leader reported yet
    assert (follower.term, follower.lead) == (3, 2)
    checker.on_state(3, follower)
    assert checker.leaders == {2: 1}


# -- leader append-only --------------------------------------------------------------------


def test_a_leader_overwriting_its_newest_entry_violates_leader_append_only() -> None:
    checker = RaftChecker()
    leader = make_leader(terms=(1, 1), term=1)  # term 2, log terms [1, 1, 2]
    checker.on_state(1, leader)
    leader.log.append([Entry(term=1, index=3, data=b"stale")])
    with pytest.raises(
        SafetyViolation,
        match=exactly(
            "leader append-only: leader 1 of term 2 changed its entry at 3 from term 2 to 1"
        ),
    ):
        checker.on_state(1, leader)


def test_a_leader_deleting_entries_violates_leader_append_only() -> None:
    checker = RaftChecker()
    leader = make_leader(terms=(1, 1), term=1)
    checker.on_state(1, leader)
    acknowledge(leader, 2, 3)
    leader.propose(b"x")
    checker.on_state(1, leader)  # its newest entry is now 4
    assert (leader.log.committed, leader.log.last_index()) == (3, 4)
    leader.log.discard_uncommitted()
    with pytest.raises(
        SafetyViolation,
        match=exactly(
            "leader append-only: leader 1 of term 2 changed its entry at 4 from term 2 to None"
        ),
    ):
        checker.on_state(1, leader)


def test_a_leader_appending_and_committing_is_legal() -> None:
    checker = RaftChecker()
    leader = make_leader(terms=(1, 1), term=1)
    checker.on_state(1, leader)
    leader.propose(b"x")
    leader.propose(b"y")
    checker.on_state(1, leader)
    acknowledge(leader, 2, 5)
    checker.on_state(1, leader)
    assert (leader.log.committed, leader.log.last_index()) == (5, 5)


# -- commit by current term ----------------------------------------------------------------


def test_a_leader_committing_an_older_term_entry_by_counting_is_caught() -> None:
    checker = RaftChecker()
    leader = make_leader(terms=(1, 1), term=1, config=with_mutation("commit_old_term_by_counting"))
    checker.on_state(1, leader)
    acknowledge(leader, 2, 2)  # a majority (1 and 2) holds index 2, of term 1
    assert leader.log.committed == 2
    with pytest.raises(
        SafetyViolation,
        match=exactly(
            "commit by current term: leader 1 of term 2 committed index 2 of term 1 "
            "by counting replicas"
        ),
    ):
        checker.on_state(1, leader)


def test_a_leader_committing_its_own_term_entry_and_so_older_ones_is_legal() -> None:
    checker = RaftChecker()
    leader = make_leader(terms=(1, 1), term=1)
    checker.on_state(1, leader)
    acknowledge(leader, 2, 2)
    assert leader.log.committed == 0  # 5.4.2: index 2 is of term 1, not counted
    checker.on_state(1, leader)
    acknowledge(leader, 2, 3)
    assert leader.log.committed == 3  # its no-op, and with it indexes 1 and 2
    checker.on_state(1, leader)


# -- leader completeness -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("leader_terms", "missing"),
    [
        ((1,), "index 2 (term 1); its log has term 2 there"),
        ((), "index 1 (term 1); its log has term 2 there"),
    ],
)
def test_a_new_leader_lacking_an_applied_entry_violates_leader_completeness(
    leader_terms: tuple[int, ...], missing: str
) -> None:
    checker = RaftChecker()
    donor = make_node(2, terms=(1, 1))
    for index in (1, 2):
        checker.on_apply(2, donor.log.entry(index))
    leader = make_leader(1, terms=leader_terms, term=1)  # its no-op of term 2 follows
    with pytest.raises(
        SafetyViolation,
        match=exactly(f"leader completeness: leader 1 of term 2 lacks committed {missing}"),
    ):
        checker.on_state(1, leader)


def test_a_new_leader_holding_every_applied_entry_is_legal() -> None:
    checker = RaftChecker()
    donor = make_node(2, terms=(1, 1))
    for index in (1, 2):
        checker.on_apply(2, donor.log.entry(index))
    checker.on_state(1, make_leader(1, terms=(1, 1), term=1))


def test_a_new_leader_holding_applied_entries_only_in_its_snapshot_is_legal() -> None:
    checker = RaftChecker()
    donor = make_node(2, terms=(1, 1))
    for index in (1, 2):
        checker.on_apply(2, donor.log.entry(index))
    node = make_node(
        1, terms=(1, 1), term=1, commit=2, config=paper_config(snapshot_keep_entries=0)
    )
    drain(node)  # applies 1 and 2
    node.snapshot(2, b"state")
    node._become_candidate()
    node._become_leader()
    drain(node)
    assert (node.log.offset, node.log.term(1), node.role) == (2, None, Role.LEADER)
    checker.on_state(1, node)


# -- state machine safety ------------------------------------------------------------------


def test_two_entries_applied_at_one_index_violate_state_machine_safety() -> None:
    checker = RaftChecker()
    checker.on_apply(1, make_node(1, terms=(1, 1)).log.entry(2))
    with pytest.raises(
        SafetyViolation,
        match=exactly(
            "state machine safety: node 2 applied (term 2, normal, b'e2') at index 2; "
            "another node applied (term 1, normal, b'e2')"
        ),
    ):
        checker.on_apply(2, make_node(2, terms=(1, 2)).log.entry(2))


def test_entries_of_one_term_with_different_data_at_one_index_violate_it() -> None:
    checker = RaftChecker()
    checker.on_apply(1, Entry(term=1, index=2, data=b"a"))
    with pytest.raises(
        SafetyViolation,
        match=exactly(
            "state machine safety: node 3 applied (term 1, normal, b'b') at index 2; "
            "another node applied (term 1, normal, b'a')"
        ),
    ):
        checker.on_apply(3, Entry(term=1, index=2, data=b"b"))


def test_one_entry_applied_by_several_nodes_or_twice_is_legal() -> None:
    checker = RaftChecker()
    entry = make_node(terms=(1, 1)).log.entry(2)
    for node_id in (1, 2, 3, 1):
        checker.on_apply(node_id, entry)
    assert checker.committed == {2: entry}


# -- log matching ----------------------------------------------------------------------------


def test_one_index_and_term_holding_different_entries_violates_log_matching() -> None:
    checker = RaftChecker()
    first = make_node(1, terms=(1, 1))
    second = make_node(2, terms=(1,))
    second.log.append([Entry(term=1, index=2, data=b"forged")])
    with pytest.raises(
        SafetyViolation,
        match=exactly(
            "log matching: nodes 2 and 1 both hold index 2 of term 1, but different entries: "
            "(term 1, normal, b'forged') and (term 1, normal, b'e2')"
        ),
    ):
        checker.check_logs([(1, first), (2, second)])


def test_one_index_and_term_after_different_terms_violates_log_matching() -> None:
    checker = RaftChecker()
    first = make_node(1, terms=(1, 2))
    second = make_node(2, terms=(2, 2))  # entry (2, term 2) is identical in both logs
    assert first.log.entry(2) == second.log.entry(2)
    with pytest.raises(
        SafetyViolation,
        match=exactly(
            "log matching: nodes 2 and 1 both hold index 2 of term 2, "
            "but after entries of terms 2 and 1"
        ),
    ):
        checker.check_logs([(1, first), (2, second)])


def test_logs_sharing_a_prefix_checked_again_unchanged_are_legal() -> None:
    checker = RaftChecker()
    nodes = [(1, make_node(1, terms=(1, 1, 2))), (2, make_node(2, terms=(1, 1))), (3, make_node(3))]
    for _ in range(3):
        checker.check_logs(nodes)


def test_a_suffix_replaced_by_a_new_leaders_entries_is_legal_and_checked() -> None:
    checker = RaftChecker()
    old = make_node(1, terms=(1, 1, 1))  # entries 2 and 3 of term 1 never committed
    checker.check_logs([(1, old), (2, make_node(2, terms=(1, 1)))])
    leader = make_leader(3, terms=(1,), term=1)  # term 2: [1, 2]
    leader.propose(b"x")  # [1, 2, 2]
    old.step(message(M.APP, 3, 1, term=2, index=1, log_term=1, entries=leader.log.slice(2, 4)))
    assert [old.log.term(i) for i in (1, 2, 3)] == [1, 2, 2]
    checker.check_logs([(1, old)])
    checker.check_logs([(1, old)])
    # The new suffix was recorded: a log holding (2, term 2) otherwise is caught.
    forger = make_node(4, terms=(1,))
    forger.log.append([Entry(term=2, index=2, data=b"forged")])
    with pytest.raises(
        SafetyViolation,
        match=exactly(
            "log matching: nodes 4 and 1 both hold index 2 of term 2, but different entries: "
            "(term 2, normal, b'forged') and (term 2, normal, b'')"
        ),
    ):
        checker.check_logs([(4, forger)])


def test_an_entry_appended_between_calls_is_checked() -> None:
    checker = RaftChecker()
    first, second = make_node(1, terms=(1, 1, 1)), make_node(2, terms=(1, 1))
    checker.check_logs([(1, first), (2, second)])
    checker.check_logs([(1, first), (2, second)])
    second.log.append([Entry(term=1, index=3, data=b"other")])
    with pytest.raises(
        SafetyViolation,
        match=exactly(
            "log matching: nodes 2 and 1 both hold index 3 of term 1, but different entries: "
            "(term 1, normal, b'other') and (term 1, normal, b'e3')"
        ),
    ):
        checker.check_logs([(1, first), (2, second)])


def test_a_suffix_replaced_between_calls_after_another_term_is_checked() -> None:
    checker = RaftChecker()
    first, second = make_node(1, terms=(1, 2, 2)), make_node(2, terms=(1, 1, 1))
    checker.check_logs([(1, first), (2, second)])
    second.log.append([first.log.entry(3)])  # (3, term 2), now after an entry of term 1
    with pytest.raises(
        SafetyViolation,
        match=exactly(
            "log matching: nodes 2 and 1 both hold index 3 of term 2, "
            "but after entries of terms 1 and 2"
        ),
    ):
        checker.check_logs([(1, first), (2, second)])


# -- force-new-cluster ------------------------------------------------------------------------


def _forced(node_id: int, source: RaftNode) -> RaftNode:
    """``source``'s disk restarted as a cluster of one (``--force-new-cluster``)."""
    disk = PersistentState(
        hard_state=source.hard_state(), snapshot=source.log.snapshot, entries=source.log.entries
    )
    return RaftNode.force_new_cluster(node_id, source.config, source.rng, disk)


def test_a_log_rewritten_by_force_new_cluster_is_legal_and_checked_afresh() -> None:
    """etcd's force-new-cluster drops uncommitted entries and writes its own at the
    same indexes and term: the checker forgets what it saw above the reset, then checks
    the new cluster's log from there (a copy differing from it is still caught)."""
    checker = RaftChecker()
    lost = make_node(1, terms=(1, 1, 1))  # indexes 2 and 3 never committed
    survivor = make_node(2, terms=(1, 1), commit=1)
    checker.check_logs([(1, lost), (2, survivor)])
    forced = _forced(2, survivor)
    assert forced.log_reset_above == 1 and forced.log.term(2) == 1
    checker.on_state(2, forced)
    checker.check_logs([(2, forced)])
    joiner = make_node(4, terms=(1,))
    joiner.log.append(forced.log.slice(2, forced.log.last_index() + 1))  # a new member's copy
    checker.check_logs([(2, forced), (4, joiner)])
    forger = make_node(5, terms=(1,))
    forger.log.append([Entry(term=1, index=2, data=b"forged")])
    with pytest.raises(SafetyViolation, match=starts("log matching: nodes 5 and 2")):
        checker.check_logs([(5, forger)])


def test_without_a_reset_the_same_rewrite_violates_log_matching() -> None:
    """The rewrite is a violation for any other cause: only the reset excuses it."""
    checker = RaftChecker()
    lost, survivor = make_node(1, terms=(1, 1, 1)), make_node(2, terms=(1, 1), commit=1)
    checker.check_logs([(1, lost), (2, survivor)])
    forced = _forced(2, survivor)
    forced.log_reset_above = None
    checker.on_state(2, forced)
    with pytest.raises(SafetyViolation, match=starts("log matching: nodes 2 and 1")):
        checker.check_logs([(2, forced)])


def test_force_new_cluster_then_a_new_member_passes_every_checker() -> None:
    """A survivor that never saw the old leader's last entries is forced into a new
    cluster, which then adds a member: every property holds at every step."""
    net = RaftNetwork([1, 2, 3], RaftConfig(), seed=3)
    net.elect(1)
    net.stabilize()
    net.cut(1, 2)
    for i in range(3):
        net.propose(1, f"lost{i}".encode())  # reaches 3 only: committed, 2 never sees it
    net.stabilize()
    everyone = lambda: [(n, net.hosts[n].raft) for n in net.alive()]  # noqa: E731
    net.checker.check_logs(everyone())
    for node_id in (1, 2, 3):
        net.crash(node_id)
    net.heal()
    net.restart(2, force_new_cluster=True)
    assert net.hosts[2].raft.role is Role.LEADER
    net.stabilize(ticks=2)
    net.checker.check_logs(everyone())
    net.hosts[2].raft.propose_conf_change(ConfChange(ChangeKind.ADD, 4))
    net.add_host(4)
    net.process(2)
    for _ in range(10):
        net.stabilize(ticks=1)
        net.checker.check_logs(everyone())
    index = net.propose(2, b"after")
    net.stabilize(ticks=2)
    net.checker.check_logs(everyone())
    assert net.hosts[2].raft.conf.voters == {2, 4}
    assert net.hosts[4].applied_index >= index


# -- durable before sent ---------------------------------------------------------------------


def disk_of(term: int, vote: int = NONE, entries: int = 0) -> PersistentState:
    return PersistentState(
        hard_state=HardState(term=term, vote=vote),
        entries=[Entry(term=term, index=i) for i in range(1, entries + 1)],
    )


@pytest.mark.parametrize(
    "sent",
    [
        message(M.APP, 1, 2, term=3),
        message(M.APP_RESP, 1, 2, term=3),
        message(M.VOTE, 1, 2, term=3),
        message(M.VOTE_RESP, 1, 2, term=3),
        message(M.HEARTBEAT, 1, 2, term=3),
        message(M.PRE_VOTE_RESP, 1, 2, term=3, reject=True),
    ],
    ids=lambda m: f"{m.type.value}{'-reject' if m.reject else ''}",
)
def test_a_term_beyond_the_disks_is_caught(sent: Message) -> None:
    with pytest.raises(
        SafetyViolation,
        match=exactly(
            f"durable before sent: node 1 sent {sent.type.value}: term 3 with term 2 on disk"
        ),
    ):
        RaftChecker().on_send(sent, disk_of(2))


@pytest.mark.parametrize(
    "sent",
    [
        message(M.PRE_VOTE, 1, 2, term=3),
        message(M.PRE_VOTE_RESP, 1, 2, term=3),
        message(M.APP, 1, 2, term=2),
        message(M.HEARTBEAT_RESP, 1, 2, term=1),
    ],
    ids=lambda m: f"{m.type.value}-term-{m.term}",
)
def test_pre_votes_of_a_future_term_and_terms_on_disk_are_legal(sent: Message) -> None:
    RaftChecker().on_send(sent, disk_of(2))


@pytest.mark.parametrize("recorded", [NONE, 3])
def test_a_granted_vote_not_recorded_on_disk_is_caught(recorded: int) -> None:
    with pytest.raises(
        SafetyViolation,
        match=exactly(
            "durable before sent: node 1 sent vote-resp: a vote for 2 in term 3 before "
            f"recording it (disk: term 3, vote {recorded})"
        ),
    ):
        RaftChecker().on_send(message(M.VOTE_RESP, 1, 2, term=3), disk_of(3, vote=recorded))


@pytest.mark.parametrize(
    ("sent", "disk"),
    [
        (message(M.VOTE_RESP, 1, 2, term=3), disk_of(3, vote=2)),
        (message(M.VOTE_RESP, 1, 2, term=3), disk_of(4)),  # a later term was written after
        (message(M.VOTE_RESP, 1, 2, term=3, reject=True), disk_of(3, vote=3)),
    ],
    ids=["recorded", "later-term-on-disk", "rejected"],
)
def test_a_vote_on_disk_or_not_granted_is_legal(sent: Message, disk: PersistentState) -> None:
    RaftChecker().on_send(sent, disk)


def test_an_acknowledgement_beyond_the_disks_log_is_caught() -> None:
    with pytest.raises(
        SafetyViolation,
        match=exactly(
            "durable before sent: node 1 sent app-resp: index 3 acknowledged with 2 on disk"
        ),
    ):
        RaftChecker().on_send(message(M.APP_RESP, 1, 2, term=2, index=3), disk_of(2, entries=2))


@pytest.mark.parametrize(
    ("sent", "disk"),
    [
        (message(M.APP_RESP, 1, 2, term=2, index=3), disk_of(2, entries=3)),
        (message(M.APP_RESP, 1, 2, term=2, index=3), disk_of(3, entries=2)),  # truncated later
        (message(M.APP_RESP, 1, 2, term=2, index=3, reject=True), disk_of(2, entries=2)),
        (
            message(M.APP_RESP, 1, 2, term=2, index=3),
            PersistentState(
                hard_state=HardState(term=2), snapshot=Snapshot(index=3, term=2), offset=3
            ),
        ),
        (  # a snapshot recorded beyond the stored entries covers them as well
            message(M.APP_RESP, 1, 2, term=2, index=3),
            PersistentState(hard_state=HardState(term=2), snapshot=Snapshot(index=3, term=2)),
        ),
    ],
    ids=["on-disk", "later-term-on-disk", "rejected", "compacted", "snapshot-beyond-entries"],
)
def test_an_acknowledgement_on_disk_or_rejecting_is_legal(
    sent: Message, disk: PersistentState
) -> None:
    RaftChecker().on_send(sent, disk)


# The same contract on real nodes: a driver that sends what ready() releases at once
# and applies writes to the disk only when it fsyncs (as sim/raftnet.py does).

INPUTS = {
    "term": (1, message(M.VOTE, 2, 1, term=2), "term 2 with term 1 on disk"),
    "vote": (
        2,
        message(M.VOTE, 2, 1, term=2),
        "a vote for 2 in term 2 before recording it (disk: term 2, vote 0)",
    ),
    "ack": (
        2,
        message(M.APP, 2, 1, term=2, entries=(Entry(term=2, index=1),)),
        "index 1 acknowledged with 0 on disk",
    ),
}


def fsync(node: RaftNode, disk: PersistentState, writes: list[DurableWrite]) -> None:
    for write in writes:
        disk.apply(write)
    node.persisted(writes[-1].seq)


@pytest.mark.parametrize("case", sorted(INPUTS))
def test_a_node_that_sends_before_persisting_is_caught(case: str) -> None:
    term, received, problem = INPUTS[case]
    node = make_node(1, term=term, config=with_mutation("send_before_persist"))
    disk = disk_of(term)
    node.step(received)
    [sent] = node.ready().messages
    with pytest.raises(
        SafetyViolation,
        match=exactly(f"durable before sent: node 1 sent {sent.type.value}: {problem}"),
    ):
        RaftChecker().on_send(sent, disk)


@pytest.mark.parametrize("case", sorted(INPUTS))
def test_a_node_that_persists_before_sending_is_legal(case: str) -> None:
    term, received, _ = INPUTS[case]
    node, disk, checker = make_node(1, term=term), disk_of(term), RaftChecker()
    node.step(received)
    ready = node.ready()
    assert not ready.messages  # held until the write is durable
    fsync(node, disk, list(ready.writes))
    [sent] = node.ready().messages
    checker.on_send(sent, disk)


def test_answers_held_while_a_later_term_rewrote_the_disk_are_legal() -> None:
    """A vote and an acknowledgement of term 2 leave after writes of term 3 (a new
    vote, a truncated log) are durable: the disk no longer shows them, but each was
    durable before the later write replaced it."""
    node, disk, checker = make_node(1, term=1), disk_of(1), RaftChecker()
    node.step(message(M.VOTE, 2, 1, term=2))
    three = tuple(Entry(term=2, index=i) for i in (1, 2, 3))
    node.step(message(M.APP, 2, 1, term=2, entries=three))
    writes = list(node.ready().writes)
    node.step(message(M.VOTE, 3, 1, term=3, index=3, log_term=2))
    node.step(message(M.APP, 3, 1, term=3, index=1, log_term=2, entries=(Entry(3, 2),)))
    ready = node.ready()
    assert not ready.messages
    fsync(node, disk, [*writes, *ready.writes])
    assert (disk.hard_state.term, disk.hard_state.vote, disk.last_index()) == (3, 3, 2)
    sent = node.ready().messages
    assert [(m.type, m.to, m.term, m.index, m.reject) for m in sent] == [
        (M.VOTE_RESP, 2, 2, 0, False),
        (M.APP_RESP, 2, 2, 3, False),
        (M.VOTE_RESP, 3, 3, 0, False),
        (M.APP_RESP, 3, 3, 2, False),
    ]
    for m in sent:
        checker.on_send(m, disk)
