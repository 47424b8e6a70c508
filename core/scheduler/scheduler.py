"""The scheduler: PENDING tasks in, placement decisions out.

An I/O-free state machine in the shape of SwarmKit's ``manager/scheduler``. The
driver (the leader's manager) feeds it the store's state and changes
(:meth:`Scheduler.load`, ``*_changed``/``*_removed``), tells it of commits
(:meth:`commit`, debounced: 50 ms of quiet, at most 1 s), and calls
:meth:`tick` when :attr:`next_deadline` comes. Each tick returns
:class:`Decision` values for the driver to write in one store batch; a decision
whose task or node changed meanwhile is refused by the store, and the driver hands
it back through :meth:`decision_failed` so the task is tried again.

One pass groups the unassigned tasks by (service, spec version) and places each
group at once (:mod:`core.scheduler.spread`), so 10,000 replicas of one service are
one decision, not 10,000. A pass takes whole groups until it has placed
``tasks_per_pass_max`` tasks (one group at least) and leaves the rest for the next
tick, which goes on where it stopped (bounded work per step; the placement is the
same as in one big pass because the groups of a sweep go in one fixed order).
Tasks that fit nowhere stay PENDING with Docker's explanation in ``Err``
and are tried again on every tick that follows a node or task change.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from core.manager.mutations import NO_MUTATIONS, ManagerMutations
from core.model import replace
from core.model.node import Node
from core.model.service import Service
from core.model.task import Task, TaskStatus
from core.model.timestamp import Timestamp
from core.scheduler.filters import FILTERS, ConstraintFilter, Filter, ReadyFilter, TaskNeeds
from core.scheduler.nodeinfo import NodeInfo, service_version
from core.scheduler.nodeset import NodeSet
from core.scheduler.spread import GroupSpread
from core.tasks.states import TaskState

#: Wait this long after a commit for more commits before a pass (SwarmKit's 50 ms).
COMMIT_DEBOUNCE_SECONDS = 0.05
#: ... but never longer than this after the first commit of a burst.
COMMIT_LATENCY_MAX_SECONDS = 1.0
#: The most tasks one pass places before it yields (whole groups; at least one).
TASKS_PER_PASS_MAX = 10_000

ASSIGNED_MESSAGE = "scheduler assigned task to node"
GroupKey = tuple[int, str, int]  # (0, service, spec version) or (1, task id, 0) alone
PREASSIGNED_MESSAGE = "scheduler confirmed task can run on preassigned node"


@dataclass(frozen=True, slots=True)
class Decision:
    """A task as the scheduler read it and as it should now be written.

    ``node_version`` is the ``Version.Index`` of the node the decision placed the
    task on, as the scheduler saw it: the store must refuse the decision if the
    node has changed since (SwarmKit's stale-node check)."""

    old: Task
    new: Task
    node_version: int | None = None


class Scheduler:
    """Places tasks on nodes. Inputs are store events and time; outputs decisions."""

    def __init__(
        self,
        tasks_per_pass_max: int = TASKS_PER_PASS_MAX,
        mutations: ManagerMutations = NO_MUTATIONS,
    ) -> None:
        if tasks_per_pass_max < 1:
            raise ValueError("tasks_per_pass_max must be at least 1")
        self.tasks_per_pass_max = tasks_per_pass_max
        skipped: list[type[Filter]] = []
        if mutations.schedule_on_unavailable_nodes:
            skipped.append(ReadyFilter)
        if mutations.ignore_constraints:
            skipped.append(ConstraintFilter)
        self.filters = tuple(f for f in FILTERS if f not in skipped)
        self.nodes = NodeSet()
        self.all_tasks: dict[str, Task] = {}
        self.unassigned: dict[str, Task] = {}
        self.pending_preassigned: dict[str, Task] = {}
        self.preassigned: set[str] = set()
        self.service_versions: dict[str, int] = {}  # service id -> its spec version
        self._tick_required = False
        self._cursor: GroupKey | None = None  # where a capped sweep stopped
        self._debounce_start: float | None = None
        self._debounce_deadline: float | None = None

    # -- inputs: the store -----------------------------------------------------------------

    def _enabled(self, needs: TaskNeeds) -> tuple[type[Filter], ...]:
        return tuple(f for f in self.filters if f.enabled(needs))

    def load(
        self, nodes: tuple[Node, ...], tasks: tuple[Task, ...], services: tuple[Service, ...]
    ) -> None:
        """Start from a snapshot of the store (when this manager becomes leader)."""
        for service in services:
            self.service_changed(service)
        by_node: dict[str, list[Task]] = {}
        for task in sorted(tasks, key=lambda t: t.id):
            if not _consumes_resources(task):
                continue
            # (A PENDING task no longer wanted is queued too: the first pass shuts
            # it down, where SwarmKit would leave it pending for ever.)
            self.all_tasks[task.id] = task
            if not task.node_id:
                self.unassigned[task.id] = task
            elif task.status.state is TaskState.PENDING:
                self.preassigned.add(task.id)
                self.pending_preassigned[task.id] = task
            else:
                by_node.setdefault(task.node_id, []).append(task)
        for node in sorted(nodes, key=lambda n: n.id):
            self.nodes.add_or_update_node(node, tuple(by_node.get(node.id, ())))
        self._tick_required = True

    def service_changed(self, service: Service) -> None:
        version = service.spec_version.index if service.spec_version else 0
        self.service_versions[service.id] = version

    def service_removed(self, service_id: str) -> None:
        self.service_versions.pop(service_id, None)

    def node_changed(self, node: Node) -> None:
        """A node was created or updated. A new node takes on the tasks already
        known to be on it (their events may have come first)."""
        known = () if node.id in self.nodes.infos else self._tasks_on(node.id)
        self.nodes.add_or_update_node(node, known)
        self._tick_required = True

    def _tasks_on(self, node_id: str) -> tuple[Task, ...]:
        return tuple(
            self.all_tasks[task_id]
            for task_id in sorted(self.all_tasks)
            if self.all_tasks[task_id].node_id == node_id
            and self.all_tasks[task_id].status.state > TaskState.PENDING
        )

    def node_removed(self, node_id: str) -> None:
        self.nodes.remove_node(node_id)

    def task_changed(self, task: Task, now: float) -> None:
        """A task was created or updated; ``now`` is monotonic time (for failures)."""
        if task.status.state < TaskState.PENDING:
            return
        old = self.all_tasks.get(task.id)
        if task.status.state > TaskState.RUNNING:
            if old is None:
                return
            if (
                task.status.state != old.status.state
                and task.status.state in (TaskState.FAILED, TaskState.REJECTED)
                and task.id not in self.preassigned
                and task.node_id in self.nodes.infos
            ):
                self.nodes.task_failed(self.nodes.infos[task.node_id], task, now)
            self._forget(old)
            self._tick_required = True
            return
        if not task.node_id or task.status.state is TaskState.PENDING:
            if old is not None:
                self._forget(old)
            self.all_tasks[task.id] = task
            if task.node_id:
                self.preassigned.add(task.id)
                self.pending_preassigned[task.id] = task
            else:
                self.unassigned[task.id] = task
                self._tick_required = True
            return
        self.all_tasks[task.id] = task
        info = self.nodes.infos.get(task.node_id)
        if info is not None:
            self.nodes.add_task(info, task)

    def task_removed(self, task: Task) -> None:
        old = self.all_tasks.get(task.id, task)
        if self._forget(old):
            self._tick_required = True  # the freed resources may fit a pending task

    def _forget(self, task: Task) -> bool:
        self.all_tasks.pop(task.id, None)
        self.unassigned.pop(task.id, None)
        self.preassigned.discard(task.id)
        self.pending_preassigned.pop(task.id, None)
        info = self.nodes.infos.get(task.node_id)
        return info is not None and self.nodes.remove_task(info, task)

    def decision_failed(self, decision: Decision) -> None:
        """The store refused ``decision``: undo it and try the task again later, as
        the newest copy known (a refusal at apply time comes after the events of the
        entries before it: the task may have changed or gone since)."""
        old, new = decision.old, decision.new
        info = self.nodes.infos.get(new.node_id)
        if info is not None and new.status.state is TaskState.ASSIGNED:
            self.nodes.remove_task(info, new)
        current = self.all_tasks.get(old.id)
        if current is None:
            return  # deleted or finished since
        if current.version.index > old.version.index:
            if current.node_id and current.status.state is not TaskState.PENDING:
                return  # placed since, by another decision that committed
            old = current
        self.all_tasks[old.id] = old
        if old.node_id:
            self.pending_preassigned[old.id] = old
        else:
            self.unassigned[old.id] = old
        self._tick_required = True

    # -- inputs: time -------------------------------------------------------------------------

    def commit(self, now: float) -> None:
        """The store committed a batch (debounced: a pass follows after a gap)."""
        if self._debounce_start is None:
            self._debounce_start = now
        if now - self._debounce_start > COMMIT_LATENCY_MAX_SECONDS:
            self._debounce_deadline = now
        else:
            self._debounce_deadline = now + COMMIT_DEBOUNCE_SECONDS

    @property
    def next_deadline(self) -> float | None:
        """When :meth:`tick` should next be called (monotonic), or None."""
        return self._debounce_deadline

    def tick(self, now: float, wall: float) -> list[Decision]:
        """Run a pass if one is due at ``now``: preassigned tasks, then the queue."""
        if self._debounce_deadline is not None and now < self._debounce_deadline:
            return []
        self._debounce_start = self._debounce_deadline = None
        return self.schedule(now, wall)

    def schedule(self, now: float, wall: float) -> list[Decision]:
        """One pass now, whatever the debounce says (the driver's first pass)."""
        decisions = self._process_preassigned(wall)
        if self._tick_required or self._cursor is not None:
            if self._cursor is None:
                self._tick_required = False  # a new sweep over the whole queue starts
            decisions += self._schedule_queue(now, wall)
        if self._cursor is not None:
            self._debounce_deadline = now  # more to do: come back at once
        return decisions

    # -- preassigned tasks -----------------------------------------------------------------------

    def _process_preassigned(self, wall: float) -> list[Decision]:
        decisions = []
        for task_id in sorted(self.pending_preassigned):
            task = self.pending_preassigned[task_id]
            info = self.nodes.infos.get(task.node_id)
            if info is None:
                continue  # the node is not known (yet): wait for it
            needs = TaskNeeds.of(task)
            failing = _first_failure(self._enabled(needs), needs, info)
            if failing is None:
                del self.pending_preassigned[task_id]
                new = self._with_status(task, wall, TaskState.ASSIGNED, PREASSIGNED_MESSAGE)
                self.all_tasks[task_id] = self.nodes.add_task(info, new)
                decisions.append(Decision(task, self.all_tasks[task_id], info.node.version.index))
            elif task.status.err != failing.explain(1):
                new = replace(task, status=replace(task.status, err=failing.explain(1)))
                self.pending_preassigned[task_id] = self.all_tasks[task_id] = new
                decisions.append(Decision(task, new))
        return decisions

    # -- the queue ------------------------------------------------------------------------------

    def _schedule_queue(self, now: float, wall: float) -> list[Decision]:
        """Place groups in key order, from where the last capped pass stopped."""
        groups: dict[GroupKey, list[Task]] = {}
        decisions: list[Decision] = []
        for task in list(self.unassigned.values()):
            if task.desired_state > TaskState.COMPLETE:
                decisions.append(self._shut_down(task, wall))
            elif task.spec_version is None:  # one by one, after the groups
                groups[(1, task.id, 0)] = [task]
            else:
                groups.setdefault((0, task.service_id, task.spec_version.index), []).append(task)
        cursor, self._cursor = self._cursor, None
        placed, last = 0, cursor
        for key in sorted(groups):
            if cursor is not None and key <= cursor:
                continue  # done earlier in this sweep
            group = groups[key]
            if placed and placed + len(group) > self.tasks_per_pass_max:
                self._cursor = last  # the next pass goes on after it
                break
            for task in group:
                del self.unassigned[task.id]
            group.sort(key=lambda t: (t.slot, t.id))
            decisions += self._schedule_group(group, now, wall)
            placed += len(group)
            last = key
        return decisions

    def _schedule_group(self, group: list[Task], now: float, wall: float) -> list[Decision]:
        first = group[0]
        needs = TaskNeeds.of(first)
        filters = self._enabled(needs)
        static = tuple(f for f in filters if f.static)
        placement = first.spec.placement
        descriptors = tuple(
            p.spread.spread_descriptor
            for p in (placement.preferences if placement else ())
            if p.spread is not None
        )
        partition = self.nodes.partition(
            needs.static_key(),
            descriptors,
            lambda info: _first_failure(static, needs, info) is None,
        )
        decisions: list[Decision] = []

        def assign(task: Task, info: NodeInfo) -> None:
            status = TaskStatus(
                timestamp=_at(wall), state=TaskState.ASSIGNED, message=ASSIGNED_MESSAGE
            )
            stored = self.nodes.add_task(info, replace(task, node_id=info.id, status=status))
            self.all_tasks[task.id] = stored
            decisions.append(Decision(task, stored, info.node.version.index))

        tasks = deque(group)
        dynamic = tuple(f for f in filters if not f.static)
        spread = GroupSpread(self.nodes, needs, service_version(first), dynamic, now, assign)
        spread.run(partition.root, partition.paths, tasks)
        if tasks:
            decisions += self._no_suitable_node(tasks, needs, filters, wall)
        return decisions

    def _no_suitable_node(
        self, tasks: deque[Task], needs: TaskNeeds, filters: tuple[type[Filter], ...], wall: float
    ) -> list[Decision]:
        explanation = explain(filters, needs, self.nodes.infos.values())
        err = f"no suitable node ({explanation})" if explanation else "no suitable node"
        decisions = []
        for task in tasks:
            if self._is_old_revision(task) and task.desired_state >= TaskState.SHUTDOWN:
                decisions.append(self._shut_down(task, wall))
                continue
            self.unassigned[task.id] = task
            if task.status.err != err:
                new = replace(task, status=replace(task.status, timestamp=_at(wall), err=err))
                self.unassigned[task.id] = self.all_tasks[task.id] = new
                decisions.append(Decision(task, new))
        return decisions

    def _is_old_revision(self, task: Task) -> bool:
        version = task.spec_version.index if task.spec_version else 0
        return self.service_versions.get(task.service_id, 0) > version

    def _shut_down(self, task: Task, wall: float) -> Decision:
        """A PENDING task nobody wants running any more is shut down rather than
        placed (SwarmKit #2998, for every such task rather than only old revisions)."""
        self.unassigned.pop(task.id, None)
        self.all_tasks.pop(task.id, None)
        return Decision(
            task, self._with_status(task, wall, TaskState.SHUTDOWN, task.status.message)
        )

    @staticmethod
    def _with_status(task: Task, wall: float, state: TaskState, message: str) -> Task:
        return replace(task, status=TaskStatus(timestamp=_at(wall), state=state, message=message))


def _at(wall: float) -> Timestamp:
    return Timestamp.from_seconds(wall)


def _consumes_resources(task: Task) -> bool:
    return TaskState.PENDING <= task.status.state <= TaskState.RUNNING


def _first_failure(
    filters: tuple[type[Filter], ...], needs: TaskNeeds, info: NodeInfo
) -> type[Filter] | None:
    return next((f for f in filters if not f.check(needs, info)), None)


def explain(filters: tuple[type[Filter], ...], needs: TaskNeeds, infos: Iterable[NodeInfo]) -> str:
    """Why no node fits: each node counted under the first filter it fails, the
    filters with most failures first (pipeline order on ties), as Docker says it."""
    counts = dict.fromkeys(filters, 0)
    for info in infos:
        failing = _first_failure(filters, needs, info)
        if failing is not None:
            counts[failing] += 1
    ranked = sorted((f for f in filters if counts[f]), key=lambda f: -counts[f])
    return "; ".join(f.explain(counts[f]) for f in ranked)
