"""Online checkers for Raft's safety properties, fed by a driver as a run proceeds.

The five properties of the Raft paper (figure 3):

- **election safety**: at most one leader per term;
- **leader append-only**: a leader never overwrites or deletes entries in its log;
- **log matching**: two logs with an entry of the same index and term are
  identical up to that index;
- **leader completeness**: a committed entry is in the log of every later leader;
- **state machine safety**: no two nodes apply different entries at one index.

And two contracts the implementation promises, checked as directly:

- **durable before sent**: a message never reveals state that is not on disk (a
  term, a granted vote, acknowledged entries);
- **commit by current term**: a leader moves its commit index only to an entry of its
  own term (5.4.2); followers learn commits, they never count.

Every check raises :class:`SafetyViolation` naming the property, the nodes and the
indexes involved, so that a failing seed says what broke.

``--force-new-cluster`` breaks these properties on purpose: the survivor drops its
uncommitted entries (committed elsewhere, perhaps) and writes its own at the same
indexes and term, as etcd does. The checker forgets what it knew above the point of
the reset as soon as it sees a node so reset (:attr:`RaftNode.log_reset_above`), or
when a driver tells it (:meth:`RaftChecker.on_log_reset`).
"""

from __future__ import annotations

from collections.abc import Iterable

from core.errors import InvariantViolation
from core.raft.codec import entry_bytes
from core.raft.node import RaftNode
from core.raft.storage import PersistentState
from core.raft.types import NONE, Entry, Message, MessageType, NodeId, Role


class SafetyViolation(InvariantViolation):
    """A broken property: a verdict on the run. Rebuildable from its args (see
    :class:`~core.errors.Rebuildable`), as SimPy re-raises it."""

    def __init__(self, prop: str, detail: str) -> None:
        self.property = prop
        self.detail = detail
        super().__init__(f"{prop}: {detail}")


