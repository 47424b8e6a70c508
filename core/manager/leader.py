"""Everything a manager runs only while it leads: the allocator, the scheduler, the
orchestrators, the task reaper, the constraint enforcer and the dispatcher, fed by
the store's committed events and by time, writing through one queue.

A :class:`Leadership` is made when the manager becomes leader and has applied its
whole log, and dropped when it stops leading; nothing of it survives, as in
SwarmKit, where a new leader rebuilds from the store. Its writes are only proposed
while it lives; writes in flight when it ends fail (the Raft proposals do).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

from core.allocator.allocator import Allocator
from core.ca.keys import Entropy
from core.dispatcher.dispatcher import Dispatcher, Send
from core.errors import ShoalError
from core.manager.logs import LogGather
from core.manager.mutations import NO_MUTATIONS, ManagerMutations
from core.manager.orchestration import Orchestration, invalid_node
from core.manager.root_rotation import RootRotationReconciler
from core.manager.writes import WriteQueue
from core.model import replace
from core.model.cluster import Cluster
from core.model.defaults import DEFAULT_ADDR_POOL, TASK_HISTORY_RETENTION_LIMIT
from core.model.enums import NodeAvailability
from core.model.network import Network
from core.model.node import Node
from core.model.service import Service
from core.model.task import Task
from core.orchestrator import constraint_enforcer, reaper
from core.scheduler.scheduler import Decision, Scheduler
from core.store import Event, EventCommit, MemoryStore, WriteTx
from core.store.index import SlotKey, TaskIndex, slot_key
from core.tasks.states import TaskState
from core.update.supervisor import UpdateSupervisor


class StaleDecision(ShoalError):
    """A scheduling decision read a task or node that has changed since."""


class Leadership:
    def __init__(
        self,
        store: MemoryStore,
        send: Send,
        rng: random.Random,
        managers: Callable[[], tuple[str, ...]],
        mutations: ManagerMutations = NO_MUTATIONS,
        entropy: Entropy | None = None,
    ) -> None:
        self.store = store
        self.writes = WriteQueue()
        self.index = TaskIndex(self._tasks())
        self.allocator = Allocator()
        self.scheduler = Scheduler(mutations=mutations)
        self.orchestration = Orchestration(self.writes, self.index, rng, mutations=mutations)
        orchestration = self.orchestration
        self.updates = UpdateSupervisor(
            self.writes, orchestration.start_later, orchestration.tasks_in, rng
        )
        self.orchestration.updater = self.updates.update
        self.dispatcher = Dispatcher(store, self.index, self.writes, send, rng, managers)
        self.reap: set[SlotKey] = set()  # slots the reaper should look at
        self.logs = LogGather(send)
        self.root_rotation = RootRotationReconciler(store, self.writes, entropy)
        self.active = True

    def _tasks(self) -> list[Task]:
        return [t for t in self.store.tables["tasks"].values() if isinstance(t, Task)]

    def _all(self, table: str) -> list:  # type: ignore[type-arg]
        objects = self.store.tables[table]
        return [objects[i] for i in sorted(objects)]

    # -- life ------------------------------------------------------------------------------

    def start(self, mono: float, wall: float) -> None:
        """Rebuild every component's view from the store (SwarmKit's leader start
        and ``taskinit``), then reconcile everything."""
        nodes: list[Node] = self._all("nodes")
        services: list[Service] = self._all("services")
        tasks = sorted(self._tasks(), key=lambda t: t.id)
        networks: list[Network] = self._all("networks")
        cluster = next(iter(self._all("clusters")), None)
        if isinstance(cluster, Cluster):
            self._address_pools(cluster)
        self.allocator.restore(networks, services, tasks, nodes)  # what is held stays held
        for network in networks:
            self._allocate_network(network)
        for service in services:
            self._allocate_service(service)
        for task in tasks:
            self._allocate_task(task, wall)
        for node in nodes:
            tasks_here = self._tasks_by_id(self.index.on_node(node.id))
            self._node_networks(
                node, {a.network.id for t in tasks_here for a in t.networks_attachments}
            )
        self.scheduler.load(tuple(nodes), tuple(tasks), tuple(services))
        by_service: dict[str, list[Task]] = {}
        for task in tasks:
            by_service.setdefault(task.service_id, []).append(task)
        self.orchestration.start(services, lambda s: by_service.get(s, []), mono, wall)
        self.dispatcher.start(nodes, mono, wall)
        self.reap.update(self.index.by_slot)
        self.on_commit(mono, wall)

    def stop(self) -> None:
        self.active = False
        self.orchestration.stop()
        self.updates.stop()
        self.writes.jobs.clear()

    # -- events ------------------------------------------------------------------------------

    def on_events(self, events: Iterable[Event | EventCommit], mono: float, wall: float) -> None:
        for event in events:
            if isinstance(event, EventCommit):
                continue
            self.index.on_event(event)
            self.dispatcher.on_store_event(event, mono)
            handler = getattr(self, f"_on_{event.table}", None)
            if handler is not None:
                handler(event, mono, wall)
            self.orchestration.on_event(event, mono)
            self.updates.on_event(event, mono, wall)
        self.on_commit(mono, wall)

    def on_commit(self, mono: float, wall: float) -> None:
        self.scheduler.commit(mono)
        self.orchestration.on_commit(mono, wall)
        if self.reap:
            self._reap()

    def _on_clusters(self, event: Event, mono: float, wall: float) -> None:
        if isinstance(event.new, Cluster):  # made by swarm init after this leader started
            self._address_pools(event.new)

    def _address_pools(self, cluster: Cluster) -> None:
        """New subnets come from the swarm's default address pools (``swarm init
        --default-addr-pool``, ``--default-addr-pool-mask-length``)."""
        pools = cluster.default_addr_pool or DEFAULT_ADDR_POOL
        self.allocator.pool.configure(pools, cluster.subnet_size)

    def _on_networks(self, event: Event, mono: float, wall: float) -> None:
        if event.new is None:
            self.allocator.network_removed(event.object.id)
            for node in self._all("nodes"):  # their endpoints on it go
                if any(a.network.id == event.object.id for a in node.attachments):
                    self._node_networks(node, set())
        else:
            assert isinstance(event.new, Network)
            self._allocate_network(event.new)

    def _on_services(self, event: Event, mono: float, wall: float) -> None:
        if event.new is None:
            self.allocator.service_removed(event.object.id)
            self.scheduler.service_removed(event.object.id)
        else:
            assert isinstance(event.new, Service)
            meshed = self.allocator.mesh_in_use()
            self._allocate_service(event.new)
            self.scheduler.service_changed(event.new)
            if self.allocator.mesh_in_use() and not meshed:  # every node needs ingress now
                for node in self._all("nodes"):
                    self._node_networks(node, set())
        tasks = self._tasks_by_id(self.index.of_service(event.object.id))
        self.reap.update(slot_key(task) for task in tasks)

    def _on_nodes(self, event: Event, mono: float, wall: float) -> None:
        if event.new is None:
            self.scheduler.node_removed(event.object.id)
            self.dispatcher.on_node_removed(event.object.id)
            self.allocator.node_removed(event.object.id)
            return
        node = event.new
        assert isinstance(node, Node)
        self._node_networks(node, set())
        self.scheduler.node_changed(node)
        if node.spec.availability is NodeAvailability.ACTIVE and not invalid_node(node):
            self._enforce(node, wall)

    def _on_tasks(self, event: Event, mono: float, wall: float) -> None:
        old, new = event.old, event.new
        assert old is None or isinstance(old, Task)
        assert new is None or isinstance(new, Task)
        if new is None:
            assert old is not None
            self.allocator.task_removed(old.id)
            self.scheduler.task_removed(old)
        else:
            self._allocate_task(new, wall)
            self.scheduler.task_changed(new, mono)
            if new.node_id and new.networks_attachments:
                node = self.store.tables["nodes"].get(new.node_id)
                if isinstance(node, Node):
                    self._node_networks(node, {a.network.id for a in new.networks_attachments})
        self.dispatcher.on_task(old, new, mono)
        for task in (old, new):
            if task is not None:
                self.reap.add(slot_key(task))

    # -- the allocator -------------------------------------------------------------------------

    def _allocate_network(self, network: Network) -> None:
        try:
            allocated = self.allocator.network_changed(network)
        except ShoalError:
            # SwarmKit's allocator: a subnet that overlaps another, or none left, leaves
            # the network unallocated (created all the same), and its tasks wait
            return
        if allocated is not None and allocated != network:
            self.writes.submit(_rewrite("networks", network, allocated))

    def _allocate_service(self, service: Service) -> None:
        try:
            allocated = self.allocator.service_changed(service)
        except ShoalError:
            return  # a port taken since the API checked: the service waits
        if allocated.endpoint != service.endpoint:
            self.writes.submit(_rewrite("services", service, allocated))

    def _allocate_task(self, task: Task, wall: float) -> None:
        service = self.store.tables["services"].get(task.service_id)
        assert service is None or isinstance(service, Service)
        allocated = self.allocator.task_changed(task, service, wall)
        if allocated is not None:
            self.writes.submit(_allocation(allocated))

    def _node_networks(self, node: Node, needed: set[str]) -> None:
        """Give the node its load-balancer endpoint on each network it needs (those
        its tasks are attached to, and ingress while the routing mesh is in use),
        and drop those of networks that are gone."""
        ingress = self.allocator.ingress_id()
        if ingress and self.allocator.mesh_in_use():
            needed.add(ingress)
        allocated = self.allocator.node_needs(node, needed)
        if allocated is not None:
            self.writes.submit(_node_attachments(allocated))

    # -- the reaper and the constraint enforcer ----------------------------------------------

    def _reap(self) -> None:
        dirty, self.reap = sorted(self.reap, key=repr), set()
        services = self.store.tables["services"]
        limit = TASK_HISTORY_RETENTION_LIMIT
        cluster = next(iter(self._all("clusters")), None)
        if isinstance(cluster, Cluster):
            configured = cluster.spec.orchestration.task_history_retention_limit
            limit = limit if configured is None else configured
        by_service: dict[str, set[str]] = {}
        for key in dirty:
            by_service.setdefault(key[0], set()).update(self.index.by_slot.get(key, ()))
        for service_id in sorted(by_service):
            service = services.get(service_id)
            known = {service_id: service} if isinstance(service, Service) else {}
            mine = self._tasks_by_id(sorted(by_service[service_id]))
            doomed = reaper.deletions(mine, known, limit)
            for start in range(0, len(doomed), 200):
                self.writes.submit(_deletes(doomed[start : start + 200]))

    def _enforce(self, node: Node, wall: float) -> None:
        mine = self._tasks_by_id(self.index.on_node(node.id))
        services = {t.service_id: self.store.tables["services"].get(t.service_id) for t in mine}
        known = {k: v for k, v in services.items() if isinstance(v, Service)}
        before = {t.id: t for t in mine}
        for rejected in constraint_enforcer.rejections(node, mine, known, wall):
            self.writes.submit(_rewrite("tasks", before[rejected.id], rejected))

    def _tasks_by_id(self, ids: Iterable[str]) -> list[Task]:
        tasks = self.store.tables["tasks"]
        found = (tasks.get(i) for i in ids)
        return [t for t in found if isinstance(t, Task)]

    # -- time ----------------------------------------------------------------------------------

    def tick(self, mono: float, wall: float) -> None:
        self.dispatcher.tick(mono, wall)
        self.orchestration.tick(mono)
        self.updates.tick(mono, wall)
        self.logs.tick(mono)
        self.root_rotation.tick(mono)
        for decision in self.scheduler.tick(mono, wall):
            self.writes.submit(*self._decision_write(decision))

    def _decision_write(
        self, decision: Decision
    ) -> tuple[Callable[[WriteTx], None], Callable[[ShoalError | None], None]]:
        def build(tx: WriteTx) -> None:
            current = tx.get("tasks", decision.old.id)
            if current != decision.old:
                raise StaleDecision(f"task {decision.old.id} changed since it was scheduled")
            if decision.node_version is not None:
                node = tx.get("nodes", decision.new.node_id)
                if node is None or node.version.index != decision.node_version:
                    raise StaleDecision(f"node {decision.new.node_id} changed")
            tx.update(decision.new)

        def done(error: ShoalError | None) -> None:
            if error is not None and self.active:
                self.scheduler.decision_failed(decision)

        return build, done

    @property
    def next_deadline(self) -> float | None:
        deadlines = [
            d
            for d in (
                self.dispatcher.next_deadline,
                self.orchestration.next_deadline,
                self.updates.next_deadline,
                self.scheduler.next_deadline,
                self.logs.next_deadline,
                self.root_rotation.next_deadline,
            )
            if d is not None
        ]
        return min(deadlines, default=None)


def _rewrite(table: str, before: object, after: object) -> Callable[[WriteTx], None]:
    """Write ``after`` if the object is still as ``before`` (else a newer event
    will bring the component round again)."""

    def build(tx: WriteTx) -> None:
        assert hasattr(before, "id")
        if tx.get(table, before.id) == before:
            tx.update(after)  # type: ignore[arg-type]

    return build


def _allocation(allocated: Task) -> Callable[[WriteTx], None]:
    """Write the allocation onto the task as it is when the job runs, while it is
    still NEW: the orchestrator may have changed it since (a delayed start), and
    the allocator, holding its addresses, will not be asked again."""

    def build(tx: WriteTx) -> None:
        current = tx.get("tasks", allocated.id)
        if isinstance(current, Task) and current.status.state is TaskState.NEW:
            networks = allocated.networks_attachments
            tx.update(replace(current, status=allocated.status, networks_attachments=networks))

    return build


def _node_attachments(allocated: Node) -> Callable[[WriteTx], None]:
    """Write the node's endpoints onto the node as it is when the job runs (its
    status may have changed since)."""

    def build(tx: WriteTx) -> None:
        current = tx.get("nodes", allocated.id)
        if isinstance(current, Node) and current.attachments != allocated.attachments:
            tx.update(replace(current, attachments=allocated.attachments))

    return build


def _deletes(tasks: tuple[Task, ...]) -> Callable[[WriteTx], None]:
    def build(tx: WriteTx) -> None:
        for task in tasks:
            current = tx.get("tasks", task.id)
            if current is not None:
                tx.delete(current)

    return build
