"""The orchestrators' event loop on the leader: which services need reconciling,
and the job that reconciles one (SwarmKit's replicated, global and job
orchestrators, the restart supervisor and ``taskinit``).

Store events mark services dirty: the service itself changed; one of its tasks
stopped while it was wanted; a node that holds its tasks went DOWN, was drained or
was removed (SwarmKit's ``handleNodeChange``: a node that stays valid moves no
replicated task); for global services, any node changed. On every commit each
dirty service gets one write job, which reads the service, its tasks and their
nodes as they are then and:

1. **restarts** (:mod:`core.orchestrator.restart`): a wanted task that stopped, or
   that sits on a node that is DOWN, drained or gone, is set to desired SHUTDOWN and,
   if its restart policy allows, replaced in its slot (node, for global services) by
   a task desired READY, which a timer later moves to RUNNING (COMPLETE for jobs):
   after the restart delay and once the old task has stopped (or its node is down,
   or a minute has passed);
2. **reconciles** the service's mode: replicated slots, one task per eligible node,
   or a job's completions;
3. on a deleted service, sets its tasks to desired REMOVE (the reaper deletes them).

A job writes at most :data:`CHANGES_PER_JOB_MAX` changes. Creations it planned
beyond that are carried on by follow-up jobs from the same plan (in the same round
while it has room) rather than by reading the whole service again for every 200:
a 95,000-replica service would otherwise be read 475 times. The service stays
queued until the plan is done, and is then reconciled afresh. A service with other
work left over (restarts, removals) is marked dirty again and carries on in the
next round.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from core.manager.mutations import NO_MUTATIONS, ManagerMutations
from core.manager.writes import WriteQueue
from core.model import replace
from core.model.defaults import effective_restart_policy
from core.model.duration import SECOND
from core.model.enums import NodeAvailability, NodeState
from core.model.node import Node
from core.model.service import Service
from core.model.task import Task, TaskStatus
from core.model.timestamp import Timestamp
from core.orchestrator import global_, jobs, replicated
from core.orchestrator.restart import (
    RestartHistory,
    replacement,
    restart_delay_seconds,
    should_restart,
    slot_key,
)
from core.orchestrator.tasks import new_task
from core.store import Event, WriteTx
from core.store.index import TaskIndex
from core.tasks.states import TaskState
from core.timers import TimerHeap

#: Changes one reconcile job may make (one full transaction).
CHANGES_PER_JOB_MAX = 200
#: How long a replacement waits for the task it replaces to stop (SwarmKit: 1 min).
WAIT_STOP_SECONDS = 60.0
#: A start that ran before its task's creation committed tries again this often, at
#: most UNBORN_RETRIES_MAX times (then the creation is taken as lost with its round).
UNBORN_RETRY_SECONDS = 1.0
UNBORN_RETRIES_MAX = 60

SlotUpdater = Callable[[WriteTx, Service, tuple[replicated.Slot, ...], float, float], None]


def is_global(service: Service) -> bool:
    return service.spec.mode.name in ("global", "global-job")


def run_state(service: Service) -> TaskState:
    """The desired state of a task that should run: jobs run to completion."""
    return TaskState.COMPLETE if service.spec.mode.is_job else TaskState.RUNNING


def invalid_node(node: Node | None) -> bool:
    """SwarmKit's ``InvalidNode``: gone, DOWN, or drained."""
    return (
        node is None
        or node.status.state is NodeState.DOWN
        or node.spec.availability is NodeAvailability.DRAIN
    )


@dataclass(slots=True)
class _Leftover:
    """Creations a reconcile job planned beyond its change limit."""

    version: int  # the service's store version the plan was made against
    slots: deque[int] = field(default_factory=deque)
    nodes: deque[str] = field(default_factory=deque)


@dataclass(slots=True)
class _Starts:
    """Replacements waiting to be started: the delay first, then the old task."""

    timers: TimerHeap[tuple[str, str]] = field(default_factory=TimerHeap)  # (kind, task id)
    waiting_for: dict[str, str] = field(default_factory=dict)  # new task id -> old task id
    service_of: dict[str, str] = field(default_factory=dict)  # new task id -> service id
    # start jobs that found their task not yet committed, to try again (how often so far)
    unborn: dict[str, int] = field(default_factory=dict)