class RaftChecker:
    """Watches nodes of one cluster; call the ``on_*`` hooks from the driver."""

    def __init__(self) -> None:
        self.leaders: dict[int, NodeId] = {}  # term -> the leader elected in it
        self.committed: dict[int, Entry] = {}  # index -> entry applied there
        self._leader_logs: dict[tuple[NodeId, int], tuple[int, int]] = {}  # newest entry
        self._leader_commits: dict[tuple[NodeId, int], int] = {}
        self.observations = 0
        self._checked_terms: dict[NodeId, list[int]] = {}
        self._entries: dict[tuple[int, int], tuple[Entry, int, NodeId]] = {}
        self._resets_seen: dict[NodeId, RaftNode] = {}  # the reset node object, once seen

    # -- hooks -------------------------------------------------------------------------

    def on_state(self, node_id: NodeId, raft: RaftNode) -> None:
        """After any input to ``raft``: roles, terms, its log as leader."""
        self.observations += 1
        if raft.log_reset_above is not None and self._resets_seen.get(node_id) is not raft:
            self._resets_seen[node_id] = raft
            self.on_log_reset(node_id, raft.log_reset_above)
        if raft.role is Role.LEADER:
            self._check_leader(node_id, raft)
        if raft.lead != NONE and raft.role is not Role.LEADER:
            known = self.leaders.get(raft.term)
            if known is not None and known != raft.lead:
                raise SafetyViolation(
                    "election safety",
                    f"node {node_id} follows {raft.lead} in term {raft.term}, "
                    f"whose leader is {known}",
                )

    def on_apply(self, node_id: NodeId, entry: Entry) -> None:
        known = self.committed.setdefault(entry.index, entry)
        if known != entry:
            raise SafetyViolation(
                "state machine safety",
                f"node {node_id} applied {_describe(entry)} at index {entry.index}; "
                f"another node applied {_describe(known)}",
            )

    def on_send(self, message: Message, disk: PersistentState) -> None:
        """The sender's disk at the moment ``message`` leaves."""
        problem = _undurable(message, disk)
        if problem:
            raise SafetyViolation(
                "durable before sent", f"node {message.source} sent {message.type.value}: {problem}"
            )

    def on_log_reset(self, node_id: NodeId, above: int) -> None:
        """``node_id`` was forced into a new cluster keeping its log up to ``above``
        and rewriting it after: forget every entry seen above that point, applied or
        not, on any node; the new cluster's log is checked from there on as a fresh
        one. Idempotent."""
        self.committed = {i: e for i, e in self.committed.items() if i <= above}
        self._entries = {key: seen for key, seen in self._entries.items() if key[0] <= above}
        del self._checked_terms.setdefault(node_id, [0])[above + 1 :]

    def check_logs(self, rafts: Iterable[tuple[NodeId, RaftNode]]) -> None:
        """Log matching (call between steps), incrementally.

        Two logs that hold the same (index, term) must hold the same entries up to it.
        By induction it suffices that every (index, term) ever seen anywhere names one
        entry and one predecessor term; so each node's log is checked only from where
        its terms changed since the last call, and the property holds across time as
        well. This rests on how logs change: every entry is first written at the top of
        some log (a leader's proposal) and reaches others only by truncate-and-append,
        so a copy that differs from the first one seen is caught where it was made. An
        entry forged in place under an unchanged top would slip past; no path in
        core/raft writes one, and catching it would cost a comparison of whole logs
        on every step (that made the Hypothesis machines forty times slower).
        """
        for node_id, raft in rafts:
            self._check_new_entries(node_id, raft)

    def _check_new_entries(self, node_id: NodeId, raft: RaftNode) -> None:
        log = raft.log
        last, low = log.last_index(), log.offset
        terms = self._checked_terms.setdefault(node_id, [0])  # terms[i]: term checked at i
        if len(terms) <= low:
            terms.extend([0] * (low + 1 - len(terms)))
        top = min(len(terms) - 1, last)
        while top > low and log.term(top) != terms[top]:
            top -= 1  # the log was truncated or replaced above ``top``
        del terms[max(top, low) + 1 :]
        previous_term = log.term(len(terms) - 1) or 0
        for index in range(len(terms), last + 1):
            entry = log.entry(index)
            seen = self._entries.setdefault((index, entry.term), (entry, previous_term, node_id))
            if seen[0] != entry or seen[1] != previous_term:
                raise SafetyViolation(
                    "log matching",
                    f"nodes {node_id} and {seen[2]} both hold index {index} of term "
                    f"{entry.term}, but {_difference(entry, previous_term, seen)}",
                )
            terms.append(entry.term)
            previous_term = entry.term

    # -- leaders -------------------------------------------------------------------------

    def _check_leader(self, node_id: NodeId, raft: RaftNode) -> None:
        term = raft.term
        elected = self.leaders.setdefault(term, node_id)
        if elected != node_id:
            raise SafetyViolation(
                "election safety", f"nodes {elected} and {node_id} both lead term {term}"
            )
        key = (node_id, term)
        log = raft.log
        if key not in self._leader_logs:
            self._check_completeness(node_id, raft)
            self._leader_commits[key] = log.committed
            last = log.last_index()
            self._leader_logs[key] = (last, log.term(last) or 0)
        # Append-only: the newest entry the leader held before is still there. Entries
        # below it cannot change unseen: check_logs pins every (index, term) to one
        # entry and one predecessor term, so the prefix is fixed by induction.
        top, top_term = self._leader_logs[key]
        if top > log.offset and log.term(top) != top_term:
            raise SafetyViolation(
                "leader append-only",
                f"leader {node_id} of term {term} changed its entry at {top} "
                f"from term {top_term} to {log.term(top)}",
            )
        last = log.last_index()
        self._leader_logs[key] = (last, log.term(last) or 0)
        if log.committed > self._leader_commits[key]:
            if log.term(log.committed) != term:
                raise SafetyViolation(
                    "commit by current term",
                    f"leader {node_id} of term {term} committed index {log.committed} of term "
                    f"{log.term(log.committed)} by counting replicas",
                )
            self._leader_commits[key] = log.committed

    def _check_completeness(self, node_id: NodeId, raft: RaftNode) -> None:
        log = raft.log
        for index in sorted(self.committed):
            entry = self.committed[index]
            if index <= log.snapshot.index or index <= log.offset:
                continue
            if log.term(index) != entry.term:
                raise SafetyViolation(
                    "leader completeness",
                    f"leader {node_id} of term {raft.term} lacks committed index {index} "
                    f"(term {entry.term}); its log has term {log.term(index)} there",
                )


def _difference(entry: Entry, previous_term: int, seen: tuple[Entry, int, NodeId]) -> str:
    if seen[0] != entry:
        return f"different entries: {_describe(entry)} and {_describe(seen[0])}"
    return f"after entries of terms {previous_term} and {seen[1]}"


def _undurable(message: Message, disk: PersistentState) -> str:
    """What ``message`` reveals that ``disk`` does not hold yet ("" if nothing)."""
    durable = disk.hard_state
    kind = message.type
    # Pre-votes, and pre-votes granted, speak of a term nobody has entered yet.
    future_term_allowed = kind is MessageType.PRE_VOTE or (
        kind is MessageType.PRE_VOTE_RESP and not message.reject
    )
    if message.term > durable.term and not future_term_allowed:
        return f"term {message.term} with term {durable.term} on disk"
    granted_vote = kind is MessageType.VOTE_RESP and not message.reject
    # Writes apply in order: a later term on disk means this vote's write came first.
    if granted_vote and durable.term == message.term and durable.vote != message.to:
        return (
            f"a vote for {message.to} in term {message.term} before recording it "
            f"(disk: term {durable.term}, vote {durable.vote})"
        )
    # Likewise an acknowledgement held back while later writes of a newer term truncated
    # the log was durable in between: only same-term disks must still hold it.
    acknowledged = kind is MessageType.APP_RESP and not message.reject
    if (
        acknowledged
        and durable.term == message.term
        and message.index > max(disk.last_index(), disk.snapshot.index)
    ):
        return f"index {message.index} acknowledged with {disk.last_index()} on disk"
    return ""


def _describe(entry: Entry) -> str:
    return f"(term {entry.term}, {entry.kind.value}, {entry_bytes(entry)[:16]!r})"
