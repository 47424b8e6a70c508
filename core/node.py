"""One host's swarm node: a manager and/or an agent behind the driver contract of
DESIGN.md (inputs in, one envelope of outputs out).

Inputs: :meth:`SwarmNode.advance` (time), :meth:`receive` (a message from a host),
:meth:`executor_result`, :meth:`request` (a client request with an id) and
:meth:`persisted` (Raft's durable writes are on disk). After any input,
:meth:`ready` hands out a :class:`NodeReady`: durable writes (Raft's, the agent's
store, the node's identity), messages, executor commands, replies and the next
deadline. A message that depends on a Raft write is only handed out once the write
is confirmed (Raft holds it back); a reply to a write only after it is applied.

The node handles ``SwarmInit``, ``SwarmJoin`` and ``SwarmLeave`` itself; every other
request goes to the leader's control API, forwarded by a follower, and is answered
with ``DeadlineExceeded`` if no answer came in 20 s (the write may still commit).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from core.agent.agent import Agent, AgentOutput, AgentWrite
from core.ca import chain
from core.ca import policy as ca_policy
from core.ca.cluster import issue, stored_root
from core.ca.credentials import NodeCredentials, accept
from core.ca.errors import CAError
from core.ca.issue import new_csr
from core.ca.renewal import renewal_delay, role_changed
from core.ca.root import RootCA, create_root_ca
from core.ca.rotation import bundle_issuer
from core.ca.tokens import check_root, join_token, parse_join_token
from core.dataplane.state import NetworkState
from core.errors import ShoalError
from core.manager.autolock import new_unlock_key, not_locked_error
from core.manager.manager import Manager
from core.manager.mutations import NO_MUTATIONS, ManagerMutations
from core.manager.objects_api import default_ingress
from core.manager.requests import (
    ALREADY_IN_SWARM,
    JOIN_RETRY_SECONDS,
    NOT_A_MANAGER,
    NOT_IN_SWARM,
    NOT_THE_LEADER,
    REQUEST_TIMEOUT_SECONDS,
    WORKER_NOT_MANAGER,
    ApiError,
    ClientReply,
    ClientRequest,
    deadline_exceeded,
    no_leader,
)
from core.manager.swarm_spec import init_options
from core.messages import (
    CertificateIssued,
    ClusterMessage,
    ForwardedReply,
    ForwardedRequest,
    Heartbeat,
    JoinAccepted,
    JoinRaft,
    JoinRefused,
    JoinRequest,
    LogReply,
    LogRequest,
    MemberRemoved,
    Promoted,
    Proxied,
    RaftEnvelope,
    Register,
    RenewCertificate,
    RootCAReply,
    RootCARequest,
    SessionRefused,
    StatusReport,
)
from core.model.cluster import Cluster, JoinTokens
from core.model.common import TLSInfo
from core.model.enums import NodeRole, NodeState, Reachability
from core.model.ids import new_id
from core.model.node import ManagerStatus, Node, NodeDescription, NodeSpec, NodeStatus
from core.model.task import Task
from core.raft.config import RaftConfig
from core.raft.node import RaftNode, bootstrap_state
from core.raft.storage import PersistentState
from core.raft.ticker import Ticker
from core.raft.types import DurableWrite, Entry, NodeId
from core.store import Applied, WriteTx
from core.tasks.executor import ExecutorCommand, ExecutorResult
from core.timers import TimerHeap

NODE_METHODS = ("SwarmInit", "SwarmJoin", "SwarmLeave")
#: A follower asks the leader how reachable the managers are (dockerd's managerStats,
#: a ListNodes call with a 5 s timeout) before it refuses a manager's leave.
MANAGER_STATS = "ManagerStats"
MANAGER_STATS_TIMEOUT_SECONDS = 5.0
LEAVE_AS_MANAGER = (
    "You are attempting to leave the swarm on a node that is participating as a manager. "
)
LEAVE_LAST_MANAGER = (
    "Removing the last manager erases all current state of the swarm. Use `--force` to "
    "ignore this message."
)
LEAVE_MAY_LOSE_CONSENSUS = "Doing so may lose the consensus of your cluster. "
LEAVE_RESTORE = (
    "The only way to restore a swarm that has lost consensus is to reinitialize it with "
    "`--force-new-cluster`. Use `--force` to suppress this message."
)


def leave_refusal(stats: tuple[bool, int, int] | None, active: bool = True) -> str:
    """Why a manager may not leave without --force, in dockerd's words: the quorum
    sentence only when leaving would lose quorum (``removingManagerCausesLossOfQuorum``:
    reachable - 2 <= unreachable); ``stats`` is (this node reachable, reachable,
    unreachable), None when they could not be had; ``active``: a leader is known."""
    if not active:
        return LEAVE_AS_MANAGER + LEAVE_MAY_LOSE_CONSENSUS + LEAVE_RESTORE
    if stats is None:
        return LEAVE_AS_MANAGER + LEAVE_RESTORE
    current, reachable, unreachable = stats
    if not current or reachable - 2 > unreachable:
        return LEAVE_AS_MANAGER + LEAVE_RESTORE
    if reachable == 1 and unreachable == 0:
        return LEAVE_AS_MANAGER + LEAVE_LAST_MANAGER
    return (
        LEAVE_AS_MANAGER
        + f"Removing this node leaves {reachable - 1} managers out of "
        + f"{reachable + unreachable}. Without a Raft quorum your swarm will be inaccessible. "
        + LEAVE_RESTORE
    )


AgentMessage = Register | Heartbeat | StatusReport | LogReply
#: What an agent says over its session, relayed to the leader by a follower.
SESSION_MESSAGES = (Register, Heartbeat, StatusReport, LogReply, RenewCertificate)
#: The deadline key of the certificate renewal timer (request ids never look like it).
RENEWAL_TIMER = "$certificate-renewal"
JOIN_RETRY_TIMER = "$join-retry"
#: How long a renewal request waits for its answer before it is sent again.
RENEWAL_RETRY_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """Who this host is in the swarm: kept on disk beside Raft's state."""

    node_id: str
    manager: bool
    raft_id: int
    managers: tuple[tuple[int, str], ...]  # (raft id, host) as last known
    # key, certificate and root: the node's TLS identity (None before it has one)
    credentials: NodeCredentials | None = None