class Orchestration:
    def __init__(
        self,
        writes: WriteQueue,
        index: TaskIndex,
        rng: random.Random,
        updater: SlotUpdater | None = None,
        mutations: ManagerMutations = NO_MUTATIONS,
    ) -> None:
        self.writes = writes
        self.index = index
        self.rng = rng
        self.updater = updater
        self.mutations = mutations
        self.dirty: set[str] = set()
        self.queued: set[str] = set()  # services with a reconcile job not yet built
        self.leftovers: dict[str, _Leftover] = {}  # service id -> creations still to make
        self.history = RestartHistory()
        self.starts = _Starts()
        self.global_services: set[str] = set()
        self._stopped = False

    # -- leadership ----------------------------------------------------------------------

    def start(
        self,
        services: list[Service],
        tasks_of: Callable[[str], list[Task]],
        mono: float,
        wall: float,
    ) -> None:
        """This manager became leader: rebuild the restart history, re-arm the
        replacements still waiting to start, and reconcile every service."""
        for service in services:
            mine = tasks_of(service.id)
            self.history.rebuild(mine, service, is_global(service), wall)
            if is_global(service):
                self.global_services.add(service.id)
            self.dirty.add(service.id)
            delay = effective_restart_policy(service.spec.task_template.restart_policy).delay_ns
            for task in mine:
                if task.desired_state is TaskState.READY and task.status.state <= TaskState.RUNNING:
                    # what is left of the delay, never more than all of it: the task
                    # may come from a leader whose clock ran ahead (SwarmKit clamps too)
                    full = (delay or 0) / SECOND
                    elapsed = wall - task.created_at.unix_ns / SECOND
                    remaining = min(full, max(0.0, full - elapsed))
                    self._arm_start(task.id, service.id, "", mono + remaining, mono)

    def stop(self) -> None:
        self._stopped = True

    # -- events ------------------------------------------------------------------------------

    def on_event(self, event: Event, mono: float) -> None:
        if event.table == "services":
            service = event.object
            assert isinstance(service, Service)
            self.dirty.add(service.id)
            if event.new is not None and is_global(service):
                self.global_services.add(service.id)
            elif event.new is None:
                self.global_services.discard(service.id)
        elif event.table == "tasks":
            task = event.new
            if task is None:
                return
            assert isinstance(task, Task)
            if task.status.state > TaskState.RUNNING and task.desired_state <= TaskState.COMPLETE:
                self.dirty.add(task.service_id)
            if task.status.state > TaskState.RUNNING:
                self._old_stopped(task.id, mono)
        elif event.table == "nodes":
            node = event.object
            self.dirty.update(self.global_services)
            if not (event.new is None or invalid_node(event.new)):  # type: ignore[arg-type]
                return  # SwarmKit's handleNodeChange: a valid node moves no task
            for task_id in self.index.on_node(node.id):
                self.dirty.add(self.index.service_of[task_id])
            for new_id, old_id in sorted(self.starts.waiting_for.items()):
                if old_id in self.index.by_node.get(node.id, ()):
                    self._start_now(new_id, mono)

    def on_commit(self, mono: float, wall: float) -> None:
        """Submit one reconcile job per dirty service, in id order."""
        dirty, self.dirty = sorted(self.dirty), set()
        for service_id in dirty:
            # One job per service per round (a second would only find the first's
            # work to do again).
            if service_id not in self.queued:
                self.queued.add(service_id)
                self.writes.submit(self._reconcile_job(service_id, mono, wall))
                if self.mutations.reconcile_twice:
                    self.writes.submit(
                        self._reconcile_job(service_id, mono, wall, committed_only=True)
                    )

    # -- timers ------------------------------------------------------------------------------

    def tick(self, mono: float) -> None:
        for kind, task_id in self.starts.timers.pop_due(mono):
            if kind == "delay" and task_id in self.starts.waiting_for:
                self.starts.timers.arm(("give-up", task_id), mono + WAIT_STOP_SECONDS)
                continue
            self._start_now(task_id, mono)

    @property
    def next_deadline(self) -> float | None:
        return self.starts.timers.next_deadline

    def start_later(self, new_id: str, service_id: str, old_id: str, at: float) -> None:
        """SwarmKit's ``DelayStart`` for the updater: start the task at ``at``, once
        ``old_id`` (if any) has stopped, or its node is down, or a minute has passed."""
        self._arm_start(new_id, service_id, old_id, at, at)

    def _arm_start(self, new_id: str, service_id: str, old_id: str, at: float, mono: float) -> None:
        self.starts.service_of[new_id] = service_id
        if old_id:
            self.starts.waiting_for[new_id] = old_id
        self.starts.timers.arm(("delay", new_id), at)

    def _old_stopped(self, old_id: str, mono: float) -> None:
        for new_id, waited in sorted(self.starts.waiting_for.items()):
            if waited == old_id:
                del self.starts.waiting_for[new_id]
                if not self.starts.timers.armed(("delay", new_id)):
                    self._start_now(new_id, mono)

    def _start_now(self, new_id: str, mono: float) -> None:
        self.starts.timers.cancel(("delay", new_id))
        self.starts.timers.cancel(("give-up", new_id))
        self.starts.waiting_for.pop(new_id, None)
        service_id = self.starts.service_of.pop(new_id, None)
        if service_id is None:
            return

        def start(tx: WriteTx) -> None:
            task, service = tx.get("tasks", new_id), tx.get("services", service_id)
            if not isinstance(service, Service):
                return
            if not isinstance(task, Task):
                # its creation is still in flight (a slow commit outlasted the delay)
                tries = self.starts.unborn.get(new_id, 0) + 1
                if tries <= UNBORN_RETRIES_MAX and not self._stopped:
                    self.starts.unborn[new_id] = tries
                    self._arm_start(new_id, service_id, "", mono + UNBORN_RETRY_SECONDS, mono)
                else:
                    self.starts.unborn.pop(new_id, None)
                return
            self.starts.unborn.pop(new_id, None)
            if task.desired_state is TaskState.READY:
                tx.update(replace(task, desired_state=run_state(service)))

        self.writes.submit(start)

    # -- the reconcile job -----------------------------------------------------------------

    def _reconcile_job(
        self, service_id: str, mono: float, wall: float, committed_only: bool = False
    ) -> Callable[[WriteTx], None]:
        def build(tx: WriteTx) -> None:
            self.queued.discard(service_id)
            self.leftovers.pop(service_id, None)  # this job plans afresh
            if self._stopped:
                return
            budget = _Budget(tx, CHANGES_PER_JOB_MAX)
            service = tx.get("services", service_id)
            typed = self.tasks_in(tx, service_id, committed_only)
            if not isinstance(service, Service):
                for task in typed:
                    if task.desired_state < TaskState.REMOVE:
                        budget.update(replace(task, desired_state=TaskState.REMOVE))
            else:
                typed = self._restarts(budget, service, typed, mono, wall)
                self._reconcile(budget, service, typed, mono, wall)
            if service_id in self.leftovers:
                self.queued.add(service_id)
                self.writes.submit(self._carry_on_job(service_id, wall))
            elif budget.exhausted:
                self.dirty.add(service_id)

        return build

    def tasks_in(self, tx: WriteTx, service_id: str, committed_only: bool = False) -> list[Task]:
        """The service's tasks as the write sees them, in id order: the committed
        ones (the index) and those an earlier job of the same round created (an
        updater's new task, a replacement), which the index does not hold yet."""
        ids = set(self.index.of_service(service_id))
        for task_id in [] if committed_only else tx.layer.changed_ids("tasks"):
            task = tx.get("tasks", task_id)
            if isinstance(task, Task) and task.service_id == service_id:
                ids.add(task_id)
        found = (tx.get("tasks", i) for i in sorted(ids))
        return [t for t in found if isinstance(t, Task)]

    def _carry_on_job(self, service_id: str, wall: float) -> Callable[[WriteTx], None]:
        """The next :data:`CHANGES_PER_JOB_MAX` creations of a reconcile job's plan,
        while the service is as the plan found it."""

        def build(tx: WriteTx) -> None:
            leftover = self.leftovers.pop(service_id)
            service = tx.get("services", service_id)
            if self._stopped or not isinstance(service, Service):
                self.queued.discard(service_id)
                return
            if service.version.index != leftover.version:
                self.queued.discard(service_id)
                self.dirty.add(service_id)
                return
            slots, nodes = leftover.slots, leftover.nodes
            now_slots = [slots.popleft() for _ in range(min(len(slots), CHANGES_PER_JOB_MAX))]
            room = CHANGES_PER_JOB_MAX - len(now_slots)
            now_nodes = [nodes.popleft() for _ in range(min(len(nodes), room))]
            # the bookkeeping first: a refused write must not leave the service queued
            if slots or nodes:
                self.leftovers[service_id] = leftover
                self.writes.submit(self._carry_on_job(service_id, wall))
            else:
                self.queued.discard(service_id)
                self.dirty.add(service_id)  # read afresh what changed meanwhile
            budget = _Budget(tx, CHANGES_PER_JOB_MAX)
            for slot in now_slots:
                self._create(budget, service, slot=slot, wall=wall)
            for node_id in now_nodes:
                node = tx.get("nodes", node_id)
                if isinstance(node, Node) and not invalid_node(node):
                    self._create(budget, service, node_id=node_id, wall=wall)

        return build

    def _restarts(
        self, budget: _Budget, service: Service, tasks: list[Task], mono: float, wall: float
    ) -> list[Task]:
        """Stop and replace the wanted tasks that stopped or whose node is invalid;
        the service's tasks as they are afterwards."""
        policy = service.spec.task_template.restart_policy
        glob, job = is_global(service), service.spec.mode.is_job
        result: list[Task] = []
        for task in tasks:
            if task.desired_state > TaskState.COMPLETE:  # history: nothing to restart
                result.append(task)
                continue
            node = budget.tx.get("nodes", task.node_id) if task.node_id else None
            assert node is None or isinstance(node, Node)
            stopped = task.status.state > TaskState.RUNNING and not (
                job and task.status.state is TaskState.COMPLETE
            )
            on_invalid = (
                bool(task.node_id) and invalid_node(node) and task.status.state <= TaskState.RUNNING
            )
            if self.mutations.keep_tasks_on_invalid_nodes:
                on_invalid = False
            if not (stopped or (on_invalid and not glob)) or budget.exhausted:
                result.append(task)
                continue
            if stopped and self.mutations.restart_in_place:
                fresh = TaskStatus(timestamp=Timestamp.from_seconds(wall), state=TaskState.NEW)
                budget.update(replace(task, status=fresh))
                result.append(task)
                continue
            old = replace(task, desired_state=TaskState.SHUTDOWN)
            budget.update(old)
            result.append(old)
            if not should_restart(policy, task, job, glob, self.history, wall):
                continue
            if glob and (node is None or invalid_node(node)):
                continue
            new = replacement(service, task, glob, self.rng, wall)
            budget.create(new)
            result.append(new)
            self.history.record(slot_key(task, glob), _version(service), wall)
            delay = restart_delay_seconds(policy, node)
            node_down = node is None or node.status.state is NodeState.DOWN
            wait_for = "" if node_down or task.status.state > TaskState.RUNNING else task.id
            # Armed now: if the write never commits, this leadership is over and its
            # timers with it; the start job checks that the task exists.
            self._arm_start(new.id, service.id, wait_for, mono + delay, mono)
        return result

    def _reconcile(
        self, budget: _Budget, service: Service, tasks: list[Task], mono: float, wall: float
    ) -> None:
        mode = service.spec.mode
        policy = service.spec.task_template.restart_policy
        glob, job = is_global(service), mode.is_job

        def restartable(task: Task) -> bool:
            return task.status.state > TaskState.RUNNING and should_restart(
                policy, task, job, glob, self.history, wall
            )

        if mode.replicated_job is not None:
            job_plan = jobs.reconcile(service, tasks)
            for task in job_plan.remove:
                budget.update(replace(task, desired_state=TaskState.REMOVE))
            for slot in job_plan.create_slots:
                self._create(budget, service, slot=slot, wall=wall)
            return
        if glob:
            nodes = [n for n in budget.tx.find("nodes") if isinstance(n, Node)]
            plan = global_.reconcile(service, tasks, nodes, restartable)
            for task in plan.shutdown:
                budget.update(replace(task, desired_state=TaskState.SHUTDOWN))
            for node_id in plan.create_nodes:
                self._create(budget, service, node_id=node_id, wall=wall)
            if self.updater is not None and not job:
                self.updater(budget.tx, service, plan.update, mono, wall)
            return
        rplan = replicated.reconcile(service, tasks, restartable)
        for task in rplan.remove:
            budget.update(replace(task, desired_state=TaskState.REMOVE))
        for slot in rplan.create_slots:
            self._create(budget, service, slot=slot, wall=wall)
        if self.updater is not None:
            self.updater(budget.tx, service, rplan.update, mono, wall)

    def _create(
        self, budget: _Budget, service: Service, *, wall: float, slot: int = 0, node_id: str = ""
    ) -> None:
        """A new task of the service's current spec (and job run), desired to run;
        once the job's budget is spent, left over for a follow-up job."""
        if budget.exhausted:
            leftover = self.leftovers.setdefault(service.id, _Leftover(service.version.index))
            if node_id:
                leftover.nodes.append(node_id)
            else:
                leftover.slots.append(slot)
            return
        iteration = service.job_status.job_iteration if service.job_status else None
        task = new_task(
            service,
            slot=slot,
            node_id=node_id,
            rng=self.rng,
            wall=wall,
            desired=run_state(service),
            job_iteration=iteration,
        )
        budget.create(task)


def _version(service: Service) -> int:
    return service.spec_version.index if service.spec_version else 0


class _Budget:
    """A job's writes, stopped at its change limit."""

    def __init__(self, tx: WriteTx, limit: int) -> None:
        self.tx = tx
        self.left = limit

    @property
    def exhausted(self) -> bool:
        return self.left <= 0

    def update(self, obj: Task) -> None:
        if self.left > 0:
            self.tx.update(obj)
            self.left -= 1

    def create(self, obj: Task) -> None:
        if self.left > 0:
            self.tx.create(obj)
            self.left -= 1
