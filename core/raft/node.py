"""One Raft node as an I/O-free state machine, in the shape of etcd-io/raft.

The driver feeds inputs and collects outputs:

- ``tick()`` once per tick of this host's monotonic clock; ``step(message)`` for
  each message received; ``propose(data)``, ``propose_conf_change(change)``,
  ``transfer_leadership(to)``, ``read_index(context)`` for requests;
- ``ready()`` returns a :class:`Ready`: durable writes, messages safe to send,
  committed entries to apply; ``persisted(seq)`` confirms writes (many at once);
- ``snapshot(index, data)`` records the application's state for log compaction.

**Persistence.** Every message leaving a node depends on the newest durable write
issued before it (term, vote, entries): :meth:`ready` holds a message back until the
driver has confirmed that write. A crash therefore loses only state no message has
revealed. The leader counts itself towards commitment only for entries it has
persisted. Committed entries are handed out only once durable locally.

**Membership** changes one voter at a time (Raft dissertation 4.1): a change takes
effect when its entry is applied; a leader proposes no change while one is pending,
nor before it has committed an entry of its own term (the fix for the single-server
change bug). Removed ids are remembered and never admitted again. Removing a voter
is refused unless a majority of the remaining voters is reachable.

Roles are chosen by ``_become_*`` methods, each of which sets the step function, as
etcd's ``becomeFollower`` and friends do. This module is over 600 lines because the
protocol's rules are interlocked; each rule cites the Raft paper section it follows.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

from core.errors import InvariantViolation
from core.raft.config import RaftConfig
from core.raft.log import RaftLog
from core.raft.progress import Progress, ProgressState
from core.raft.quorum import VoteResult, committed_index, quorum, vote_result
from core.raft.storage import PersistentState
from core.raft.types import (
    NONE,
    ChangeKind,
    ConfChange,
    ConfState,
    DurableWrite,
    Entry,
    EntryKind,
    HardState,
    MembershipRefused,
    Message,
    MessageType,
    NodeId,
    NotLeader,
    Payload,
    ProposalDropped,
    ProposalFailure,
    ReadState,
    Ready,
    Role,
    Snapshot,
    SoftState,
)

M = MessageType
CAMPAIGN_TRANSFER = b"transfer"
_RESPONSES = {M.VOTE: M.VOTE_RESP, M.PRE_VOTE: M.PRE_VOTE_RESP}


class _ReadRequest:
    def __init__(self, index: int, context: bytes, requester: NodeId) -> None:
        self.index = index
        self.context = context
        self.requester = requester
        self.acks: set[NodeId] = set()


def bootstrap_state(voters: Iterable[NodeId]) -> PersistentState:
    """The disk of a member of a new cluster: one committed ADD entry per voter."""
    entries = [
        Entry(term=1, index=i, kind=EntryKind.CONF_CHANGE, change=ConfChange(ChangeKind.ADD, voter))
        for i, voter in enumerate(sorted(set(voters)), start=1)
    ]
    return PersistentState(hard_state=HardState(term=1, commit=len(entries)), entries=entries)


_NOTHING_READY = Ready()


class RaftNode:
    """A Raft participant. Deterministic: same inputs and rng draws, same outputs."""

    def __init__(
        self, node_id: NodeId, config: RaftConfig, rng: random.Random, state: PersistentState
    ) -> None:
        if node_id == NONE:
            raise InvariantViolation("raft node id 0 is reserved for 'none'")
        self.id = node_id
        self.config = config
        self.rng = rng
        self.log = RaftLog(state.snapshot, state.entries, state.offset, state.offset_term)
        self.term = state.hard_state.term
        self.vote = state.hard_state.vote
        self.log.commit_to(min(state.hard_state.commit, self.log.last_index()))
        self.conf = state.snapshot.conf
        self.lead = NONE
        self.role = Role.FOLLOWER
        self.votes: dict[NodeId, bool] = {}
        self.progress: dict[NodeId, Progress] = {}
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = config.election_ticks
        self.lead_transferee = NONE
        self.pending_conf_index = 0
        # force_new_cluster rewrote this node's log above this index (None: it did not):
        # entries there may differ from others' of the same term, as in etcd.
        self.log_reset_above: int | None = None
        self._step: Callable[[Message], None] = self._step_follower
        self._tick: Callable[[], None] = self._tick_election
        # outputs and their bookkeeping
        self._outbox: list[Message] = []
        self._held: list[tuple[int, Message]] = []
        self._write_seq = 0
        self._confirmed_seq = 0
        self._written_hard_state = state.hard_state
        self._snapshot_to_write: Snapshot | None = None
        self._compaction_to_write: tuple[int, int] | None = None
        self._restore_pending: tuple[int, Snapshot] | None = None  # (write seq, snapshot)
        self._read_states: list[ReadState] = []
        self._read_requests: list[_ReadRequest] = []
        self._pending_proposals: dict[int, int] = {}  # index -> term, leader only
        self._failed: list[ProposalFailure] = []
        self._append_due = False
        self._last_soft_state: SoftState | None = None
        self._replay_conf_changes(self.log.committed)
        self._become_follower(self.term, NONE)
        self._campaign_if_sole_voter()

    # -- construction ------------------------------------------------------------

    @classmethod
    def bootstrap(
        cls, node_id: NodeId, voters: Iterable[NodeId], config: RaftConfig, rng: random.Random
    ) -> RaftNode:
        """A member of a new cluster: the initial voters are the log's first entries
        (committed at term 1), so nodes that join later learn them from the log."""
        members = sorted(set(voters))
        if node_id not in members:
            raise MembershipRefused(f"raft: node {node_id:x} bootstraps a cluster it is not in")
        entries = [
            Entry(
                term=1,
                index=i,
                kind=EntryKind.CONF_CHANGE,
                change=ConfChange(ChangeKind.ADD, voter),
            )
            for i, voter in enumerate(members, start=1)
        ]
        state = PersistentState(hard_state=HardState(term=1, commit=len(entries)), entries=entries)
        return cls(node_id, config, rng, state)

    @classmethod
    def join(cls, node_id: NodeId, config: RaftConfig, rng: random.Random) -> RaftNode:
        """A new node, not yet a voter: it learns the cluster from the leader's log."""
        return cls(node_id, config, rng, PersistentState())

    @classmethod
    def force_new_cluster(
        cls, node_id: NodeId, config: RaftConfig, rng: random.Random, state: PersistentState
    ) -> RaftNode:
        """Disaster recovery after quorum loss: restart this node's log as a cluster of
        one. Removal entries for every other voter are appended, so the change is in
        the log for anyone who joins later (SwarmKit's --force-new-cluster)."""
        node = cls(node_id, config, rng, state)
        others = sorted(node.conf.voters - {node_id})
        node.log.discard_uncommitted()  # as SwarmKit: entries never committed are dropped
        index = node.log.last_index()
        node.log_reset_above = index
        removals = [
            Entry(
                term=node.term,
                index=index + i,
                kind=EntryKind.CONF_CHANGE,
                change=ConfChange(ChangeKind.REMOVE, voter),
            )
            for i, voter in enumerate(others, start=1)
        ]
        node.log.append(removals)
        node.log.commit_to(node.log.last_index())  # a one-member cluster commits alone
        node.conf = ConfState(
            voters=frozenset({node_id}), removed=node.conf.removed | frozenset(others)
        )
        node._become_follower(node.term, NONE)
        node._campaign_if_sole_voter()
        return node

    # -- inputs ------------------------------------------------------------------

    def tick(self) -> None:
        self._tick()

    def step(self, message: Message) -> None:
        """Handle one message addressed to this node (Raft 5.1: terms first)."""
        if message.to != self.id:
            raise InvariantViolation(f"message for {message.to:x} stepped into {self.id:x}")
        if message.term > self.term:
            if not self._accept_higher_term(message):
                return
        elif message.term < self.term and not self.config.mutations.accept_stale_term:
            self._answer_stale(message)
            return
        if message.type in (M.VOTE, M.PRE_VOTE):
            self._handle_vote_request(message)
            return
        self._step(message)

    def propose(self, data: bytes | Payload) -> int:
        """Append ``data`` to the log; returns its index. Raises NotLeader elsewhere."""
        return self._propose(Entry(term=self.term, index=0, data=data))

    def propose_conf_change(self, change: ConfChange) -> int:
        self._check_conf_change(change)
        index = self._propose(
            Entry(term=self.term, index=0, kind=EntryKind.CONF_CHANGE, change=change)
        )
        self.pending_conf_index = index
        return index

    def transfer_leadership(self, to: NodeId = NONE) -> NodeId:
        """Hand leadership to ``to`` (or the most caught-up active voter); returns it.

        A transfer under way is abandoned after an election timeout, and proposals
        are taken again. Asking again meanwhile, for the same target or for any,
        changes nothing (etcd ignores it): restarting the clock on every request of
        a driver that retries would keep an unreachable target's transfer, and the
        refusal of every proposal, going for good."""
        if self.role is not Role.LEADER:
            raise NotLeader(self.lead, "only the leader can transfer leadership")
        if self.lead_transferee != NONE and to in (NONE, self.lead_transferee):
            return self.lead_transferee
        target = to if to != NONE else self._best_transferee()
        if target == self.id:
            return target
        if target not in self.conf.voters:
            raise MembershipRefused(f"raft: cannot transfer leadership to {target:x}: not a voter")
        self.lead_transferee = target
        self.election_elapsed = 0  # the transfer is abandoned after an election timeout
        progress = self.progress[target]
        if progress.match == self.log.last_index():
            self._send(target, M.TIMEOUT_NOW)
        else:
            self._send_append(target)
        return target

    def read_index(self, context: bytes) -> None:
        """Ask for a linearizable read; a ReadState with ``context`` follows in a Ready."""
        if self.role is Role.LEADER:
            self._handle_read_index(context, self.id)
        elif self.lead != NONE:
            self._send(self.lead, M.READ_INDEX, context=context)
        else:
            raise NotLeader(NONE, "no leader to serve a read index")

    def persisted(self, seq: int) -> None:
        """Every durable write up to ``seq`` is on disk."""
        if seq > self._write_seq:
            raise InvariantViolation(
                f"confirmed write {seq} but only {self._write_seq} were issued"
            )
        self._confirmed_seq = max(self._confirmed_seq, seq)
        self.log.confirm(seq)
        if self.role is Role.LEADER:
            self.progress[self.id].maybe_update(self.log.stable)
            if self._maybe_commit():
                self._append_due = True

    def snapshot(self, index: int, data: bytes) -> None:
        """The application's state after applying ``index`` (which must be the last
        applied index); entries before it may now be compacted."""
        if index != self.log.applied:
            raise InvariantViolation(f"snapshot at {index} but applied is {self.log.applied}")
        term = self.log.term(index)
        if term is None:
            raise InvariantViolation(f"snapshot at {index} whose term is unknown")
        snapshot = Snapshot(index=index, term=term, conf=self.conf, data=data)
        self.log.compact(snapshot, self.config.snapshot_keep_entries)
        self._snapshot_to_write = snapshot
        self._compaction_to_write = (self.log.offset, self.log.offset_term)

    def wants_snapshot(self) -> bool:
        return self.log.applied - self.log.snapshot.index >= self.config.snapshot_interval

    # -- outputs -----------------------------------------------------------------

    def has_ready(self) -> bool:
        """Whether :meth:`ready` has anything to hand out: drivers poll after every
        input, and most polls find nothing, so this avoids building empty Readies."""
        log, restore = self.log, self._restore_pending
        return bool(
            self._append_due
            or self._outbox
            or self._read_states
            or self._failed
            or (self._held and self._held[0][0] <= self._confirmed_seq)
            or log.last_index() > log.written
            or self._snapshot_to_write is not None
            or self._compaction_to_write is not None
            or (restore is not None and 0 < restore[0] <= self._confirmed_seq)
            or (restore is None and min(log.committed, log.stable) > log.applied)
            or self._hard_state_changed()
            or self._soft_state_changed()
        )

    def _hard_state_changed(self) -> bool:
        written = self._written_hard_state
        return (written.term, written.vote, written.commit) != (
            self.term,
            self.vote,
            self.log.committed,
        )

    def _soft_state_changed(self) -> bool:
        last = self._last_soft_state
        return last is None or (last.leader, last.role, last.term) != (
            self.lead,
            self.role,
            self.term,
        )

    def ready(self) -> Ready:
        return self.collect_ready() if self.has_ready() else _NOTHING_READY

    def collect_ready(self) -> Ready:
        """The Ready, built the long way (tests check it is empty whenever
        :meth:`has_ready` says so)."""
        if self._append_due:
            self._append_due = False
            self._broadcast_append()
        write = self._next_write()
        depends_on = write.seq if write is not None else self._write_seq
        self._held.extend((depends_on, message) for message in self._outbox)
        self._outbox = []
        if self.config.mutations.send_before_persist:
            released, self._held = [m for _, m in self._held], []
        else:
            released = [m for seq, m in self._held if seq <= self._confirmed_seq]
            self._held = [(seq, m) for seq, m in self._held if seq > self._confirmed_seq]
        restore = self._take_restore()
        committed = self._take_committed() if self._restore_pending is None else ()
        soft = self.soft_state()
        changed = soft if soft != self._last_soft_state else None
        self._last_soft_state = soft
        ready = Ready(
            writes=(write,) if write is not None else (),
            messages=tuple(released),
            snapshot_to_apply=restore,
            committed=committed,
            read_states=tuple(self._read_states),
            failed_proposals=tuple(self._failed),
            soft_state=changed,
        )
        self._read_states = []
        self._failed = []
        return ready

    def soft_state(self) -> SoftState:
        return SoftState(leader=self.lead, role=self.role, term=self.term)

    def hard_state(self) -> HardState:
        return HardState(term=self.term, vote=self.vote, commit=self.log.committed)

    def has_unconfirmed_writes(self) -> bool:
        return self._confirmed_seq < self._write_seq

    def _next_write(self) -> DurableWrite | None:
        hard = self.hard_state()
        entries = self.log.unwritten()
        snapshot, compaction = self._snapshot_to_write, self._compaction_to_write
        if (
            hard == self._written_hard_state
            and not entries
            and snapshot is None
            and compaction is None
        ):
            return None
        self._write_seq += 1
        self._written_hard_state = hard
        self._snapshot_to_write = self._compaction_to_write = None
        if entries:
            self.log.mark_written(self._write_seq)
        if self._restore_pending is not None and self._restore_pending[0] == 0:
            self._restore_pending = (self._write_seq, self._restore_pending[1])
        return DurableWrite(self._write_seq, hard, entries, snapshot, compaction)

    def _take_restore(self) -> Snapshot | None:
        pending = self._restore_pending
        if pending is None or pending[0] == 0 or pending[0] > self._confirmed_seq:
            return None
        self._restore_pending = None
        return pending[1]

    def _take_committed(self) -> tuple[Entry, ...]:
        upto = min(self.log.committed, self.log.stable)
        if upto <= self.log.applied:
            return ()
        entries = self.log.slice(self.log.applied + 1, upto + 1)
        self.log.applied = upto
        for entry in entries:
            if entry.kind is EntryKind.CONF_CHANGE and entry.change is not None:
                self._apply_conf_change(entry.change)
            if self._pending_proposals.get(entry.index) == entry.term:
                del self._pending_proposals[entry.index]
        return entries

    # -- roles -------------------------------------------------------------------

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = NONE
        self.lead = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.config.election_ticks + self.rng.randrange(
            self.config.election_ticks
        )
        self.lead_transferee = NONE
        self.votes = {}
        self.pending_conf_index = 0
        self._read_requests = []
        self.progress = {}

    def _become_follower(self, term: int, lead: NodeId) -> None:
        if self.role is Role.LEADER or self._pending_proposals:
            self._fail_pending_proposals(lead)
        self._reset(term)
        self.lead = lead
        self.role = Role.FOLLOWER
        self._step, self._tick = self._step_follower, self._tick_election

    def _become_pre_candidate(self) -> None:
        if self.role is Role.LEADER:
            raise InvariantViolation("a leader cannot become a pre-candidate")
        # Raft thesis 9.6: no new term and no vote cast until a majority would vote.
        self.votes = {}
        self.lead = NONE
        self.role = Role.PRE_CANDIDATE
        self._step, self._tick = self._step_candidate, self._tick_election

    def _become_candidate(self) -> None:
        if self.role is Role.LEADER:
            raise InvariantViolation("a leader cannot become a candidate")
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = Role.CANDIDATE
        self._step, self._tick = self._step_candidate, self._tick_election

    def _become_leader(self) -> None:
        if self.role is Role.FOLLOWER:
            raise InvariantViolation("a follower cannot become leader without an election")
        self._reset(self.term)
        self.lead = self.id
        self.role = Role.LEADER
        self._step, self._tick = self._step_leader, self._tick_heartbeat
        last = self.log.last_index()
        for voter in sorted(self.conf.voters):
            self.progress[voter] = Progress(last + 1, self.config.inflight_max)
        self.progress[self.id].maybe_update(self.log.stable)
        self.progress[self.id].become_replicate()
        # Raft 5.4.2 / 8: commit an empty entry of the new term at once; no membership
        # change until it is applied.
        self._append_entries([Entry(term=self.term, index=0)])
        self.pending_conf_index = self.log.last_index()
        self._append_due = True

    def _promotable(self) -> bool:
        return self.id in self.conf.voters

    # -- elections ---------------------------------------------------------------

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self._promotable() and self.election_elapsed >= self.randomized_election_timeout:
            self.election_elapsed = 0
            self._campaign(transfer=False)
        else:
            self._campaign_if_sole_voter()

    def _is_sole_voter(self) -> bool:
        return self.conf.voters == frozenset({self.id})

    def _campaign_if_sole_voter(self) -> None:
        """The only voter has nobody to wait for: it campaigns at once and wins alone
        (SwarmKit campaigns when it is the only member; waiting out an election timeout
        made ``swarm init`` take 10-20 s)."""
        if self.role is Role.FOLLOWER and self._is_sole_voter():
            self.election_elapsed = 0
            self._campaign(transfer=False)

    def _campaign(self, transfer: bool) -> None:
        """Start an election: a pre-vote first unless PreVote is off or this is a
        leadership transfer (which must not wait, and bypasses voters' leases)."""
        if self.config.pre_vote and not transfer:
            self._become_pre_candidate()
            self.votes[self.id] = True
            if self._tally() is VoteResult.PENDING:
                self._request_votes(M.PRE_VOTE, self.term + 1, b"")
            return
        self._elect(CAMPAIGN_TRANSFER if transfer else b"")

    def _elect(self, context: bytes) -> None:
        self._become_candidate()
        self.votes[self.id] = True
        if self._tally() is VoteResult.PENDING:
            self._request_votes(M.VOTE, self.term, context)

    def _request_votes(self, kind: MessageType, term: int, context: bytes) -> None:
        for voter in sorted(self.conf.voters - {self.id}):
            self._emit(
                Message(
                    kind,
                    to=voter,
                    source=self.id,
                    term=term,
                    index=self.log.last_index(),
                    log_term=self.log.last_term(),
                    context=context,
                )
            )

    def _tally(self) -> VoteResult:
        result = vote_result(self.conf.voters, self.votes)
        if result is VoteResult.WON:
            if self.role is Role.PRE_CANDIDATE:
                self._elect(b"")
            else:
                self._become_leader()
        elif result is VoteResult.LOST:
            self._become_follower(self.term, NONE)
        return result

    def _accept_higher_term(self, message: Message) -> bool:
        """Raft 5.1 with PreVote and CheckQuorum: whether to go on handling ``message``."""
        if message.type in (M.VOTE, M.PRE_VOTE):
            forced = message.context == CAMPAIGN_TRANSFER
            in_lease = (
                self.config.check_quorum
                and self.lead != NONE
                and self.election_elapsed < self.config.election_ticks
            )
            if in_lease and not forced:
                return False  # a live leader is known: do not let this node disrupt it
        if message.type is M.PRE_VOTE:
            return True  # a pre-vote never changes our term
        if message.type is M.PRE_VOTE_RESP and not message.reject:
            return True  # granted pre-votes carry the term we would campaign in
        lead = message.source if message.type in (M.APP, M.HEARTBEAT, M.SNAP) else NONE
        self._become_follower(message.term, lead)
        return True

    def _answer_stale(self, message: Message) -> None:
        """Raft 5.1: reject older terms; tell a stale leader the current one."""
        if message.type in (M.APP, M.HEARTBEAT) and (
            self.config.check_quorum or self.config.pre_vote
        ):
            self._send(message.source, M.APP_RESP)
        elif message.type is M.PRE_VOTE:
            self._send(message.source, M.PRE_VOTE_RESP, reject=True)

    def _handle_vote_request(self, message: Message) -> None:
        """Raft 5.2 and 5.4.1: one vote per term, only for an up-to-date log."""
        can_vote = (
            self.vote == message.source
            or (self.vote == NONE and self.lead == NONE)
            or (message.type is M.PRE_VOTE and message.term > self.term)
        )
        if self.config.mutations.grant_two_votes_per_term and message.type is M.VOTE:
            can_vote = True
        response = _RESPONSES[message.type]
        if can_vote and self.log.is_up_to_date(message.index, message.log_term):
            self._emit(Message(response, to=message.source, source=self.id, term=message.term))
            if message.type is M.VOTE:
                self.election_elapsed = 0
                self.vote = message.source
        else:
            self._send(message.source, response, reject=True)

    # -- followers and candidates ------------------------------------------------

    def _step_follower(self, message: Message) -> None:
        kind = message.type
        if kind in (M.APP, M.HEARTBEAT, M.SNAP):
            self.election_elapsed = 0
            self.lead = message.source
            if kind is M.APP:
                self._handle_append(message)
            elif kind is M.HEARTBEAT:
                self._handle_heartbeat(message)
            else:
                self._handle_snapshot(message)
        elif kind is M.TIMEOUT_NOW:
            if self._promotable():
                self._campaign(transfer=True)
        elif kind is M.READ_INDEX:
            if self.lead != NONE:
                self._emit(
                    Message(
                        M.READ_INDEX,
                        to=self.lead,
                        source=message.source,
                        term=self.term,
                        context=message.context,
                    )
                )
        elif kind is M.READ_INDEX_RESP:
            self._read_states.append(ReadState(message.index, message.context))

    def _step_candidate(self, message: Message) -> None:
        kind = message.type
        if kind in (M.APP, M.HEARTBEAT, M.SNAP):
            self._become_follower(message.term, message.source)
            self._step_follower(message)
            return
        expected = M.PRE_VOTE_RESP if self.role is Role.PRE_CANDIDATE else M.VOTE_RESP
        if kind is expected:
            self.votes.setdefault(message.source, not message.reject)
            self._tally()

    def _handle_append(self, message: Message) -> None:
        """Raft 5.3: take entries only after the one before them matches."""
        if message.index < self.log.committed:
            self._send(message.source, M.APP_RESP, index=self.log.committed)
            return
        log_term = message.log_term
        if self.config.mutations.skip_log_matching:
            log_term = self.log.term(message.index) or 0
        last_new = self.log.maybe_append(message.index, log_term, message.commit, message.entries)
        if last_new is not None:
            self._send(message.source, M.APP_RESP, index=last_new)
            return
        hint = self.log.find_conflict_by_term(
            min(message.index, self.log.last_index()), message.log_term
        )
        self._send(
            message.source,
            M.APP_RESP,
            index=message.index,
            reject=True,
            reject_hint=hint,
            log_term=self.log.term(hint) or 0,
        )

    def _handle_heartbeat(self, message: Message) -> None:
        self.log.commit_to(min(message.commit, self.log.last_index()))
        self._send(message.source, M.HEARTBEAT_RESP, context=message.context)

    def _handle_snapshot(self, message: Message) -> None:
        snapshot = message.snapshot
        if snapshot is not None and self._restore(snapshot):
            self._send(message.source, M.APP_RESP, index=self.log.last_index())
        else:
            self._send(message.source, M.APP_RESP, index=self.log.committed)

    def _restore(self, snapshot: Snapshot) -> bool:
        if snapshot.index <= self.log.committed:
            return False
        if self.log.match_term(snapshot.index, snapshot.term):
            self.log.commit_to(snapshot.index)  # we have it all already: fast-forward
            return False
        self.log.restore(snapshot)
        # Proposals still pending here were committed (the rest failed when leadership
        # was lost); the snapshot holds them, so no committed entry will clear them.
        self._pending_proposals = {}
        self.conf = snapshot.conf
        self._snapshot_to_write = snapshot
        self._compaction_to_write = (snapshot.index, snapshot.term)
        self._restore_pending = (0, snapshot)  # write seq assigned at the next ready()
        return True

    # -- leader ------------------------------------------------------------------

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.config.election_ticks:
            self.election_elapsed = 0
            if self.config.check_quorum and not self._quorum_active():
                self._become_follower(self.term, NONE)  # Raft 6.2: cannot hear a majority
                return
            for voter, progress in self.progress.items():
                if voter != self.id:
                    progress.recent_active = False
            self.lead_transferee = NONE
        if self.heartbeat_elapsed >= self.config.heartbeat_ticks:
            self.heartbeat_elapsed = 0
            self._broadcast_heartbeat(b"")
            self._retry_stalled_snapshots()

    def _quorum_active(self) -> bool:
        active = sum(
            1
            for voter in self.conf.voters
            if voter == self.id or self.progress[voter].recent_active
        )
        return active >= quorum(len(self.conf.voters))

    def _retry_stalled_snapshots(self) -> None:
        """A snapshot lost in flight would stall a follower forever; after an election
        timeout without news the leader probes it again (and resends if needed)."""
        for voter in sorted(self.progress):
            progress = self.progress[voter]
            if progress.state is ProgressState.SNAPSHOT:
                progress.snapshot_ticks += 1
                if progress.snapshot_ticks >= self.config.election_ticks:
                    progress.become_probe()

    def _step_leader(self, message: Message) -> None:
        kind = message.type
        progress = self.progress.get(message.source)
        if kind is M.READ_INDEX:
            self._handle_read_index(message.context, message.source)
            return
        if progress is None:
            return  # not (or no longer) a voter
        if kind is M.APP_RESP:
            progress.recent_active = True
            self._handle_append_response(message, progress)
        elif kind is M.HEARTBEAT_RESP:
            progress.recent_active = True
            progress.probe_sent = False
            if progress.state is ProgressState.REPLICATE and progress.inflights.full():
                progress.inflights.free_first()
            if progress.match < self.log.last_index():
                self._send_append(message.source)
            if message.context:
                self._ack_read(message.context, message.source)

    def _handle_append_response(self, message: Message, progress: Progress) -> None:
        source = message.source
        if message.reject:
            probe = message.reject_hint
            if message.log_term > 0:
                probe = self.log.find_conflict_by_term(message.reject_hint, message.log_term)
            if progress.maybe_decrease_to(message.index, probe):
                if progress.state is ProgressState.REPLICATE:
                    progress.become_probe()
                self._send_append(source)
            return
        if not progress.maybe_update(message.index):
            return
        if progress.state is ProgressState.PROBE:
            progress.become_replicate()
        elif (
            progress.state is ProgressState.SNAPSHOT and progress.match >= progress.pending_snapshot
        ):
            progress.become_probe()
            progress.become_replicate()
        elif progress.state is ProgressState.REPLICATE:
            progress.inflights.free_to(message.index)
        if self._maybe_commit():
            self._broadcast_append()
        else:
            while self._send_append(source, send_if_empty=False):
                pass
        if source == self.lead_transferee and progress.match == self.log.last_index():
            self._send(source, M.TIMEOUT_NOW)

    def _maybe_commit(self) -> bool:
        match = {voter: progress.match for voter, progress in self.progress.items()}
        index = committed_index(self.conf.voters, match)
        if self.config.mutations.commit_old_term_by_counting:
            if index > self.log.committed:
                self.log.commit_to(index)
                return True
            return False
        return self.log.maybe_commit(index, self.term)

    def _broadcast_append(self) -> None:
        """Send each follower what it lacks: one append (empty ones carry the commit
        index), then more until its inflight window is full or it has everything."""
        for voter in sorted(self.progress):
            if voter != self.id and self._send_append(voter):
                while self._send_append(voter, send_if_empty=False):
                    pass

    def _send_append(self, to: NodeId, send_if_empty: bool = True) -> bool:
        progress = self.progress[to]
        if progress.is_paused():
            return False
        previous = progress.next - 1
        previous_term = self.log.term(previous)
        if previous_term is None or previous < self.log.offset:
            return self._send_snapshot(to, progress)
        entries = self.log.slice(progress.next, progress.next + self.config.entries_per_append_max)
        if not entries and not send_if_empty:
            return False
        self._emit(
            Message(
                M.APP,
                to=to,
                source=self.id,
                term=self.term,
                index=previous,
                log_term=previous_term,
                entries=entries,
                commit=self.log.committed,
            )
        )
        progress.sent_entries(entries[-1].index if entries else previous, len(entries))
        return True

    def _send_snapshot(self, to: NodeId, progress: Progress) -> bool:
        if not progress.recent_active:
            return False
        snapshot = self.log.snapshot
        self._emit(Message(M.SNAP, to=to, source=self.id, term=self.term, snapshot=snapshot))
        progress.become_snapshot(snapshot.index)
        return True

    def _broadcast_heartbeat(self, context: bytes) -> None:
        for voter in sorted(self.progress):
            if voter == self.id:
                continue
            commit = min(self.progress[voter].match, self.log.committed)
            self._emit(
                Message(
                    M.HEARTBEAT,
                    to=voter,
                    source=self.id,
                    term=self.term,
                    commit=commit,
                    context=context,
                )
            )

    def _propose(self, entry: Entry) -> int:
        if self.role is not Role.LEADER:
            raise NotLeader(self.lead)
        if self.lead_transferee != NONE:
            raise ProposalDropped(
                f"raft: proposal dropped: leadership is moving to {self.lead_transferee:x}"
            )
        if self.log.last_index() - self.log.committed >= self.config.uncommitted_entries_max:
            raise ProposalDropped("raft: proposal dropped: too many uncommitted entries")
        self._append_entries([entry])
        index = self.log.last_index()
        self._pending_proposals[index] = self.term
        self._append_due = True
        return index

    def _append_entries(self, entries: list[Entry]) -> None:
        last = self.log.last_index()
        numbered = [
            Entry(term=self.term, index=last + i, kind=e.kind, data=e.data, change=e.change)
            for i, e in enumerate(entries, start=1)
        ]
        self.log.append(numbered)

    def _fail_pending_proposals(self, lead: NodeId) -> None:
        """Fail only proposals above the commit index: a committed entry survives any
        change of leader (5.4), so it is handed out as committed, which clears it,
        and must never be reported as failed too."""
        committed = self.log.committed
        for index in sorted(self._pending_proposals):
            if index > committed:
                term = self._pending_proposals.pop(index)
                self._failed.append(
                    ProposalFailure(index, term, NotLeader(lead, "leadership lost"))
                )

    def _best_transferee(self) -> NodeId:
        candidates = [
            (-progress.match, voter)
            for voter, progress in self.progress.items()
            if voter != self.id and progress.recent_active
        ]
        if not candidates:
            raise MembershipRefused("raft: no reachable voter to transfer leadership to")
        return min(candidates)[1]

    # -- read index ----------------------------------------------------------------

    def _handle_read_index(self, context: bytes, requester: NodeId) -> None:
        """Raft thesis 6.4: serve a read at the commit index once a heartbeat round
        confirms this node still leads."""
        if self.log.term(self.log.committed) != self.term:
            if requester != self.id:
                return  # the requester times out and asks again
            raise NotLeader(self.id, "the leader has not yet committed an entry of its term")
        request = _ReadRequest(self.log.committed, context, requester)
        request.acks.add(self.id)
        if len(self.conf.voters) == 1:
            self._release_read(request)
            return
        self._read_requests.append(request)
        self._broadcast_heartbeat(context)

    def _ack_read(self, context: bytes, source: NodeId) -> None:
        for position, request in enumerate(self._read_requests):
            if request.context != context:
                continue
            request.acks.add(source)
            if len(request.acks & self.conf.voters) >= quorum(len(self.conf.voters)):
                done, self._read_requests = (
                    self._read_requests[: position + 1],
                    self._read_requests[position + 1 :],
                )
                for finished in done:
                    self._release_read(finished)
            return

    def _release_read(self, request: _ReadRequest) -> None:
        if request.requester == self.id:
            self._read_states.append(ReadState(request.index, request.context))
        else:
            self._send(
                request.requester, M.READ_INDEX_RESP, index=request.index, context=request.context
            )

    # -- membership ----------------------------------------------------------------

    def _check_conf_change(self, change: ConfChange) -> None:
        if self.role is not Role.LEADER:
            raise NotLeader(self.lead)
        if self.pending_conf_index > self.log.applied:
            raise MembershipRefused("raft: a membership change is already in progress")
        if change.kind is ChangeKind.ADD:
            if change.node_id in self.conf.removed:
                raise MembershipRefused(
                    f"raft: node {change.node_id:x} was removed and cannot rejoin"
                )
            if change.node_id in self.conf.voters:
                raise MembershipRefused(f"raft: node {change.node_id:x} is already a member")
            return
        if change.node_id not in self.conf.voters:
            raise MembershipRefused(f"raft: node {change.node_id:x} is not a member")
        remaining = self.conf.voters - {change.node_id}
        if not remaining:
            raise MembershipRefused("raft: cannot remove the last member")
        reachable = sum(
            1 for voter in remaining if voter == self.id or self.progress[voter].recent_active
        )
        if reachable < quorum(len(remaining)):
            raise MembershipRefused(
                f"raft: removing {change.node_id:x} would leave {reachable} reachable of "
                f"{len(remaining)} members, fewer than a quorum"
            )

    def _apply_conf_change(self, change: ConfChange) -> None:
        """Idempotent: replaying a change after a restart changes nothing."""
        voters, removed = set(self.conf.voters), set(self.conf.removed)
        if change.kind is ChangeKind.ADD:
            if change.node_id in removed:
                return  # a refused re-add that reached the log before the removal did
            voters.add(change.node_id)
        else:
            voters.discard(change.node_id)
            removed.add(change.node_id)
        self.conf = ConfState(voters=frozenset(voters), removed=frozenset(removed))
        if self.role is Role.FOLLOWER:
            return
        if not self._promotable():
            # A removed leader steps down; a campaign begun before the removal was
            # applied (it commits while the node campaigns, applies once durable)
            # must not win either: the node is no longer a voter.
            self._become_follower(self.term, NONE)
            return
        if self.role is not Role.LEADER:
            return
        for voter in sorted(self.conf.voters):
            if voter not in self.progress:
                self.progress[voter] = Progress(self.log.last_index() + 1, self.config.inflight_max)
        for voter in sorted(set(self.progress) - self.conf.voters):
            del self.progress[voter]
        self._maybe_commit()  # a smaller quorum may commit more at once
        self._append_due = True

    def _replay_conf_changes(self, upto: int) -> None:
        for index in range(self.log.snapshot.index + 1, upto + 1):
            if index <= self.log.offset:
                continue
            entry = self.log.entry(index)
            if entry.kind is EntryKind.CONF_CHANGE and entry.change is not None:
                self._apply_conf_change(entry.change)

    # -- sending -------------------------------------------------------------------

    def _send(self, to: NodeId, kind: MessageType, **fields: object) -> None:
        self._emit(Message(kind, to=to, source=self.id, term=self.term, **fields))  # type: ignore[arg-type]

    def _emit(self, message: Message) -> None:
        self._outbox.append(message)