@dataclass(slots=True)
class PendingJoin:
    """A ``swarm join`` under way: first the root (checked against the token), then the
    CSR for a key made for it, then the certificate."""

    request_id: str
    token: str
    key_pem: bytes = b""
    csr_pem: bytes = b""
    root: RootCA | None = None
    #: the manager asked last while none led (asked again on JOIN_RETRY_TIMER)
    waiting_on: str = ""


@dataclass(slots=True)
class NodeReady:
    raft_writes: list[DurableWrite] = field(default_factory=list)
    # Raft's durable state starts anew from this (swarm init, --force-new-cluster),
    # before ``raft_writes`` are applied
    raft_reset: PersistentState | None = None
    agent_writes: list[AgentWrite] = field(default_factory=list)
    identity: NodeIdentity | bool | None = False  # False: unchanged; None: left the swarm
    messages: list[tuple[str, ClusterMessage]] = field(default_factory=list)
    commands: list[ExecutorCommand] = field(default_factory=list)
    replies: list[ClientReply] = field(default_factory=list)
    next_deadline: float | None = None
    # the store entries applied (a manager), for the driver's checkers
    applied: list[tuple[Entry, Applied]] = field(default_factory=list)
    # new TLS credentials, in use from now on (the driver reloads its TLS contexts);
    # they are also in ``identity``, which the driver writes before anything else
    credentials: NodeCredentials | None = None
    # the overlay networks to program changed: exactly these, by network id
    networks: Mapping[str, NetworkState] | None = None
    # the key this node's data key is to be wrapped under changed (None: unchanged):
    # the swarm's unlock key on a manager, "" on a worker or without autolock
    unlock_key: str | None = None


@dataclass
class NodeDisk:
    """What a restarted node is given back: the durable part of itself."""

    identity: NodeIdentity | None = None
    raft: PersistentState = field(default_factory=PersistentState)
    tasks: dict[str, Task] = field(default_factory=dict)


