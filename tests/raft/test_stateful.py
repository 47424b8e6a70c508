"""Raft under random faults: a Hypothesis state machine over 3 and 5 nodes.

Steps interleave ticks, deliveries (any message in flight, so reordering), drops,
duplicates, partitions (symmetric and one-way), fsyncs, crashes that lose every
write not yet confirmed, restarts, proposals, membership changes and leadership
transfers. After every step the checkers of sim/raft_checks.py must hold: election
safety, leader append-only, log matching, leader completeness, state machine safety,
durable-before-sent and commit-by-current-term. At the end the faults heal and,
within a bounded number of ticks, a leader must exist and a fresh proposal must be
applied on every live member (liveness).

The ``ci`` profile runs it fast; ``nightly`` runs it long. Each mutation switch of
the Raft core must make this run fail with a violation of the property the broken
rule protects (test_stateful_run_catches_each_mutation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from core.raft.config import Mutations, RaftConfig
from core.raft.node import RaftNode
from core.raft.types import ChangeKind, ConfChange, RaftError, Role
from sim.raft_checks import SafetyViolation
from sim.raftnet import RaftNetwork

LIVENESS_TICKS_MAX = 400
NODES_EXTRA_MAX = 2

positions = st.integers(min_value=0, max_value=10_000)
afterwards = st.integers(min_value=0, max_value=10)  # rounds of normal operation after a step


class RaftCluster(RuleBasedStateMachine):
    size: ClassVar[int] = 3
    mutations: ClassVar[Mutations] = Mutations()
    seed: ClassVar[int] = 0

    def __init__(self) -> None:
        super().__init__()
        config = RaftConfig(
            election_ticks=4,
            heartbeat_ticks=1,
            inflight_max=4,
            entries_per_append_max=2,
            snapshot_interval=12,
            snapshot_keep_entries=3,
            mutations=self.mutations,
        )
        self.net = RaftNetwork(range(1, self.size + 1), config, seed=self.seed)
        self.proposals = 0

    # -- helpers -----------------------------------------------------------------------

    def ids(self) -> list[int]:
        return sorted(self.net.hosts)

    def pick(self, position: int, alive: bool | None = True) -> int | None:
        candidates = [
            node_id
            for node_id in self.ids()
            if alive is None or self.net.hosts[node_id].alive is alive
        ]
        return candidates[position % len(candidates)] if candidates else None

    def leader(self) -> int | None:
        return self.net.leader()

    # -- time and messages -------------------------------------------------------------

    @rule(position=positions)
    def tick_one(self, position: int) -> None:
        node = self.pick(position)
        if node is not None:
            self.net.tick(node)

    @rule(rounds=st.integers(1, 6))
    def tick_all(self, rounds: int) -> None:
        for _ in range(rounds):
            self.net.tick()

    @initialize()
    def elect_a_first_leader(self) -> None:
        """Start every run from a working cluster, so faults hit a live protocol."""
        for _ in range(50):
            self.advance(1)
            if self.leader() is not None:
                return

    @rule(rounds=st.integers(1, 20))
    def advance(self, rounds: int) -> None:
        """Normal operation between faults: every node ticks, every message arrives."""
        for _ in range(rounds):
            self.net.tick()
            self.net.deliver_all()

    @precondition(lambda self: self.net.inflight)
    @rule(fate=st.sampled_from(["deliver", "drop", "duplicate"]), position=positions)
    def one_message(self, fate: str, position: int) -> None:
        """Deliver out of order, lose, or duplicate one message in flight."""
        action = {"deliver": self.net.deliver, "drop": self.net.drop}.get(fate, self.net.duplicate)
        action(position % len(self.net.inflight))

    @precondition(lambda self: self.net.inflight)
    @rule(count=st.integers(1, 30))
    def deliver_many(self, count: int) -> None:
        for _ in range(count):
            if not self.net.inflight:
                return
            self.net.deliver()

    @rule(position=positions, all_writes=st.booleans())
    def fsync(self, position: int, all_writes: bool) -> None:
        node = self.pick(position)
        if node is not None:
            self.net.persist(node, None if all_writes else 1)
            self.net.process(node)

    @rule(position=positions)
    def slow_disk(self, position: int) -> None:
        """From now on this node's writes wait for an explicit fsync (and a crash loses
        them): the window in which a node has acted but not yet persisted."""
        node = self.pick(position)
        if node is not None:
            self.net.slow_disks.add(node)

    @rule()
    def fast_disks(self) -> None:
        self.net.slow_disks.clear()
        for node in self.net.alive():
            self.net.persist(node)
            self.net.process(node)

    # -- faults ------------------------------------------------------------------------

    @rule(members=st.sets(positions, min_size=1, max_size=3), then=afterwards)
    def partition(self, members: set[int], then: int) -> None:
        ids = self.ids()
        side = {ids[m % len(ids)] for m in members}
        for a in sorted(side):
            for b in ids:
                if b not in side:
                    self.net.cut(a, b)
        self.advance(then)

    @rule(sender=positions, receiver=positions, then=afterwards)
    def cut_one_way(self, sender: int, receiver: int, then: int) -> None:
        ids = self.ids()
        a, b = ids[sender % len(ids)], ids[receiver % len(ids)]
        if a != b:
            self.net.cut(a, b, both=False)
        self.advance(then)

    @precondition(lambda self: self.leader() is not None)
    @rule(count=st.integers(1, 6), then=afterwards)
    def isolate_leader(self, count: int, then: int) -> None:
        """Jepsen's favourite: cut the leader off and keep writing to it, so that its
        uncommitted tail diverges from what the majority elects and writes next."""
        leader = self.leader()
        assert leader is not None
        self.net.isolate(leader)
        self.propose_on(leader, count)
        self.advance(then)

    @rule(then=afterwards)
    def heal(self, then: int) -> None:
        self.net.heal()
        self.advance(then)

    @rule(position=positions, then=afterwards)
    def crash(self, position: int, then: int) -> None:
        node = self.pick(position)
        if node is not None:
            self.net.crash(node)
        self.advance(then)

    @rule(position=positions, then=afterwards)
    def restart(self, position: int, then: int) -> None:
        node = self.pick(position, alive=False)
        if node is not None:
            self.net.restart(node)
        self.advance(then)

    # -- requests ----------------------------------------------------------------------

    @precondition(lambda self: self.leader() is not None)
    @rule(count=st.integers(1, 6), position=positions, then=afterwards)
    def propose(self, count: int, position: int, then: int) -> None:
        """Propose on any node that believes it leads, a stale one cut off in a
        minority included: its uncommitted entries are what log repair must undo."""
        leaders = self.net.leaders()
        self.propose_on(leaders[position % len(leaders)], count)
        self.advance(then)

    def propose_on(self, node: int, count: int) -> None:
        """Up to ``count`` fresh proposals; stops at the first refusal."""
        for _ in range(count):
            self.proposals += 1
            try:
                self.net.propose(node, f"p{self.proposals}".encode())
            except RaftError:
                return

    def leader_acts(self, action: Callable[[RaftNode], None], then: int) -> bool:
        """Run ``action`` on the current leader; refusals are fine (the rule is a no-op)."""
        leader = self.leader()
        assert leader is not None
        try:
            action(self.net.hosts[leader].raft)
        except RaftError:
            return False
        self.net.process(leader)
        self.advance(then)
        return True

    @precondition(
        lambda self: (
            self.leader() is not None and len(self.net.hosts) < RaftCluster.size + NODES_EXTRA_MAX
        )
    )
    @rule(then=afterwards)
    def add_member(self, then: int) -> None:
        def add(raft: RaftNode) -> None:
            new_id = max(self.net.hosts) + 1
            raft.propose_conf_change(ConfChange(ChangeKind.ADD, new_id))
            self.net.add_host(new_id)

        self.leader_acts(add, then)

    @precondition(lambda self: self.leader() is not None)
    @rule(position=positions, then=afterwards)
    def remove_member(self, position: int, then: int) -> None:
        def remove(raft: RaftNode) -> None:
            voters = sorted(raft.conf.voters)
            if len(voters) > 2:
                raft.propose_conf_change(
                    ConfChange(ChangeKind.REMOVE, voters[position % len(voters)])
                )

        self.leader_acts(remove, then)

    @precondition(lambda self: self.leader() is not None)
    @rule(position=positions, then=afterwards)
    def transfer_leadership(self, position: int, then: int) -> None:
        def transfer(raft: RaftNode) -> None:
            voters = sorted(raft.conf.voters)
            raft.transfer_leadership(voters[position % len(voters)])

        self.leader_acts(transfer, then)

    # -- checks ------------------------------------------------------------------------

    @invariant()
    def logs_match(self) -> None:
        alive = [(node_id, self.net.hosts[node_id].raft) for node_id in self.net.alive()]
        self.net.checker.check_logs(alive)

    def teardown(self) -> None:
        self.check_liveness()

    def check_liveness(self) -> None:
        """Heal everything; a leader must emerge and replicate a fresh proposal."""
        net = self.net
        net.heal()
        net.filters.clear()
        net.slow_disks.clear()
        for node_id in self.ids():
            if not net.hosts[node_id].alive:
                net.restart(node_id)
        for node_id in net.alive():
            net.persist(node_id)
            net.process(node_id)
        net.deliver_all()
        final_index = None
        for _ in range(LIVENESS_TICKS_MAX):
            net.tick()
            net.deliver_all()
            self.logs_match()
            leader = net.leader()
            if leader is None:
                continue
            raft = net.hosts[leader].raft
            if final_index is None:
                try:
                    final_index = net.propose(leader, b"final")
                except RaftError:
                    continue
                net.deliver_all()
            members = sorted(raft.conf.voters)
            if all(net.hosts[m].applied_index >= final_index for m in members):
                return
        states = {
            n: (h.raft.role.value, h.raft.term, h.applied_index) for n, h in net.hosts.items()
        }
        raise AssertionError(f"no progress after {LIVENESS_TICKS_MAX} ticks once healed: {states}")


class FiveNodeRaftCluster(RaftCluster):
    size = 5


TestThreeNodes = RaftCluster.TestCase
TestThreeNodes.settings = settings(stateful_step_count=60)
TestFiveNodes = FiveNodeRaftCluster.TestCase
TestFiveNodes.settings = settings(stateful_step_count=60)


def machine_with(mutation: str, size: int) -> type[RaftCluster]:
    return type(
        f"Mutated{size}_{mutation}",
        (RaftCluster,),
        {"size": size, "mutations": Mutations(**{mutation: True})},
    )


# The property each mutation's run breaks first (measured with 3 and 5 nodes): the
# checker that names the broken rule, so a run that fails for another reason (a crash in
# the core, lost liveness) does not pass for a caught mutation.
EXPECTED_PROPERTIES: dict[str, frozenset[str]] = {
    "grant_two_votes_per_term": frozenset({"election safety"}),
    "commit_old_term_by_counting": frozenset({"commit by current term"}),
    "send_before_persist": frozenset({"durable before sent"}),
    # 3 nodes: a stale append is acknowledged in a term the disk lacks; 5 nodes: a
    # stale leader's append makes a node follow a second leader of the term.
    "accept_stale_term": frozenset({"durable before sent", "election safety"}),
    # appending without matching the previous entry breaks log matching itself, and
    # the applied state machines diverge after it: whichever the run meets first
    "skip_log_matching": frozenset({"log matching", "state machine safety"}),
}


def leaf_errors(error: BaseException) -> list[BaseException]:
    """The errors inside ``error``: Hypothesis re-raises the failing step's exception,
    but may wrap failures in an ExceptionGroup (several bugs, or a flaky one)."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaf_errors(inner)]
    return [error]


