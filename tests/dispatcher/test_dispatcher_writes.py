"""The dispatcher on a leader whose writes commit (or are refused) when the test
says: status acks only after commit, lower states dropped, the cluster's heartbeat
period, and a day-long DOWN node's tasks orphaned and reaped. A small stand-in for
the manager applies each round of the leader's writes to the store (no Raft);
everything runs on simulated seconds."""

from __future__ import annotations

import random

import pytest

from core.dispatcher.liveness import HEARTBEAT_MISSES_MAX
from core.manager.leader import Leadership
from core.manager.requests import ApiError
from core.messages import (
    AssignmentsMessage,
    ClusterMessage,
    Heartbeat,
    HeartbeatAck,
    LeaderElected,
    ManagerList,
    Register,
    Registered,
    StatusAck,
    StatusReport,
)
from core.model import replace
from core.model.cluster import Cluster, ClusterSpec, DispatcherConfig
from core.model.duration import SECOND
from core.model.enums import NodeRole, NodeState
from core.model.node import Node, NodeDescription, NodeSpec, NodeStatus
from core.model.service import (
    ContainerSpec,
    ReplicatedService,
    Service,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
)
from core.model.task import Task, TaskStatus
from core.model.timestamp import Timestamp
from core.store import MemoryStore, WriteTx
from core.tasks.states import TaskState

DAY = 24 * 3600.0
WALL = 1_700_000_000.0  # the wall clock at mono 0
TEMPLATE = TaskSpec(container_spec=ContainerSpec(image="nginx"))


class Leader:
    """A leader's components over a store; its writes commit when :meth:`pump` runs
    them, or are refused while ``refusing`` (a proposal dropped on the same leader)."""

    def __init__(self, store: MemoryStore, managers: tuple[str, ...] = ("m1",)) -> None:
        self.store = store
        self.managers = managers
        self.sent: list[tuple[str, ClusterMessage]] = []
        self.leadership = Leadership(
            store, lambda h, m: self.sent.append((h, m)), random.Random(7), lambda: self.managers
        )
        self.refusing = False
        self.now = 0.0

    def start(self) -> None:
        self.leadership.start(self.now, WALL + self.now)
        self.pump()

    def pump(self) -> None:
        lead = self.leadership
        while lead.writes.jobs:
            round_ = lead.writes.take(self.store, int((WALL + self.now) * 1e9))
            for tx, dones in round_.transactions:
                if self.refusing:
                    for done in dones:
                        done(ApiError("Unknown", "raft: proposal dropped"))
                    continue
                applied = self.store.apply(self.store.version + 1, tx)
                for done in dones:
                    done(applied.error)
                lead.on_events(applied.events, self.now, WALL + self.now)

    def run_until(self, end: float) -> None:
        """Time passes to ``end``, waking at every deadline the leader asks for."""
        while True:
            deadline = self.leadership.next_deadline
            if deadline is None or deadline > end:
                break
            self.now = max(self.now, deadline)
            self.leadership.tick(self.now, WALL + self.now)
            self.pump()
        self.now = end
        self.leadership.tick(self.now, WALL + self.now)
        self.pump()

    def write(self, build: object) -> None:
        self.leadership.writes.submit(build)  # type: ignore[arg-type]
        self.pump()

    def messages(self, kind: type) -> list:  # type: ignore[type-arg]
        return [m for _, m in self.sent if isinstance(m, kind)]

    def task(self, task_id: str) -> Task:
        task = self.store.tables["tasks"][task_id]
        assert isinstance(task, Task)
        return task

    def node(self, node_id: str) -> Node:
        node = self.store.tables["nodes"][node_id]
        assert isinstance(node, Node)
        return node


def seeded_store(heartbeat_ns: int | None = None) -> MemoryStore:
    """A cluster, one worker ``n1`` and a one-replica service whose task runs there."""
    store = MemoryStore()
    dispatcher = (
        DispatcherConfig()
        if heartbeat_ns is None
        else DispatcherConfig(heartbeat_period_ns=heartbeat_ns)
    )
    cluster = Cluster(id="c1", spec=ClusterSpec(name="default", dispatcher=dispatcher))
    node = Node(
        id="n1",
        spec=NodeSpec(role=NodeRole.WORKER),
        description=NodeDescription(hostname="w1"),
        status=NodeStatus(state=NodeState.READY, addr="w1"),
    )
    spec = ServiceSpec(
        name="web",
        task_template=TEMPLATE,
        mode=ServiceMode(replicated=ReplicatedService(replicas=1)),
    )
    service = Service(id="s1", spec=spec)
    stamp = Timestamp.from_seconds(WALL - 60)
    task = Task(
        id="t1",
        service_id="s1",
        slot=1,
        node_id="n1",
        spec=TEMPLATE,
        status=TaskStatus(timestamp=stamp, state=TaskState.RUNNING),
        desired_state=TaskState.RUNNING,
    )

    def build(tx: WriteTx) -> None:
        for obj in (cluster, node, service, task):
            tx.create(obj)

    store.apply(1, store.transaction(build, int((WALL - 60) * 1e9)))
    return store


