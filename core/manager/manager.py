"""One manager: its Raft member, its copy of the store, and while it leads, the
leader's components and the control API (SwarmKit's ``manager``).

Every manager applies every committed entry to its own store, so the store's events
are the same on all of them. Writes go to Raft only from the leader, one round at a
time (:class:`~core.manager.writes.WriteQueue`). The leader's components start once
this manager leads *and* has applied its whole log (SwarmKit's ``caughtUp``), and
stop the moment it does not lead.

Membership: a joining or promoted manager asks the leader to add it
(:class:`JoinRaft`); a demoted one is removed once the demotion has committed (the
leader hands leadership away first if it is the one demoted). Conf changes go one at
a time.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from core.ca.cluster import issue, trust_roots
from core.ca.errors import CAError
from core.errors import ShoalError
from core.manager.api import Answer, ApiContext, Gather, Write, handle
from core.manager.leader import Leadership
from core.manager.mutations import NO_MUTATIONS, ManagerMutations
from core.manager.requests import NOT_THE_LEADER, ApiError
from core.messages import (
    CertificateIssued,
    ClusterMessage,
    JoinAccepted,
    JoinRefused,
    JoinRequest,
    MemberRemoved,
    Promoted,
    RaftEnvelope,
    RenewCertificate,
)
from core.model import replace
from core.model.cluster import Cluster
from core.model.common import StoredObject
from core.model.enums import NodeRole, NodeState, Reachability
from core.model.ids import new_id
from core.model.node import ManagerStatus, Node, NodeCertificate, NodeSpec, NodeStatus
from core.raft.codec import entry_bytes
from core.raft.node import RaftNode
from core.raft.types import (
    ChangeKind,
    ConfChange,
    DurableWrite,
    Entry,
    EntryKind,
    Message,
    NodeId,
    RaftError,
    Role,
)
from core.store import Applied, Event, MemoryStore, Transaction, WriteTx

#: How often the leader looks for promoted and demoted nodes to (un)make members.
ROLE_CHECK_SECONDS = 1.0

Reply = Callable[[bool, Any, ShoalError | None], None]


@dataclass(slots=True)
class ManagerOutput:
    writes: list[DurableWrite] = field(default_factory=list)
    messages: list[tuple[str, ClusterMessage]] = field(default_factory=list)
    removed_self: bool = False
    # every entry applied to the store, with what it did: for the driver's checkers
    applied: list[tuple[Entry, Applied]] = field(default_factory=list)


class Manager:
    def __init__(
        self,
        host: str,
        node_id: str,
        raft: RaftNode,
        rng: random.Random,
        peers: dict[NodeId, str] | None = None,
        mutations: ManagerMutations = NO_MUTATIONS,
        entropy: Callable[[int], bytes] | None = None,
    ) -> None:
        self.host = host
        self.entropy = entropy  # the driver's, for secrets (a rotated join token)
        self.mutations = mutations
        self.node_id = node_id
        self.raft = raft
        self.rng = rng
        snapshot = raft.log.snapshot
        self.store = MemoryStore.restore(snapshot.data) if snapshot.data else MemoryStore()
        self.peers: dict[NodeId, str] = dict(peers or {})
        self.peers[raft.id] = host
        self.leadership: Leadership | None = None
        self.out = ManagerOutput()
        self.in_flight: dict[int, tuple[int, tuple[Callable[[ShoalError | None], None], ...]]] = {}
        self.round_open = False
        self.mono = 0.0
        self.wall = 0.0
        self.role = Role.FOLLOWER
        self.leader_id: NodeId = 0
        self.heard_from: dict[NodeId, float] = {}
        self._roles_checked_at = float("-inf")
        self._refresh_peers()

    # -- inputs --------------------------------------------------------------------------

    def tick(self, mono: float, wall: float) -> None:
        self._time(mono, wall)
        self.raft.tick()

    def step(self, message: Message, mono: float, wall: float) -> None:
        self._time(mono, wall)
        self.heard_from[message.source] = mono
        self.raft.step(message)

    def persisted(self, seq: int) -> None:
        self.raft.persisted(seq)

    def advance(self, mono: float, wall: float) -> None:
        """Time moved on: the leader's timers (heartbeat expiry, restarts, batches)."""
        self._time(mono, wall)
        if self.leadership is not None:
            self.leadership.tick(mono, wall)

    def _time(self, mono: float, wall: float) -> None:
        self.mono, self.wall = mono, wall

    @property
    def leader_host(self) -> str:
        return self.peers.get(self.leader_id, "") if self.leader_id else ""

    @property
    def is_leader(self) -> bool:
        return self.leadership is not None

    # -- the API -------------------------------------------------------------------------

    def api(self, method: str, params: dict[str, Any], reply: Reply) -> None:
        """Run a request on this (leading) manager; ``reply`` is called once, now for
        a read or a refused write, after commit and apply for a write."""
        leadership = self.leadership
        if leadership is None:
            reply(False, None, ApiError("Unavailable", "this manager is not the leader"))
            return
        conf = self.raft.conf
        ctx = ApiContext(
            store=self.store,
            rng=self.rng,
            wall=self.wall,
            voters=conf.voters,
            reachable=self._reachable(),
            leader=self.raft.id,
            demote=self._demote,
            entropy=self.entropy,
        )
        try:
            outcome = handle(ctx, method, params)
        except ShoalError as error:
            reply(False, None, error)
            return
        if isinstance(outcome, Answer):
            reply(True, outcome.value, None)
            return
        if isinstance(outcome, Gather):
            hosts = {n: s.host for n, s in leadership.dispatcher.sessions.items()}
            leadership.logs.start(
                outcome.tasks_by_node, hosts, lambda value: reply(True, value, None), self.mono
            )
            return
        write: Write = outcome

        def done(error: ShoalError | None) -> None:
            if error is not None:
                reply(False, None, error)
                return
            reply(True, write.value(), None)
            if write.then is not None:
                write.then()

        leadership.writes.submit(write.build, done, alone=True)

    def _reachable(self) -> frozenset[NodeId]:
        """Voters heard from within an election timeout, and this one."""
        window = float(self.raft.config.election_ticks)
        heard = {i for i, at in self.heard_from.items() if self.mono - at <= window}
        return frozenset(heard | {self.raft.id})

    # -- membership ----------------------------------------------------------------------

    def add_member(self, raft_id: NodeId, node_id: str = "") -> ShoalError | None:
        """A joining manager asks to be a voter (from the leader's point of view); a
        promoted node demoted meanwhile (``node_id``'s spec says worker) is not let in."""
        if raft_id in self.raft.conf.voters:
            return None
        node = self.store.tables["nodes"].get(node_id) if node_id else None
        if isinstance(node, Node) and node.spec.role is NodeRole.WORKER:
            return None
        try:
            self.raft.propose_conf_change(ConfChange(ChangeKind.ADD, raft_id))
        except RaftError as error:
            return error
        return None

    def join(
        self, host: str, request: JoinRequest, answer: Callable[[ClusterMessage], None]
    ) -> None:
        """A node asks to join with a token and a CSR: it becomes a worker or a manager
        (a new Raft member, added once its Node object has committed), with a
        certificate for the role its token grants."""
        leadership = self.leadership
        if leadership is None:
            answer(JoinRefused(NOT_THE_LEADER, self.leader_host))
            return
        cluster = self.cluster()
        tokens = cluster.join_tokens if cluster is not None else None
        if (
            cluster is None
            or tokens is None
            or request.token not in (tokens.worker, tokens.manager)
        ):
            refusal = ApiError(
                "InvalidArgument", "A valid join token is necessary to join this cluster"
            )
            answer(JoinRefused(str(refusal)))
            return
        manager = request.token == tokens.manager
        role = NodeRole.MANAGER if manager else NodeRole.WORKER
        node_id = new_id(self.rng)
        try:
            certificate = self._issue(cluster, request.csr, node_id, role)
        except CAError as error:
            answer(JoinRefused(str(error)))
            return
        raft_id = self._new_raft_id() if manager else 0
        node = Node(
            id=node_id,
            spec=NodeSpec(role=role),
            description=request.description,
            status=NodeStatus(state=NodeState.UNKNOWN, addr=host),
            manager_status=(
                ManagerStatus(reachability=Reachability.REACHABLE, addr=host, raft_id=raft_id)
                if manager
                else None
            ),
            certificate=certificate,
        )

        def build(tx: WriteTx) -> None:
            tx.create(node)

        def done(error: ShoalError | None) -> None:
            if error is not None:
                answer(JoinRefused(str(error)))
                return
            if manager:
                self.peers[raft_id] = host
                self.add_member(raft_id)
            answer(
                JoinAccepted(
                    node_id,
                    manager,
                    raft_id,
                    self.members(),
                    certificate.certificate.encode(),
                    trust_roots(cluster),
                )
            )

        leadership.writes.submit(build, done, alone=True)

    def cluster(self) -> Cluster | None:
        """The cluster object, once the swarm's first write has made it."""
        clusters = self.store.tables["clusters"]
        for key in sorted(clusters):
            cluster = clusters[key]
            if isinstance(cluster, Cluster):
                return cluster
        return None

    def _issue(self, cluster: Cluster, csr: bytes, node_id: str, role: NodeRole) -> NodeCertificate:
        if self.entropy is None:
            raise CAError("no valid signer found")
        return issue(cluster, csr, node_id=node_id, role=role, wall=self.wall, entropy=self.entropy)

    def root_ca(self) -> bytes:
        """The cluster's root certificate (PEM) for a joining node; empty before init."""
        cluster = self.cluster()
        if cluster is None or cluster.root_ca is None:
            return b""
        return cluster.root_ca.ca_cert.encode()

    def renew(self, request: RenewCertificate, answer: Callable[[ClusterMessage], None]) -> None:
        """A member's new CSR: signed for the role its Node object has now (SwarmKit's
        renewal signs ``node.Role`` from the store, so a promotion or demotion shows in
        the next certificate), recorded on the Node, then answered."""
        leadership, cluster = self.leadership, self.cluster()
        node = self.store.tables["nodes"].get(request.node_id)
        if leadership is None or cluster is None or not isinstance(node, Node):
            error = "node not found" if leadership is not None else "not the leader"
            answer(CertificateIssued(request.node_id, b"", b"", error))
            return
        role = node.spec.role or NodeRole.WORKER
        if role is NodeRole.WORKER and self._raft_id(node) in self.raft.conf.voters:
            role = NodeRole.MANAGER  # demoted, not yet removed: a member still (SwarmKit)
        try:
            certificate = self._issue(cluster, request.csr, node.id, role)
        except CAError as error:
            answer(CertificateIssued(request.node_id, b"", b"", str(error)))
            return

        def build(tx: WriteTx) -> None:
            current = tx.get("nodes", node.id)
            if not isinstance(current, Node):
                raise ApiError("NotFound", f"node {node.id} not found")
            tx.update(replace(current, certificate=certificate))

        def done(error: ShoalError | None) -> None:
            if error is not None:
                answer(CertificateIssued(request.node_id, b"", b"", str(error)))
                return
            pem = certificate.certificate.encode()
            answer(CertificateIssued(request.node_id, pem, trust_roots(cluster)))

        leadership.writes.submit(build, done)

    def _new_raft_id(self) -> NodeId:
        taken = self.raft.conf.voters | self.raft.conf.removed | set(self.peers)
        while True:
            candidate = self.rng.getrandbits(63) | 1
            if candidate not in taken:
                return candidate

    def members(self) -> tuple[tuple[int, str], ...]:
        return tuple((i, self.peers[i]) for i in sorted(self.peers) if i in self.raft.conf.voters)

    def _promote(self, node: Node) -> None:
        """A worker whose spec says manager: give it a Raft id and tell it once the id
        is recorded on its Node (it asks to be added once its member runs; a node that
        is down is told when back). A demotion that comes first keeps the id from
        being recorded, and the node from being told."""
        leadership = self.leadership
        if leadership is None or node.id not in leadership.dispatcher.sessions:
            return
        raft_id = self._raft_id(node)
        if raft_id:
            self._tell_promoted(node.id, raft_id)
            return
        raft_id = self._new_raft_id()
        status = ManagerStatus(
            reachability=Reachability.REACHABLE, addr=node.status.addr, raft_id=raft_id
        )
        updated = replace(node, manager_status=status)

        def build(tx: WriteTx) -> None:
            if tx.get("nodes", node.id) == node:
                tx.update(updated)

        def recorded(error: ShoalError | None) -> None:
            stored = self.store.tables["nodes"].get(node.id)
            if error is None and isinstance(stored, Node) and self._raft_id(stored) == raft_id:
                self._tell_promoted(node.id, raft_id)

        leadership.writes.submit(build, recorded)
        self.peers[raft_id] = node.status.addr

    def _tell_promoted(self, node_id: str, raft_id: NodeId) -> None:
        leadership = self.leadership
        if leadership is None or raft_id in self.raft.conf.voters:
            return
        session = leadership.dispatcher.sessions.get(node_id)
        if session is not None:
            self._send(session.host, Promoted(node_id, raft_id, self.members()))

    @staticmethod
    def _raft_id(node: Node) -> NodeId:
        return node.manager_status.raft_id if node.manager_status else 0

    def _demote(self, node: Node) -> None:
        raft_id = self._raft_id(node)
        if raft_id not in self.raft.conf.voters:
            return
        if raft_id == self.raft.id:
            # The next leader removes this member. A transfer under way is left to run
            # (Raft abandons it after an election timeout, then writes flow again);
            # with no reachable voter to take over, the next role check tries again.
            with contextlib.suppress(RaftError):
                self.raft.transfer_leadership()
            return
        try:
            self.raft.propose_conf_change(ConfChange(ChangeKind.REMOVE, raft_id))
        except RaftError:
            return  # another change is under way; the role check tries again

    def _stop_member(self, node: Node, raft_id: NodeId) -> None:
        """A demoted node that is no voter but may run a manager all the same (told of
        its promotion, it started one; the demotion came before it was let in) still
        holds a manager's certificate: tell it it is no member, as Raft's traffic would
        (it then renews as a worker, which clears this)."""
        leadership = self.leadership
        cert = node.certificate
        if leadership is None or not raft_id or cert is None or cert.role is not NodeRole.MANAGER:
            return
        session = leadership.dispatcher.sessions.get(node.id)
        if session is not None:
            self._send(session.host, MemberRemoved(raft_id))

    def _check_roles(self) -> None:
        """Demoted managers still in the membership are removed, one at a time;
        promoted workers are told to start their member."""
        if self.mono < self._roles_checked_at + ROLE_CHECK_SECONDS:
            return
        self._roles_checked_at = self.mono
        voters = self.raft.conf.voters
        for _, node in sorted(self.store.tables["nodes"].items()):
            assert isinstance(node, Node)
            raft_id = self._raft_id(node)
            if node.spec.role is NodeRole.WORKER and raft_id in voters:
                self._demote(node)
                return
            if node.spec.role is NodeRole.WORKER:
                self._stop_member(node, raft_id)
            promoted = node.spec.role is NodeRole.MANAGER and raft_id not in voters
            if promoted and raft_id not in self.raft.conf.removed:
                self._promote(node)

    def _refresh_peers(self) -> None:
        """Learn every manager's address the store holds (at start, after a snapshot)."""
        self._learn_peers(self.store.tables["nodes"].values())

    def _learn_peers(self, nodes: Iterable[StoredObject | None]) -> None:
        for node in nodes:
            status = node.manager_status if isinstance(node, Node) else None
            if status is not None and status.raft_id and status.addr:
                self.peers.setdefault(status.raft_id, status.addr)

    # -- outputs -------------------------------------------------------------------------

    def process(self) -> ManagerOutput:
        """Carry out everything Raft and the leader want done; return it."""
        for _ in range(64):
            while self.raft.has_ready():
                self._handle_ready()
            if not self._maybe_lead():
                break
        out, self.out = self.out, ManagerOutput()
        return out

    def _handle_ready(self) -> None:
        raft = self.raft
        ready = raft.ready()
        self.out.writes.extend(ready.writes)
        for message in ready.messages:
            host = self.peers.get(message.to)
            if host is not None:
                self.out.messages.append((host, RaftEnvelope(message)))
        if ready.snapshot_to_apply is not None:
            self.store = MemoryStore.restore(ready.snapshot_to_apply.data)
            self._refresh_peers()
            if self.leadership is not None:  # cannot happen on a leader; be safe
                self._stop_leading()
        for entry in ready.committed:
            self._apply(entry)
        for failure in ready.failed_proposals:
            self.in_flight.pop(failure.index, None)
        if ready.soft_state is not None:
            self.role, self.leader_id = ready.soft_state.role, ready.soft_state.leader
            if self.role is not Role.LEADER and self.leadership is not None:
                self._stop_leading()
        if not self.in_flight:
            self.round_open = False
        if raft.wants_snapshot():
            raft.snapshot(raft.log.applied, self.store.snapshot())

    def _apply(self, entry: Entry) -> None:
        if entry.kind is EntryKind.CONF_CHANGE or entry.data == b"":
            applied = self.store.apply_noop(entry.index)
            change = entry.change
            if change is not None and change.node_id == self.raft.id:
                self.out.removed_self = change.kind is ChangeKind.REMOVE
        else:
            applied = self.store.apply(entry.index, _transaction(entry))
            # only what the entry wrote can add a peer: scanning every node on every
            # entry cost 160 us an entry at 2,000 workers
            self._learn_peers(e.new for e in applied.events if isinstance(e, Event))
        self.out.applied.append((entry, applied))
        waiting = self.in_flight.pop(entry.index, None)
        if waiting is not None:
            term, dones = waiting
            error = (
                applied.error
                if term == entry.term
                else ApiError("Unknown", "raft: proposal dropped")
            )
            for done in dones:
                done(error)
        if self.leadership is not None:
            self.leadership.on_events(applied.events, self.mono, self.wall)

    def _maybe_lead(self) -> bool:
        """Start leading once caught up; propose the next round. Whether Raft has
        something new to hand out."""
        raft = self.raft
        if self.leadership is None:
            caught_up = raft.log.applied >= raft.log.last_index()
            if raft.role is Role.LEADER and caught_up:
                self.leadership = Leadership(
                    self.store,
                    self._send,
                    self.rng,
                    self._manager_hosts,
                    self.mutations,
                    self.entropy,
                )
                self.leadership.start(self.mono, self.wall)
            else:
                return False
        leadership = self.leadership
        if self.round_open or not leadership.writes.jobs:
            self._check_roles()
            return raft.has_ready()
        round_ = leadership.writes.take(self.store, int(self.wall * 1e9))
        for tx, dones in round_.transactions:
            try:
                index = raft.propose(tx)
            except RaftError as error:
                for done in dones:
                    done(ApiError("Unknown", str(error)))
                continue
            self.in_flight[index] = (raft.term, dones)
            self.round_open = True
        return raft.has_ready()

    def _stop_leading(self) -> None:
        assert self.leadership is not None
        self.leadership.stop()
        self.leadership = None
        self.in_flight.clear()
        self.round_open = False

    def _send(self, host: str, message: ClusterMessage) -> None:
        self.out.messages.append((host, message))

    def _manager_hosts(self) -> tuple[str, ...]:
        return tuple(self.peers[i] for i in sorted(self.peers) if i in self.raft.conf.voters)


def _transaction(entry: Entry) -> Transaction:
    """An entry's store transaction: the value itself as proposed or received (the
    simulator's managers share the leader's), or read from bytes (a WAL replayed)."""
    data = entry.data
    return data if isinstance(data, Transaction) else Transaction.decode(entry_bytes(entry))