#: Examples per mutated run. Which steps a derandomized stateful run explores still
#: shifts with the Hypothesis tests that ran before it in the process (cause not
#: found); at 200, ``accept_stale_term`` on 3 nodes survived one such ordering, so the
#: budget leaves room for the weakest mutation under any ordering seen.
MUTATION_EXAMPLES = 500


def run_mutated(mutation: str, size: int) -> Exception | None:
    """The error that the ci-sized random run of a mutated cluster ends with."""
    try:
        run_state_machine_as_test(
            machine_with(mutation, size),
            settings=settings(
                max_examples=MUTATION_EXAMPLES,
                stateful_step_count=60,
                phases=[Phase.generate],
                database=None,
                derandomize=True,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                report_multiple_bugs=False,
            ),
        )
    except Exception as error:  # judged by the caller: only expected violations pass
        return error
    return None


def test_every_mutation_switch_has_expected_properties() -> None:
    assert set(EXPECTED_PROPERTIES) == set(Mutations.__dataclass_fields__)


def test_exception_groups_are_unwrapped() -> None:
    inner = SafetyViolation("election safety", "two leaders")
    group = ExceptionGroup("bugs", [inner, ExceptionGroup("more", [ValueError("x")])])
    assert [type(e) for e in leaf_errors(group)] == [SafetyViolation, ValueError]
    assert leaf_errors(inner) == [inner]