def registered(leader: Leader) -> Registered:
    leader.leadership.dispatcher.on_register("w1", Register("n1", NodeDescription()), 0.0, WALL)
    leader.pump()
    [reply] = leader.messages(Registered)
    return reply


def report(session: str, sequence: int, state: TaskState, at: float) -> StatusReport:
    status = TaskStatus(
        timestamp=Timestamp.from_seconds(WALL + at), state=state, message=state.name
    )
    return StatusReport("n1", session, sequence, (("t1", status),))


# -- a status is acknowledged only once it is in the store ---------------------------------


def test_a_status_whose_write_is_refused_is_not_acknowledged_and_its_resend_lands() -> None:
    leader = Leader(seeded_store())
    leader.start()
    session = registered(leader).session
    dispatcher = leader.leadership.dispatcher
    leader.refusing = True  # the write will be refused on this same leader
    dispatcher.on_status("w1", report(session, 1, TaskState.COMPLETE, 1.0), 1.0)
    assert leader.messages(StatusAck) == []  # not before the write is done
    leader.run_until(2.0)
    assert leader.messages(StatusAck) == []  # refused: the agent must send it again
    assert leader.task("t1").status.state is TaskState.RUNNING
    leader.refusing = False
    dispatcher.on_status("w1", report(session, 2, TaskState.COMPLETE, 3.0), 3.0)  # the resend
    leader.run_until(4.0)
    assert leader.messages(StatusAck) == [StatusAck(session, 2)]
    assert leader.task("t1").status.state is TaskState.COMPLETE


def test_a_report_that_changes_nothing_is_acknowledged_too() -> None:
    leader = Leader(seeded_store())
    leader.start()
    session = registered(leader).session
    leader.leadership.dispatcher.on_status("w1", report(session, 1, TaskState.STARTING, 1.0), 1.0)
    leader.run_until(2.0)
    assert leader.messages(StatusAck) == [StatusAck(session, 1)]


# -- statuses are written on the dispatcher's free-running tick ---------------------------


@pytest.mark.parametrize(
    ("led_from", "reported_at", "written_at"),
    [(0.0, 1.03, 1.1), (0.0, 1.1, 1.2), (0.0, 2.57, 2.6), (0.35, 1.03, 1.05)],
)
def test_a_status_is_written_at_the_next_tick_of_the_flush_timer(
    led_from: float, reported_at: float, written_at: float
) -> None:
    """SwarmKit's status timer runs every 100 ms since leadership began, whether or not
    a report came: a report waits only until its next tick, not 100 ms from itself."""
    leader = Leader(seeded_store())
    leader.now = led_from
    leader.start()
    session = registered(leader).session
    leader.run_until(reported_at)
    leader.leadership.dispatcher.on_status(
        "w1", report(session, 1, TaskState.COMPLETE, reported_at), reported_at
    )
    leader.run_until(written_at - 0.001)
    assert leader.task("t1").status.state is TaskState.RUNNING
    leader.run_until(written_at)
    assert leader.task("t1").status.state is TaskState.COMPLETE


# -- a report never lowers a task's state --------------------------------------------------


def test_a_report_that_would_lower_the_state_is_dropped() -> None:
    leader = Leader(seeded_store())
    leader.start()
    session = registered(leader).session
    before = leader.task("t1").status
    leader.leadership.dispatcher.on_status("w1", report(session, 1, TaskState.STARTING, 1.0), 1.0)
    leader.run_until(2.0)
    assert leader.task("t1").status == before
    leader.leadership.dispatcher.on_status("w1", report(session, 2, TaskState.FAILED, 3.0), 3.0)
    leader.run_until(4.0)
    assert leader.task("t1").status.state is TaskState.FAILED  # a higher one lands


# -- the cluster's heartbeat period ---------------------------------------------------------


def set_heartbeat(leader: Leader, seconds: float) -> None:
    def build(tx: WriteTx) -> None:
        cluster = tx.get("clusters", "c1")
        assert isinstance(cluster, Cluster)
        dispatcher = DispatcherConfig(heartbeat_period_ns=int(seconds * SECOND))
        tx.update(replace(cluster, spec=replace(cluster.spec, dispatcher=dispatcher)))

    leader.write(build)


def down_after(leader: Leader, since: float) -> float:
    """Simulated seconds from ``since`` until node n1 is DOWN."""
    step = 0.05
    while leader.node("n1").status.state is not NodeState.DOWN:
        assert leader.now < since + 200, "never down"
        leader.run_until(leader.now + step)
    return leader.now - since


@pytest.mark.parametrize("seed_period", [10.0, 2.0])
def test_the_heartbeat_period_is_the_clusters(seed_period: float) -> None:
    leader = Leader(seeded_store(int(seed_period * SECOND)))
    leader.start()
    reply = registered(leader)
    assert seed_period - 0.5 <= reply.period <= seed_period + 0.5
    leader.leadership.dispatcher.on_heartbeat("w1", Heartbeat("n1", reply.session), 1.0)
    [ack] = leader.messages(HeartbeatAck)
    assert seed_period - 0.5 <= ack.period <= seed_period + 0.5
    took = down_after(leader, 1.0)  # silent from the heartbeat on
    assert HEARTBEAT_MISSES_MAX * (seed_period - 0.5) - 0.1 <= took
    assert took <= HEARTBEAT_MISSES_MAX * (seed_period + 0.5) + 0.2