class SwarmNode:
    def __init__(
        self,
        host: str,
        description: NodeDescription,
        rng: random.Random,
        entropy: Callable[[int], bytes],
        raft_config: RaftConfig,
        tick_seconds: float,
        mono: float,
        wall: float,
        disk: NodeDisk | None = None,
        incarnation: int = 1,
        mutations: ManagerMutations = NO_MUTATIONS,
    ) -> None:
        self.host = host
        self.mutations = mutations
        self.description = description
        self.rng = rng
        self.entropy = entropy
        self.raft_config = raft_config
        self.tick_seconds = tick_seconds
        self.mono, self.wall = mono, wall
        self.incarnation = incarnation
        self.out = NodeReady()
        self.identity: NodeIdentity | None = None
        self.manager: Manager | None = None
        self.agent: Agent | None = None
        self.ticker: Ticker | None = None
        self.requests: dict[str, str] = {}  # request id -> "" (local client) or origin host
        self.via: dict[str, str] = {}  # agent host -> the manager relaying its session
        self.deadlines: TimerHeap[str] = TimerHeap()
        self.pending_init: str | None = None
        self.init_options: dict[str, Any] = {}  # the new cluster's settings (swarm init)
        self.pending_join: PendingJoin | None = None
        self.renewal: tuple[bytes, bytes] | None = None  # (key, CSR) of a renewal under way
        self.leaving: set[str] = set()  # leave requests waiting for the leader's stats
        self.unlock_key_told: str | None = None  # the last NodeReady.unlock_key
        # a promotion's JoinRaft, held until the manager's certificate is installed
        self.raft_join: tuple[str, JoinRaft] | None = None
        # Raft's state as written so far (what ``--force-new-cluster`` starts from)
        self.raft_state = disk.raft.copy() if disk is not None else PersistentState()
        if disk is not None and disk.identity is not None:
            self._boot(disk)

    # -- booting -------------------------------------------------------------------------

    def _boot(self, disk: NodeDisk) -> None:
        identity = disk.identity
        assert identity is not None
        self.identity = identity
        if identity.manager and identity.raft_id:
            raft = RaftNode(identity.raft_id, self.raft_config, self.rng, disk.raft.copy())
            self._start_manager(raft, {i: h for i, h in identity.managers if i})
        self._start_agent(identity, disk.tasks)
        if identity.credentials is not None:
            self._arm_renewal()

    def _start_manager(self, raft: RaftNode, peers: dict[NodeId, str]) -> None:
        assert self.identity is not None
        self.manager = Manager(
            self.host, self.identity.node_id, raft, self.rng, peers, self.mutations, self.entropy
        )
        self.ticker = Ticker(self.tick_seconds, self.mono)

    def _start_agent(self, identity: NodeIdentity, tasks: dict[str, Task]) -> None:
        hosts = tuple(h for _, h in identity.managers) or (self.host,)
        self.agent = Agent(
            identity.node_id, hosts, self._described(), self.rng, tasks, epoch=self.incarnation
        )
        self._take_agent(self.agent.start(self.mono, self.wall))

    def _set_identity(self, identity: NodeIdentity | None) -> None:
        self.identity = identity
        self.out.identity = identity

    # -- inputs ---------------------------------------------------------------------------

    def advance(self, mono: float, wall: float) -> None:
        self.mono, self.wall = mono, wall
        manager = self.manager
        if manager is not None and self.ticker is not None:
            for _ in range(self.ticker.advance(mono)):
                manager.tick(mono, wall)
            manager.advance(mono, wall)
        if self.agent is not None:
            self._take_agent(self.agent.tick(mono, wall))
        for request_id in self.deadlines.pop_due(mono):
            if request_id == RENEWAL_TIMER:
                self._renew()
                continue
            if request_id == JOIN_RETRY_TIMER:
                self._ask_again()
                continue
            if self._join_timed_out(request_id):
                continue
            if request_id in self.leaving:
                self.leaving.discard(request_id)
                self._refuse_leave(request_id, None)  # no stats: the plain refusal
                continue
            origin = self.requests.pop(request_id, None)
            if origin is not None:
                self._reply(request_id, origin, False, None, deadline_exceeded())

    def receive(self, source: str, message: ClusterMessage) -> None:
        manager, agent = self.manager, self.agent
        mono, wall = self.mono, self.wall
        if source != self.host and self._cut_off():
            return  # no peer completes a TLS handshake with an expired certificate
        if isinstance(message, RaftEnvelope):
            if manager is not None and message.message.to == manager.raft.id:
                if message.message.source in manager.raft.conf.removed:
                    self.out.messages.append((source, MemberRemoved(message.message.source)))
                    return
                manager.step(message.message, mono, wall)
            return
        if isinstance(message, MemberRemoved):
            if manager is not None and manager.raft.id == message.raft_id:
                self._demoted()
            return
        if isinstance(message, ForwardedRequest):
            self._serve_forwarded(source, message)
            return
        if isinstance(message, ForwardedReply):
            if message.request_id in self.leaving:
                self.leaving.discard(message.request_id)
                self.deadlines.cancel(message.request_id)
                stats = tuple(message.value) if message.ok else None
                self._refuse_leave(message.request_id, stats)
            elif self.requests.pop(message.request_id, None) is not None:
                self.deadlines.cancel(message.request_id)
                self.out.replies.append(
                    ClientReply(
                        message.request_id, message.ok, message.value, message.error, message.code
                    )
                )
            return
        if isinstance(message, RootCARequest):
            self._serve_root_ca(source)
            return
        if isinstance(message, RootCAReply):
            self._root_ca_received(source, message)
            return
        if isinstance(message, JoinRequest):
            self._serve_join(source, message)
            return
        if isinstance(message, (JoinAccepted, JoinRefused)):
            self._joined(source, message)
            return
        if isinstance(message, RenewCertificate):
            self.via.pop(source, None)
            self._serve_renewal(source, message)
            return
        if isinstance(message, CertificateIssued):
            self._renewed(message)
            return
        if isinstance(message, Promoted):
            self._promoted(source, message)
            return
        if isinstance(message, JoinRaft):
            if manager is not None and manager.is_leader:
                manager.peers[message.raft_id] = source
                manager.add_member(message.raft_id, message.node_id)
            return
        if isinstance(message, Proxied):
            self._proxied(source, message)
            return
        if isinstance(message, (Register, Heartbeat, StatusReport, LogReply)):
            self.via.pop(source, None)  # the agent reaches this manager itself
            self._from_agent(source, message)
            return
        if isinstance(message, LogRequest):
            if agent is not None:
                self._take_agent(agent.logs_requested(source, message))
            return
        if agent is not None:
            agent.receive(source, message, mono, wall)
            self._take_agent(agent.flush())

    def _from_agent(self, source: str, message: AgentMessage) -> None:
        if isinstance(message, LogReply):
            manager = self.manager
            if manager is not None and manager.leadership is not None:
                manager.leadership.logs.on_reply(source, message)
            elif manager is not None and manager.leader_host not in ("", self.host):
                self.out.messages.append((manager.leader_host, Proxied(source, message)))
            return
        self._dispatch(source, message)

    def _proxied(self, source: str, envelope: Proxied) -> None:
        """On the leader: an agent's message through ``source``; answers to that
        agent go back the same way until it talks to the leader itself. On the
        relay: the leader's answer, passed on to the agent."""
        message = envelope.message
        manager = self.manager
        if isinstance(message, SESSION_MESSAGES):
            if manager is not None and manager.leadership is not None:
                self.via[envelope.origin] = source
            if isinstance(message, RenewCertificate):
                self._serve_renewal(envelope.origin, message)
            else:
                self._from_agent(envelope.origin, message)
        elif envelope.origin == self.host:
            self.receive(self.host, message)  # for this host's own agent, relayed here
        else:
            self.out.messages.append((envelope.origin, message))

    def _dispatch(self, source: str, message: Register | Heartbeat | StatusReport) -> None:
        """An agent's session message: the leader's dispatcher serves it; a follower
        that knows the leader relays it there (and the answers back); one that does
        not refuses, and the agent tries another manager."""
        manager = self.manager
        if manager is None:
            return
        leadership = manager.leadership
        if leadership is None:
            leader = manager.leader_host
            if leader and leader != self.host:
                self.out.messages.append((leader, Proxied(source, message)))
                return
            refusal = SessionRefused(message.node_id, "not the leader", leader)
            self.out.messages.append((source, refusal))
        elif isinstance(message, Register):
            leadership.dispatcher.on_register(source, message, self.mono, self.wall)
        elif isinstance(message, Heartbeat):
            leadership.dispatcher.on_heartbeat(source, message, self.mono)
        else:
            leadership.dispatcher.on_status(source, message, self.mono)

    def executor_result(self, result: ExecutorResult) -> None:
        if self.agent is not None:
            self._take_agent(self.agent.executor_result(result, self.mono, self.wall))

    def persisted(self, seq: int) -> None:
        if self.manager is not None:
            self.manager.persisted(seq)

    def request(self, request: ClientRequest) -> None:
        method = request.method
        if method == "SwarmInit":
            self._init(request)
        elif method == "SwarmJoin":
            self._join(request)
        elif method == "SwarmLeave":
            self._leave(request)
        elif method == "SwarmUnlock":
            self._unlock(request)
        else:
            self._api(request.id, "", method, dict(request.params))

    # -- the API ---------------------------------------------------------------------------

    def _api(self, request_id: str, origin: str, method: str, params: dict[str, Any]) -> None:
        manager = self.manager
        if manager is None:  # dockerd's errNoManager: outside a swarm, or a worker
            words = NOT_A_MANAGER if self.identity is None else WORKER_NOT_MANAGER
            self._reply(request_id, origin, False, None, ApiError("Unavailable", words))
            return
        self.requests[request_id] = origin
        self.deadlines.arm(request_id, self.mono + REQUEST_TIMEOUT_SECONDS)
        if manager.is_leader:
            manager.api(
                method,
                params,
                lambda ok, value, error: self._answer(request_id, ok, value, error),
            )
        elif manager.leader_host and manager.leader_host != self.host:
            forwarded = ForwardedRequest(
                self.host, request_id, method, tuple(sorted(params.items()))
            )
            self.out.messages.append((manager.leader_host, forwarded))
        else:
            self.requests.pop(request_id, None)
            self.deadlines.cancel(request_id)
            self._reply(request_id, origin, False, None, no_leader())

    def _serve_forwarded(self, source: str, message: ForwardedRequest) -> None:
        manager = self.manager
        if message.method == MANAGER_STATS and manager is not None and manager.is_leader:
            raft_id = int(dict(message.params).get("raft_id", 0))
            stats = self._manager_stats(raft_id)
            self.out.messages.append((source, ForwardedReply(message.request_id, True, stats, "")))
            return
        if manager is None or not manager.is_leader:
            self.out.messages.append(
                (
                    source,
                    ForwardedReply(message.request_id, False, None, str(no_leader()), "Unknown"),
                )
            )
            return
        self._api(message.request_id, source, message.method, dict(message.params))

    def _answer(self, request_id: str, ok: bool, value: Any, error: ShoalError | None) -> None:
        origin = self.requests.pop(request_id, None)
        if origin is None:
            return  # timed out already
        self.deadlines.cancel(request_id)
        self._reply(request_id, origin, ok, value, error)

    def _reply(
        self, request_id: str, origin: str, ok: bool, value: Any, error: ShoalError | None
    ) -> None:
        reply = (
            ClientReply.failed(request_id, error)
            if error is not None
            else ClientReply(request_id, True, value)
        )
        if origin:
            forwarded = ForwardedReply(request_id, reply.ok, reply.value, reply.error, reply.code)
            self.out.messages.append((origin, forwarded))
        else:
            self.out.replies.append(reply)

    def _unlock(self, request: ClientRequest) -> None:
        """A running node is not locked (a locked one is its driver's: it cannot even
        read its disk, so no node exists to ask); dockerd's words for each case."""
        if self.identity is None:
            error: ApiError = ApiError("Unavailable", NOT_A_MANAGER)
        elif self.manager is None:
            error = ApiError("Unavailable", WORKER_NOT_MANAGER)
        else:
            error = not_locked_error()
        self.out.replies.append(ClientReply.failed(request.id, error))

    def _unlock_key(self) -> str | None:
        """The key this node's data key is to be wrapped under now: the swarm's unlock
        key on a manager whose store holds the cluster, "" on a worker or outside a
        swarm (workers are never locked), None while a manager does not know yet."""
        manager = self.manager
        if manager is None:
            return ""
        for cluster in manager.store.tables["clusters"].values():
            if isinstance(cluster, Cluster):
                return cluster.unlock_key
        return None

    # -- swarm init, join, leave -------------------------------------------------------------

    def _init(self, request: ClientRequest) -> None:
        force = bool(request.params.get("force_new_cluster"))
        if self.identity is not None and not force:
            self.out.replies.append(
                ClientReply.failed(request.id, ApiError("Unavailable", ALREADY_IN_SWARM))
            )
            return
        if force:
            if self.manager is None or self.identity is None:
                self.out.replies.append(
                    ClientReply.failed(
                        request.id, ApiError("FailedPrecondition", "this node is not a manager")
                    )
                )
                return
            self._force_new_cluster(request)
            return
        try:
            self.init_options = init_options(request.params)
        except ShoalError as error:
            self.out.replies.append(ClientReply.failed(request.id, error))
            return
        node_id = new_id(self.rng)
        raft_id = self.rng.getrandbits(63) | 1
        self._set_identity(NodeIdentity(node_id, True, raft_id, ((raft_id, self.host),)))
        state = bootstrap_state([raft_id])
        self._reset_raft(state)
        raft = RaftNode(raft_id, self.raft_config, self.rng, state.copy())
        self._start_manager(raft, {raft_id: self.host})
        self.pending_init = request.id

    def _force_new_cluster(self, request: ClientRequest) -> None:
        manager, identity = self.manager, self.identity
        assert manager is not None and identity is not None
        # The removals it appends reach the disk as ordinary writes.
        raft = RaftNode.force_new_cluster(
            identity.raft_id, self.raft_config, self.rng, self.raft_state.copy()
        )
        peers = dict(manager.peers)
        self._start_manager(raft, peers)
        self._set_identity(replace(identity, managers=((identity.raft_id, self.host),)))
        self.out.replies.append(ClientReply(request.id, True, identity.node_id))

    def _reset_raft(self, state: PersistentState) -> None:
        self.raft_state = state.copy()
        self.out.raft_reset = state.copy()
        self.out.raft_writes = []

    def _bootstrap_cluster(self) -> None:
        """The first leader of a new swarm makes the root CA and writes the cluster
        (with the root, and both join tokens naming its digest) and its own node with a
        manager certificate, which it uses once the write has committed."""
        manager, identity = self.manager, self.identity
        assert manager is not None and manager.leadership is not None and identity is not None
        root = create_root_ca(self.entropy, self.wall)
        tokens = JoinTokens(
            worker=join_token(root, self.entropy), manager=join_token(root, self.entropy)
        )
        autolock = self.init_options["spec"].encryption_config.auto_lock_managers
        cluster = Cluster(
            id=new_id(self.rng),
            **self.init_options,
            join_tokens=tokens,
            tls_info=root.tls_info(),
            root_ca=stored_root(root),
            unlock_key=new_unlock_key(self.entropy) if autolock else "",
        )
        key_pem, csr_pem = new_csr(self.entropy)
        certificate = issue(
            cluster,
            csr_pem,
            node_id=identity.node_id,
            role=NodeRole.MANAGER,
            wall=self.wall,
            entropy=self.entropy,
        )
        credentials = accept(key_pem, certificate.certificate.encode(), root.public())
        node = Node(
            id=identity.node_id,
            spec=NodeSpec(role=NodeRole.MANAGER),
            description=self.description,
            status=NodeStatus(state=NodeState.UNKNOWN, addr=self.host),
            manager_status=ManagerStatus(
                leader=True,
                reachability=Reachability.REACHABLE,
                addr=self.host,
                raft_id=identity.raft_id,
            ),
            certificate=certificate,
        )
        request_id = self.pending_init
        self.pending_init = None

        ingress = default_ingress(new_id(self.rng))

        def build(tx: WriteTx) -> None:
            tx.create(cluster)
            tx.create(node)
            tx.create(ingress)

        def done(error: ShoalError | None) -> None:
            if request_id is None:
                return
            if error is not None:
                self.out.replies.append(ClientReply.failed(request_id, error))
                return
            self._install(credentials)
            assert self.identity is not None
            self._start_agent(self.identity, {})
            self.out.replies.append(ClientReply(request_id, True, identity.node_id))

        manager.leadership.writes.submit(build, done, alone=True)

    def _join(self, request: ClientRequest) -> None:
        if self.identity is not None:
            self.out.replies.append(
                ClientReply.failed(request.id, ApiError("Unavailable", ALREADY_IN_SWARM))
            )
            return
        remote, token = str(request.params["remote"]), str(request.params["token"])
        try:
            parse_join_token(token)
        except CAError as error:
            self.out.replies.append(ClientReply(request.id, False, error=str(error)))
            return
        self.pending_join = PendingJoin(request.id, token)
        self.out.messages.append((remote, RootCARequest(self.host)))
        self.deadlines.arm(request.id, self.mono + REQUEST_TIMEOUT_SECONDS)
        self.requests[request.id] = ""

    def _serve_root_ca(self, source: str) -> None:
        """Any manager hands out the cluster's root, to anyone: it is no secret."""
        manager = self.manager
        root = manager.root_ca() if manager is not None else b""
        if manager is None:
            self.out.messages.append((source, JoinRefused(NOT_A_MANAGER)))
        elif not root:
            leader = manager.leader_host
            self.out.messages.append((source, JoinRefused(NOT_THE_LEADER, leader)))
        else:
            self.out.messages.append((source, RootCAReply(root)))

    def _root_ca_received(self, source: str, message: RootCAReply) -> None:
        """The joiner trusts the root only if its digest is the token's; then it sends
        the token (a secret) and the CSR for a key of its own."""
        pending = self.pending_join
        if pending is None or pending.root is not None:
            return
        try:
            root = RootCA(message.root_ca)
            check_root(pending.token, root)
        except CAError as error:
            self._join_failed(pending.request_id, str(error))
            return
        pending.key_pem, pending.csr_pem = new_csr(self.entropy)
        pending.root = root
        self.out.messages.append((source, self._join_request(pending)))

    def _join_request(self, pending: PendingJoin) -> JoinRequest:
        return JoinRequest(self.host, pending.token, self.description, pending.csr_pem)

    def _join_ask(self, pending: PendingJoin) -> RootCARequest | JoinRequest:
        """The join's next question: the root until it is trusted, then the CSR."""
        return self._join_request(pending) if pending.root is not None else RootCARequest(self.host)

    def _ask_again(self) -> None:
        """The manager that had no leader is asked again (a join whose request has
        timed out is over and asks nothing)."""
        pending = self.pending_join
        if pending is not None and pending.waiting_on and pending.request_id in self.requests:
            self.out.messages.append((pending.waiting_on, self._join_ask(pending)))

    def _join_timed_out(self, request_id: str) -> bool:
        """A join that timed out while waiting for a leader says so in Docker's words
        for a swarm without one; any other join that timed out is just late."""
        pending = self.pending_join
        if pending is None or pending.request_id != request_id or not pending.waiting_on:
            return False
        self.deadlines.cancel(JOIN_RETRY_TIMER)
        self._join_failed(request_id, no_leader().message)
        return True

    def _join_failed(self, request_id: str, error: str) -> None:
        self.pending_join = None
        if self.requests.pop(request_id, None) is not None:
            self.deadlines.cancel(request_id)
            self.out.replies.append(
                ClientReply(request_id, False, error=error, code="InvalidArgument")
            )

    def _serve_join(self, source: str, message: JoinRequest) -> None:
        manager = self.manager
        if manager is None:
            self.out.messages.append((source, JoinRefused(NOT_A_MANAGER)))
            return
        manager.join(source, message, lambda answer: self.out.messages.append((source, answer)))

    def _joined(self, source: str, message: JoinAccepted | JoinRefused) -> None:
        pending = self.pending_join
        if pending is None:
            return
        request_id = pending.request_id
        if isinstance(message, JoinRefused):
            if message.leader and message.leader != source:
                self.out.messages.append((message.leader, self._join_ask(pending)))
                return
            if message.error == NOT_THE_LEADER:
                pending.waiting_on = source  # an election is under way: ask again
                self.deadlines.arm(JOIN_RETRY_TIMER, self.mono + JOIN_RETRY_SECONDS)
                return
            self._join_failed(request_id, message.error)
            return
        root = pending.root
        if root is None:
            return  # an answer to a request this join never sent
        try:
            if chain.split_pems(message.root_ca)[:1] != [root.cert_pem]:
                raise CAError("the manager's root CA changed while joining")
            credentials = accept(pending.key_pem, message.certificate, message.root_ca)
        except CAError as error:
            self._join_failed(request_id, str(error))
            return
        self.pending_join = None
        # the manager that let it in (the leader) first: the agent's first session
        # goes there directly rather than through a follower's relay
        managers = tuple(sorted(message.managers, key=lambda m: m[1] != source)) or ((0, source),)
        identity = NodeIdentity(message.node_id, message.manager, message.raft_id, managers)
        self._set_identity(identity)
        self._install(credentials)
        if message.manager:
            raft = RaftNode.join(message.raft_id, self.raft_config, self.rng)
            self._start_manager(raft, {i: h for i, h in managers if i})
        self._start_agent(identity, {})
        if self.requests.pop(request_id, None) is not None:
            self.deadlines.cancel(request_id)
            role = "manager" if message.manager else "worker"
            self.out.replies.append(
                ClientReply(request_id, True, f"This node joined a swarm as a {role}.")
            )

    def _promoted(self, source: str, message: Promoted) -> None:
        """Start a member; the leader says it again every role check until the member
        is a voter, so a JoinRaft that was lost is sent again."""
        identity, manager = self.identity, self.manager
        if identity is None or identity.node_id != message.node_id:
            return
        if manager is not None:
            if manager.raft.id == message.raft_id and self.raft_join is None:
                self.out.messages.append((source, JoinRaft(identity.node_id, message.raft_id)))
            return
        peers = {i: h for i, h in message.managers}
        self._set_identity(
            replace(identity, manager=True, raft_id=message.raft_id, managers=message.managers)
        )
        raft = RaftNode.join(message.raft_id, self.raft_config, self.rng)
        self._start_manager(raft, peers)
        join = (source, JoinRaft(identity.node_id, message.raft_id))
        credentials = identity.credentials
        if credentials is not None and role_changed(credentials.certificate, NodeRole.MANAGER):
            # as SwarmKit, it joins Raft once it holds a manager's certificate: the
            # managers' transport refuses Raft's messages from a worker's
            self.raft_join = join
        else:
            self.out.messages.append(join)
        self._arm_renewal()  # a worker's certificate: a manager's at once

    # -- certificates -----------------------------------------------------------------------

    def _install(self, credentials: NodeCredentials) -> None:
        """Use ``credentials`` from now on (they are durable with the identity) and
        arm the timer of their renewal."""
        identity = self.identity
        assert identity is not None
        self._set_identity(replace(identity, credentials=credentials))
        self.out.credentials = credentials
        self.renewal = None
        self._arm_renewal()
        self._describe()

    def _arm_renewal(self, role_check: bool = True) -> None:
        """Renew at a random point of 50-80% of the certificate's life, or now if the
        node's role is no longer the one it certifies (promotion, demotion)."""
        identity = self.identity
        if identity is None or identity.credentials is None:
            return
        cert = identity.credentials.certificate
        role = NodeRole.MANAGER if identity.manager else NodeRole.WORKER
        if role_check and role_changed(cert, role):
            self.deadlines.arm(RENEWAL_TIMER, self.mono)
            return
        delay = renewal_delay(cert, self.rng, self.wall)
        self.deadlines.arm(RENEWAL_TIMER, self.mono + delay)

    def _renew(self) -> None:
        """Ask for a new certificate over the session (a manager asks the leader), and
        ask again if no answer comes; an expired certificate reaches nobody."""
        identity, agent = self.identity, self.agent
        if identity is None or identity.credentials is None:
            return
        if self.renewal is None:
            self.renewal = new_csr(self.entropy)
        request = RenewCertificate(identity.node_id, self.renewal[1])
        manager = self.manager
        if manager is not None and (manager.is_leader or manager.leader_host):
            target = self.host if manager.is_leader else manager.leader_host
        else:
            target = agent.manager if agent is not None else ""
        if target:
            self.out.messages.append((target, request))
        cut_off = identity.credentials.expired(self.wall)
        retry = ca_policy.EXPIRED_RENEWAL_RETRY if cut_off else RENEWAL_RETRY_SECONDS
        self.deadlines.arm(RENEWAL_TIMER, self.mono + retry)

    def _serve_renewal(self, origin: str, message: RenewCertificate) -> None:
        """The leader signs; a follower relays to it (answers come back the same way)."""
        manager = self.manager
        if manager is None:
            return
        if manager.leadership is not None:
            manager.renew(message, lambda answer: self._to_agent(origin, answer))
            return
        leader = manager.leader_host
        if leader and leader != self.host:
            self.out.messages.append((leader, Proxied(origin, message)))

    def _renewed(self, message: CertificateIssued) -> None:
        """The leader's answer: installed when it certifies the key this renewal made
        and chains to the root this node trusts; otherwise the retry timer stands."""
        identity, renewal = self.identity, self.renewal
        if identity is None or identity.credentials is None or renewal is None:
            return
        if message.node_id != identity.node_id or message.error:
            return
        try:  # the roots as the leader trusts them now (two during a root rotation)
            credentials = accept(renewal[0], message.certificate, message.root_ca)
        except CAError:
            return
        self._set_identity(replace(identity, credentials=credentials))
        self.out.credentials = credentials
        self.renewal = None
        if self.manager is not None and role_changed(credentials.certificate, NodeRole.MANAGER):
            # a worker's certificate: the leader signs one only once the node is no
            # member (SwarmKit's node stops its manager when its role turns worker)
            self._demoted()
            self._describe()
            return
        self._arm_renewal(role_check=False)
        self._describe()
        join = self.raft_join
        if join is not None and not role_changed(credentials.certificate, NodeRole.MANAGER):
            self.raft_join = None
            self.out.messages.append(join)

    def _trust(self, roots_pem: bytes) -> None:
        """The dispatcher's roots: trusted from now on (the intermediate dropped once a
        rotation is over), and a certificate not from the newest of them is renewed at
        once (SwarmKit's rotation marks such nodes' certificates for renewal)."""
        identity = self.identity
        if identity is None or identity.credentials is None:
            return
        credentials = identity.credentials
        try:
            wanted = bundle_issuer(roots_pem)
            if roots_pem != credentials.root_pem:
                credentials = credentials.trusting(roots_pem)
        except CAError:
            return  # roots it cannot read: the ones it has stay
        if credentials is not identity.credentials:
            self._set_identity(replace(identity, credentials=credentials))
            self.out.credentials = credentials
            self._describe()
        if self.renewal is None and not credentials.issued_by(wanted):
            self.deadlines.arm(RENEWAL_TIMER, self.mono)

    def _described(self) -> NodeDescription:
        """What the node reports: its description with the TLS it presents now."""
        identity = self.identity
        credentials = identity.credentials if identity is not None else None
        if credentials is None:
            return self.description
        try:
            tls = credentials.issuer_info
        except CAError:  # a certificate its own roots do not vouch for: roots only
            tls = TLSInfo(trust_root=credentials.root.cert_pem.decode())
        return replace(self.description, tls_info=tls)

    def _describe(self) -> None:
        """Tell the agent what the node now reports (it re-registers when it changed)."""
        if self.agent is not None:
            self.agent.describe(self._described(), self.mono)
            self._take_agent(self.agent.flush())

    def _cut_off(self) -> bool:
        """Whether this node's certificate has expired (on its own clock): no manager
        accepts it and it accepts no one, until it leaves and joins again."""
        identity = self.identity
        credentials = identity.credentials if identity is not None else None
        return credentials is not None and credentials.expired(self.wall)

    def _leave(self, request: ClientRequest) -> None:
        if self.identity is None:
            self.out.replies.append(
                ClientReply.failed(request.id, ApiError("Unavailable", NOT_IN_SWARM))
            )
            return
        manager = self.manager
        if manager is not None and not request.params.get("force"):
            # A manager leaves only with --force; what the refusal says depends on
            # the managers' reachability as the leader sees it (dockerd's Leave).
            if manager.is_leader:
                self._refuse_leave(request.id, self._manager_stats(manager.raft.id))
            elif manager.leader_host and manager.leader_host != self.host:
                ask = ForwardedRequest(
                    self.host, request.id, MANAGER_STATS, (("raft_id", manager.raft.id),)
                )
                self.out.messages.append((manager.leader_host, ask))
                self.leaving.add(request.id)
                self.deadlines.arm(request.id, self.mono + MANAGER_STATS_TIMEOUT_SECONDS)
            else:
                self._refuse_leave(request.id, None, active=False)
            return
        self._left(request.id)

    def _manager_stats(self, raft_id: int) -> tuple[bool, int, int]:
        """On the leader: whether ``raft_id`` is a reachable manager, and how many
        managers are reachable and unreachable (dockerd's ``managerStats``)."""
        manager = self.manager
        assert manager is not None
        voters = manager.raft.conf.voters
        reachable = voters & manager._reachable()
        return raft_id in reachable, len(reachable), len(voters - reachable)

    def _refuse_leave(
        self, request_id: str, stats: tuple[bool, int, int] | None, active: bool = True
    ) -> None:
        message = leave_refusal(stats, active)
        self.out.replies.append(ClientReply.failed(request_id, ApiError("Unavailable", message)))

    def _left(self, request_id: str) -> None:
        self.manager = None
        self.agent = None
        self.ticker = None
        self.renewal = None
        self.deadlines.cancel(RENEWAL_TIMER)
        self._set_identity(None)
        self.out.networks = {}  # a node outside any swarm is on no overlay
        self.out.replies.append(ClientReply(request_id, True, "Node left the swarm."))

    # -- outputs ---------------------------------------------------------------------------------

    def _take_agent(self, output: AgentOutput) -> None:
        self.out.messages.extend(output.messages)
        self.out.commands.extend(output.commands)
        self.out.agent_writes.extend(output.writes)
        if output.managers is not None:
            self._managers_changed(output.managers)
        if output.networks is not None:
            self.out.networks = output.networks
        if output.root_ca is not None:
            self._trust(output.root_ca)

    def _managers_changed(self, hosts: tuple[str, ...]) -> None:
        """The agent heard of a new list of managers: the identity keeps it (with
        each one's Raft id where this node knows it), so a restart starts from it."""
        identity = self.identity
        if identity is None:
            return
        raft_ids = {h: i for i, h in identity.managers if i}
        if self.manager is not None:
            raft_ids.update((h, i) for i, h in sorted(self.manager.peers.items()))
        managers = tuple((raft_ids.get(h, 0), h) for h in hosts)
        if managers != identity.managers:
            self._set_identity(replace(identity, managers=managers))

    def info(self) -> dict[str, Any]:
        """Who this node is, for ``docker info`` and the checkers: its hostname and
        node ID ("" before a swarm), whether it manages, leads, and its Raft
        position, and the managers it knows of as (Raft id, host) pairs."""
        identity, manager = self.identity, self.manager
        return {
            "host": self.host,
            "hostname": self.description.hostname,
            "node_id": identity.node_id if identity is not None else "",
            "manager": identity is not None and identity.manager,
            "leader": manager is not None and manager.is_leader,
            "term": manager.raft.term if manager is not None else 0,
            "commit_index": manager.raft.log.committed if manager is not None else 0,
            "last_index": manager.raft.log.last_index() if manager is not None else 0,
            "managers": identity.managers if identity is not None else (),
            "held": self._held(),
        }

    def _held(self) -> dict[str, list[str]]:
        """The names of the secrets and configs its agent holds now (never data)."""
        agent = self.agent
        if agent is None:
            return {"secret": [], "config": []}
        return {
            "secret": sorted(s.spec.name for s in agent.secrets.values()),
            "config": sorted(c.spec.name for c in agent.configs.values()),
        }

    def ready(self) -> NodeReady:
        manager = self.manager
        if manager is not None:
            removed = self._take_manager(manager)
            if self.pending_init is not None and manager.leadership is not None:
                self._bootstrap_cluster()
                removed = self._take_manager(manager) or removed
            if removed:
                self._demoted()
        unlock_key = self._unlock_key()
        if unlock_key is not None and unlock_key != self.unlock_key_told:
            if unlock_key and self.unlock_key_told == "" and self.manager is not None:
                # SwarmKit's updateKEK: a TLS key kept under a data key that was in the
                # clear may have been copied; a new one is wrapped from the start
                self.deadlines.arm(RENEWAL_TIMER, self.mono)
            self.out.unlock_key = self.unlock_key_told = unlock_key
        deadlines = [self.deadlines.next_deadline]
        if self.ticker is not None:
            deadlines.append(self.ticker.next_deadline)
        if manager is not None and manager.leadership is not None:
            deadlines.append(manager.leadership.next_deadline)
        if self.agent is not None:
            deadlines.append(self.agent.next_deadline)
        found = [d for d in deadlines if d is not None]
        self.out.next_deadline = min(found, default=None)
        out, self.out = self.out, NodeReady()
        if self._cut_off():
            out.messages = [(t, m) for t, m in out.messages if t == self.host]
        return out

    def _take_manager(self, manager: Manager) -> bool:
        """Collect the manager's outputs; whether it was removed from the membership."""
        produced = manager.process()
        for write in produced.writes:
            self.raft_state.apply(write)
        self.out.raft_writes.extend(produced.writes)
        for target, message in produced.messages:
            self._to_agent(target, message)
        self.out.applied.extend(produced.applied)
        return produced.removed_self

    def _to_agent(self, target: str, message: ClusterMessage) -> None:
        """Send to ``target``, through the manager relaying its session if it has one."""
        relay = self.via.get(target)
        if relay is not None and not isinstance(message, RaftEnvelope):
            self.out.messages.append((relay, Proxied(target, message)))
        else:
            self.out.messages.append((target, message))

    def _demoted(self) -> None:
        """No longer a manager: its Raft state is dropped from its disk (SwarmKit's
        manager stops with clearData), so a worker keeps no copy of the store, which
        holds every secret, under data keys it keeps in the clear."""
        identity = self.identity
        self.manager = None
        self.ticker = None
        self.raft_join = None
        self._reset_raft(PersistentState())
        if identity is not None:
            self._set_identity(replace(identity, manager=False, raft_id=0))
            self._arm_renewal()  # a manager's certificate: a worker's at once