@pytest.mark.parametrize("size", [3, 5])
@pytest.mark.parametrize("mutation", sorted(EXPECTED_PROPERTIES))
def test_stateful_run_catches_each_mutation(mutation: str, size: int) -> None:
    """With one Raft rule broken, the ci-sized random run must end in a safety
    violation of the property that rule protects, not in just any error."""
    error = run_mutated(mutation, size)
    assert error is not None, f"mutation {mutation} survived the {size}-node stateful run"
    leaves = leaf_errors(error)
    expected = EXPECTED_PROPERTIES[mutation]
    assert all(isinstance(e, SafetyViolation) and e.property in expected for e in leaves), (
        f"mutation {mutation} ({size} nodes) should break {sorted(expected)}; "
        f"the run ended with {leaves!r}"
    )


def test_roles_are_reported_consistently() -> None:
    """Sanity: a fresh cluster elects exactly one leader in bounded ticks."""
    net = RaftNetwork([1, 2, 3], RaftConfig(election_ticks=4), seed=3)
    for _ in range(40):
        net.tick()
        net.deliver_all()
    assert [net.hosts[n].raft.role for n in net.leaders()] == [Role.LEADER]


def test_a_node_removed_while_it_campaigns_cannot_win() -> None:
    """Found by the nightly profile: with a slow disk, a node's own removal commits
    while it campaigns and applies only once durable; the votes that arrive after
    that must not make a non-member leader."""
    state = RaftCluster()
    state.elect_a_first_leader()
    state.add_member(then=1)
    state.add_member(then=3)
    state.slow_disk(position=233)
    state.remove_member(position=4, then=1)
    state.remove_member(position=1, then=1)
    state.remove_member(position=92, then=1)
    state.cut_one_way(receiver=0, sender=2382, then=8)
    state.teardown()
