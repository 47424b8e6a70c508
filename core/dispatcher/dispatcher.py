"""The leader's dispatcher: agent sessions, node liveness, task status reports and
assignments (SwarmKit's ``manager/dispatcher``, §9).

- **Sessions.** An agent registers (its node must have joined), gets a session and a
  heartbeat period; its node is written READY with what it reports about itself.
  Silence makes it DOWN (:class:`~core.dispatcher.liveness.NodeLiveness`).
- **Status reports** are queued and written in batches every 100 ms; a report from a
  node the task is not on, or one that would lower the task's state, is dropped. A
  report is acknowledged only once its writes have committed (or changed nothing):
  one whose write fails is not, and the agent sends it again.
- **Assignments.** Once a node's tasks change in the store, its session gets the
  next message of its :class:`~core.dispatcher.assignments.AssignmentSet` (the whole
  set first), at most every 100 ms per node.
- **Managers.** Every session hears the managers' hosts when it opens and again
  whenever they change (SwarmKit's session stream), and each heartbeat's ack
  carries them too, so that a lost push is made good.
- **Roots.** ``Registered`` and every heartbeat's ack carry the roots the cluster's
  nodes are to trust (two during a root rotation), so that every node learns of a
  rotation, its end, or a new leader's view, within a heartbeat.
- **Heartbeat period:** the cluster object's ``Dispatcher.HeartbeatPeriod``, read
  afresh for every period drawn, so ``swarm update --dispatcher-heartbeat`` takes
  effect at each node's next heartbeat.

Messages go out through ``send(host, message)``; writes through the leader's
:class:`~core.manager.writes.WriteQueue`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from core.ca.rotation import trust_bundle
from core.dispatcher.assignments import AssignmentKind, AssignmentSet
from core.dispatcher.liveness import NodeLiveness, Orphan, SessionError, StatusChange
from core.dispatcher.networks import NetworkStates
from core.errors import ShoalError
from core.manager.writes import WriteQueue
from core.messages import (
    AssignmentsMessage,
    ClusterMessage,
    Heartbeat,
    HeartbeatAck,
    LeaderElected,
    ManagerList,
    Register,
    Registered,
    SessionRefused,
    StatusAck,
    StatusReport,
)
from core.model import replace
from core.model.cluster import Cluster, ClusterRootCA
from core.model.duration import SECOND
from core.model.enums import NodeState
from core.model.node import Node, NodeStatus
from core.model.secret import Config, Secret
from core.model.service import Service
from core.model.task import Task, TaskStatus
from core.model.timestamp import Timestamp
from core.store import Event, EventCommit, MemoryStore, WriteTx
from core.store.index import TaskIndex
from core.tasks.states import TaskState
from core.timers import TimerHeap

#: Status reports are written on a free-running tick of this period (SwarmKit: a 100 ms
#: timer reset after every flush), so a report waits 0-100 ms for its write, 50 on average.
STATUS_BATCH_SECONDS = 0.1
#: A node's assignment changes are sent this long after the first (SwarmKit: 100 ms).
ASSIGNMENT_BATCH_SECONDS = 0.1

Send = Callable[[str, ClusterMessage], None]
_Held = TypeVar("_Held", Secret, Config)


@dataclass(slots=True)
class _Session:
    host: str
    session: str
    assignments: AssignmentSet
    sequence: int = 0
    networks: dict[str, int] = field(default_factory=dict)  # network id -> version sent


@dataclass(slots=True)
class _PendingAcks:
    """The acks of the reports one batch of status writes carries: sent once every
    write is done, and only if none failed (the agent resends what is unacked)."""

    send: Send
    acks: list[tuple[str, StatusAck]]
    writes: int = 0
    failed: bool = False

    def done(self, error: ShoalError | None) -> None:
        self.writes -= 1
        self.failed = self.failed or error is not None
        if self.writes == 0 and not self.failed:
            for host, ack in self.acks:
                self.send(host, ack)


class Dispatcher:
    def __init__(
        self,
        store: MemoryStore,
        index: TaskIndex,
        writes: WriteQueue,
        send: Send,
        rng: random.Random,
        managers: Callable[[], tuple[str, ...]],
    ) -> None:
        self.store = store
        self.index = index
        self.writes = writes
        self.send = send
        self.liveness = NodeLiveness(rng)
        self.managers = managers
        self.sessions: dict[str, _Session] = {}  # node id -> its live session
        self.reports: dict[str, tuple[str, TaskStatus]] = {}  # task id -> (node, status)
        self.acks: list[tuple[str, StatusAck]] = []  # for the reports in ``reports``
        self.told_managers: tuple[str, ...] = ()  # the managers sessions were last told of
        self.dirty_nodes: set[str] = set()
        self.timers: TimerHeap[str] = TimerHeap()  # "statuses", "assignments"
        self.status_epoch = 0.0  # the status flush tick's phase: when leadership began
        self.networks = NetworkStates(store, index)
        self._roots: tuple[ClusterRootCA | None, bytes] = (None, b"")  # the last bundle made

    # -- leadership ----------------------------------------------------------------------

    def start(self, nodes: list[Node], mono: float, wall: float) -> None:
        self.status_epoch = mono
        self.told_managers = self.managers()
        self._heartbeat_period()
        changes = self.liveness.leader_started(
            ((n.id, n.status.state or NodeState.UNKNOWN) for n in nodes), mono
        )
        for change in changes:
            self._write_status(change, wall)
        for node in sorted(nodes, key=lambda n: n.id):
            if node.status.addr:
                self.send(node.status.addr, LeaderElected(node.id))

    # -- agent messages ----------------------------------------------------------------------

    def on_register(self, host: str, message: Register, mono: float, wall: float) -> None:
        node_id = message.node_id
        known = self.store.tables["nodes"].get(node_id)
        if known is None:
            self.send(host, SessionRefused(node_id, "node not found"))
            return
        try:
            session, period, change = self.liveness.register(node_id, mono)
        except SessionError as error:
            self.send(host, SessionRefused(node_id, str(error)))
            return
        self.sessions[node_id] = _Session(host, session, AssignmentSet(node_id))
        self.send(host, Registered(node_id, session, period, self.managers(), self.roots()))
        self._write_status(change, wall, registration=message, host=host)
        self._node_dirty(node_id, mono)

    def on_heartbeat(self, host: str, message: Heartbeat, mono: float) -> None:
        try:
            period = self.liveness.heartbeat(message.node_id, message.session, mono)
        except SessionError as error:
            # A stale heartbeat (an earlier session's, delayed or duplicated on the
            # way) refuses only itself: the node's live session, if any, goes on.
            self.send(host, SessionRefused(message.node_id, str(error)))
            return
        session = self.sessions.get(message.node_id)
        sent = session.sequence if session is not None else 0
        ack = HeartbeatAck(message.session, period, sent, self.managers(), self.roots())
        self.send(host, ack)

    def on_status(self, host: str, message: StatusReport, mono: float) -> None:
        current = self.sessions.get(message.node_id)
        if current is None or current.session != message.session:
            self.send(host, SessionRefused(message.node_id, "session invalid"))
            return
        for task_id, status in message.statuses:
            queued = self.reports.get(task_id)
            if queued is None or status.state >= queued[1].state:
                self.reports[task_id] = (message.node_id, status)
        self.acks.append((host, StatusAck(message.session, message.sequence)))
        if not self.timers.armed("statuses"):
            self.timers.arm("statuses", self._next_status_tick(mono))

    def _next_status_tick(self, mono: float) -> float:
        """The first tick of the status flush after ``mono``. SwarmKit's timer runs
        whether or not there is anything to write; only its phase matters, so the
        ticks that would find nothing are not armed at all."""
        elapsed = round((mono - self.status_epoch) / STATUS_BATCH_SECONDS, 9)  # float noise
        deadline = round(self.status_epoch + (elapsed // 1 + 1) * STATUS_BATCH_SECONDS, 9)
        return deadline if deadline > mono else deadline + STATUS_BATCH_SECONDS

    # -- store events ------------------------------------------------------------------------

    def on_task(self, old: Task | None, new: Task | None, mono: float) -> None:
        for task in (old, new):
            if task is not None and task.node_id and task.status.state >= TaskState.ASSIGNED:
                self._node_dirty(task.node_id, mono)

    def on_store_event(self, event: Event | EventCommit, mono: float) -> None:
        """Any committed change: the networks' states follow it."""
        self.networks.on_event(event)
        if self.networks.dirty and not self.timers.armed("assignments"):
            self.timers.arm("assignments", mono + ASSIGNMENT_BATCH_SECONDS)

    def on_node_removed(self, node_id: str) -> None:
        self.liveness.node_removed(node_id)
        self.sessions.pop(node_id, None)

    def _node_dirty(self, node_id: str, mono: float) -> None:
        if node_id in self.sessions:
            self.dirty_nodes.add(node_id)
            if not self.timers.armed("assignments"):
                self.timers.arm("assignments", mono + ASSIGNMENT_BATCH_SECONDS)

    # -- time --------------------------------------------------------------------------------

    def tick(self, mono: float, wall: float) -> None:
        self._heartbeat_period()
        self._push_managers()
        for decided in self.liveness.tick(mono):
            if isinstance(decided, Orphan):
                self._orphan(decided.node_id, wall)
            else:
                self.sessions.pop(decided.node_id, None)
                self._write_status(decided, wall)
        for kind in self.timers.pop_due(mono):
            if kind == "statuses":
                self._flush_statuses()
            else:
                self._flush_assignments()

    @property
    def next_deadline(self) -> float | None:
        deadlines = [
            d for d in (self.liveness.next_deadline, self.timers.next_deadline) if d is not None
        ]
        return min(deadlines, default=None)

    def _heartbeat_period(self) -> None:
        """Follow the cluster's ``Dispatcher.HeartbeatPeriod`` (``swarm update``)."""
        clusters = self.store.tables["clusters"]
        cluster = clusters[min(clusters)] if clusters else None
        if isinstance(cluster, Cluster):
            period_ns = cluster.spec.dispatcher.heartbeat_period_ns
            if period_ns > 0:
                self.liveness.base_period = period_ns / SECOND

    def roots(self) -> bytes:
        """The roots nodes are to trust now (PEM), from the cluster object; empty
        before the cluster has a root."""
        clusters = self.store.tables["clusters"]
        cluster = clusters[min(clusters)] if clusters else None
        stored = cluster.root_ca if isinstance(cluster, Cluster) else None
        if stored is None or not stored.ca_cert:
            return b""
        if self._roots[0] is not stored:
            self._roots = (stored, trust_bundle(stored))
        return self._roots[1]

    def _push_managers(self) -> None:
        """Tell every session the managers, when they changed since last told."""
        managers = self.managers()
        if managers == self.told_managers:
            return
        self.told_managers = managers
        for node_id in sorted(self.sessions):
            session = self.sessions[node_id]
            self.send(session.host, ManagerList(session.session, managers))

    def _flush_statuses(self) -> None:
        reports, self.reports = self.reports, {}
        pending = _PendingAcks(self.send, self.acks, writes=len(reports))
        self.acks = []
        if not reports:
            pending.writes = 1
            pending.done(None)
            return
        for task_id in sorted(reports):
            node_id, status = reports[task_id]
            self.writes.submit(_status_write(task_id, node_id, status), pending.done)

    def _flush_assignments(self) -> None:
        """Send each node what changed of its tasks and of the networks it needs."""
        task_dirty = self.dirty_nodes
        self.dirty_nodes = set()
        dirty = task_dirty | self.networks.refresh()
        tasks = self.store.tables["tasks"]
        for node_id in sorted(dirty):
            session = self.sessions.get(node_id)
            if session is None:
                continue
            message = None
            if node_id in task_dirty:
                mine = [tasks[i] for i in self.index.on_node(node_id) if i in tasks]
                message = session.assignments.next_message(t for t in mine if isinstance(t, Task))
            complete = message is not None and message.kind is AssignmentKind.COMPLETE
            sent = {} if complete else session.networks
            changed, removed, holds = self.networks.changes_for(node_id, sent)
            if message is None and not changed and not removed:
                continue
            session.networks = holds
            session.sequence += 1
            self.send(
                session.host,
                AssignmentsMessage(
                    session=session.session,
                    sequence=session.sequence,
                    complete=complete,
                    updates=message.updates if message is not None else (),
                    removes=message.removes if message is not None else (),
                    service_names=self._service_names(message.updates if message else ()),
                    networks=changed,
                    networks_removed=removed,
                    secrets=self._objects("secrets", message.secrets if message else (), Secret),
                    secrets_removed=message.secrets_removed if message else (),
                    configs=self._objects("configs", message.configs if message else (), Config),
                    configs_removed=message.configs_removed if message else (),
                ),
            )

    def _objects(self, table: str, ids: tuple[str, ...], kind: type[_Held]) -> tuple[_Held, ...]:
        """The secrets or configs of ``ids`` as the store has them; one that is gone
        is not sent (the task that needs it fails to prepare, as SwarmKit's does)."""
        objects = self.store.tables[table]
        return tuple(o for i in ids if isinstance(o := objects.get(i), kind))

    def _service_names(self, tasks: Iterable[Task]) -> tuple[tuple[str, str], ...]:
        """Each task's service id with its name, sorted by id (a removed service's
        tasks have none)."""
        services = self.store.tables["services"]
        names = {}
        for service_id in {task.service_id for task in tasks}:
            service = services.get(service_id)
            if isinstance(service, Service):
                names[service_id] = service.spec.name
        return tuple(sorted(names.items()))

    # -- writes ------------------------------------------------------------------------------

    def _write_status(
        self,
        change: StatusChange,
        wall: float,
        registration: Register | None = None,
        host: str = "",
    ) -> None:
        def build(tx: WriteTx) -> None:
            node = tx.get("nodes", change.node_id)
            if not isinstance(node, Node):
                return
            status = NodeStatus(
                state=change.state, message=change.message, addr=host or node.status.addr
            )
            described = registration.description if registration else node.description
            if status != node.status or described != node.description:
                tx.update(replace(node, status=status, description=described))

        self.writes.submit(build)

    def _orphan(self, node_id: str, wall: float) -> None:
        stamp = Timestamp.from_seconds(wall)
        for task_id in self.index.on_node(node_id):

            def build(tx: WriteTx, task_id: str = task_id) -> None:
                task = tx.get("tasks", task_id)
                if not isinstance(task, Task):
                    return
                if TaskState.ASSIGNED <= task.status.state <= TaskState.RUNNING:
                    status = replace(
                        task.status,
                        timestamp=stamp,
                        state=TaskState.ORPHANED,
                        message="task orphaned",
                    )
                    tx.update(replace(task, status=status))

            self.writes.submit(build)


def _status_write(task_id: str, node_id: str, status: TaskStatus) -> Callable[[WriteTx], None]:
    def build(tx: WriteTx) -> None:
        task = tx.get("tasks", task_id)
        if not isinstance(task, Task) or task.node_id != node_id:
            return  # gone, or not this node's (SwarmKit: PermissionDenied)
        if status.state < task.status.state or status == task.status:
            return  # a report that would lower the state is dropped
        tx.update(replace(task, status=status))

    return build