def test_a_new_heartbeat_period_applies_from_the_next_heartbeat() -> None:
    leader = Leader(seeded_store())
    leader.start()
    reply = registered(leader)
    assert 4.5 <= reply.period <= 5.5
    set_heartbeat(leader, 10.0)  # swarm update --dispatcher-heartbeat 10s
    leader.run_until(1.0)
    leader.leadership.dispatcher.on_heartbeat("w1", Heartbeat("n1", reply.session), 1.0)
    [ack] = leader.messages(HeartbeatAck)
    assert 9.5 <= ack.period <= 10.5
    assert 28.5 - 0.1 <= down_after(leader, 1.0) <= 31.5 + 0.2


# -- the managers' list -------------------------------------------------------------------


def test_every_session_hears_of_a_change_of_managers() -> None:
    leader = Leader(seeded_store())
    leader.start()
    reply = registered(leader)
    assert reply.managers == ("m1",)
    leader.run_until(1.0)
    assert leader.messages(ManagerList) == []  # no change, no news
    leader.managers = ("m1", "m2")
    leader.run_until(2.0)
    assert leader.sent[-1] == ("w1", ManagerList(reply.session, ("m1", "m2")))
    leader.leadership.dispatcher.on_heartbeat("w1", Heartbeat("n1", reply.session), 3.0)
    assert leader.messages(HeartbeatAck)[-1].managers == ("m1", "m2")


# -- a day DOWN: orphaned, then reaped -------------------------------------------------------


def test_tasks_of_a_node_down_for_a_day_are_orphaned_then_reaped_with_their_service() -> None:
    leader = Leader(seeded_store())
    leader.start()  # n1 never registers: UNKNOWN, then DOWN after its grace
    leader.run_until(60.0)
    assert leader.node("n1").status.state is NodeState.DOWN
    assert leader.task("t1").status.state is TaskState.RUNNING  # as last reported
    leader.run_until(DAY - 60)
    assert leader.task("t1").status.state is TaskState.RUNNING  # not yet a day
    leader.run_until(DAY + 60)
    orphaned = leader.task("t1").status
    assert orphaned.state is TaskState.ORPHANED and orphaned.message == "task orphaned"

    def remove_service(tx: WriteTx) -> None:
        service = tx.get("services", "s1")
        assert service is not None
        tx.delete(service)

    leader.write(remove_service)
    leader.run_until(DAY + 70)
    assert "t1" not in leader.store.tables["tasks"]  # the node never came back


def test_a_new_leader_tells_every_node_it_leads() -> None:
    leader = Leader(seeded_store())
    leader.start()
    assert ("w1", LeaderElected("n1")) in leader.sent


# -- a stale heartbeat refuses only itself ---------------------------------------------------


def test_an_earlier_sessions_heartbeat_leaves_the_live_session_its_assignments() -> None:
    """Sweep seed 5230: a heartbeat of a node's earlier session arrived late; the
    dispatcher dropped the node's live session (liveness kept it, so heartbeats went
    on being answered) and the node never heard of its tasks' changes again."""
    leader = Leader(seeded_store())
    leader.start()
    first = registered(leader).session
    dispatcher = leader.leadership.dispatcher
    dispatcher.on_register("w1", Register("n1", NodeDescription()), 1.0, WALL + 1.0)
    leader.pump()
    second = leader.messages(Registered)[-1].session
    assert second != first
    dispatcher.on_heartbeat("w1", Heartbeat("n1", first), 2.0)  # late, from the first
    dispatcher.on_heartbeat("w1", Heartbeat("n1", second), 2.1)
    assert leader.messages(HeartbeatAck)[-1].session == second
    leader.sent.clear()
    leader.write(lambda tx: tx.update(replace(leader.task("t1"), desired_state=TaskState.SHUTDOWN)))
    leader.run_until(3.0)
    [assigned] = leader.messages(AssignmentsMessage)
    assert assigned.session == second
    assert [t.desired_state for t in assigned.updates] == [TaskState.SHUTDOWN]


# -- a worker names containers by their service's name ----------------------------------------


def test_assignments_say_the_name_of_each_updated_tasks_service() -> None:
    """A worker has no store: without the names its containers were ``<service id>.1.…``."""
    leader = Leader(seeded_store())
    leader.start()
    registered(leader)
    leader.run_until(1.0)
    [complete] = leader.messages(AssignmentsMessage)
    assert complete.complete and complete.service_names == (("s1", "web"),)
    leader.sent.clear()
    leader.write(lambda tx: tx.update(replace(leader.task("t1"), desired_state=TaskState.SHUTDOWN)))
    leader.run_until(3.0)
    [changed] = leader.messages(AssignmentsMessage)
    assert not changed.complete and changed.service_names == (("s1", "web"),)
