"""Online checkers for the task invariants of DESIGN.md §7, fed by the cluster world.

- **states only rise**: no committed change lowers a task's observed state or its
  desired state;
- **decisions read a ready node**: a task is assigned (its state reaches ASSIGNED)
  only onto a node that was READY and ACTIVE at that point of the log;
- **constraints honoured**: and only onto a node its placement constraints match;
- **reaction bound**: no task stays desired running on a DOWN or drained node for
  longer than :data:`REACTION_BOUND_SECONDS` under one leader, not counting the
  time in which that leader could not commit (its log held entries not yet
  committed and its commit index stood still: a lossy network, a lost quorum);
- **one container per slot** (checked once converged, see :func:`convergence`).

The first two and the third are checked on every entry every manager applies, in
log order: an assignment is judged against the node as it stood at that point
inside its transaction (a later change in the same transaction is undone through
its event's ``old``). Every failure raises :class:`TaskViolation`, naming the
property, so that a failing seed says what broke.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from core.errors import InvalidSpec, InvariantViolation
from core.model.enums import NodeAvailability, NodeState
from core.model.node import Node
from core.model.service import Service
from core.model.task import Task
from core.scheduler.constraint import node_matches, parse_constraints
from core.store import Event, EventCommit, MemoryStore
from core.tasks.states import TaskState
from core.update.dirty import is_task_dirty
from core.update.updater import IN_PROGRESS

#: How long a wanted task may stay on a down or drained node under one leader: the
#: leader's next write round, with room for a backlog of status batches.
REACTION_BOUND_SECONDS = 5.0


class TaskViolation(InvariantViolation):
    def __init__(self, prop: str, detail: str) -> None:
        self.property = prop
        self.detail = detail
        super().__init__(prop, detail)  # SimPy re-raises it as type(e)(*e.args)

    def __str__(self) -> str:
        return f"{self.property}: {self.detail}"


def _node_at(events: Sequence[Event | EventCommit], position: int, node_id: str) -> Node | None:
    """The node as a change at ``position`` saw it: after the latest earlier change
    to it in the transaction, else before the first later one, else None (the store's
    copy is right)."""
    for event in reversed(events[:position]):
        if isinstance(event, Event) and event.table == "nodes" and event.object.id == node_id:
            return event.new if isinstance(event.new, Node) else None
    for event in events[position + 1 :]:
        if isinstance(event, Event) and event.table == "nodes" and event.object.id == node_id:
            return event.old if isinstance(event.old, Node) else None
    return None


@dataclass(frozen=True, slots=True)
class _Wanted:
    since: float
    leader: tuple[str, int]  # (host, its leadership's start) the clock runs under


class TaskChecker:
    def __init__(self, reaction_bound: float = REACTION_BOUND_SECONDS) -> None:
        self.reaction_bound = reaction_bound
        self.entries_checked = 0
        self.assignments_checked = 0
        self._on_invalid: dict[str, _Wanted] = {}
        self._sampled_at: float | None = None

    # -- every applied entry -----------------------------------------------------------

    def on_applied(self, store: MemoryStore, events: Sequence[Event | EventCommit]) -> None:
        self.entries_checked += 1
        for position, event in enumerate(events):
            if not isinstance(event, Event) or event.table != "tasks":
                continue
            old, new = event.old, event.new
            if isinstance(old, Task) and isinstance(new, Task):
                self._rises(old, new)
            if isinstance(new, Task) and _assigned_now(old if isinstance(old, Task) else None, new):
                node = _node_at(events, position, new.node_id)
                if node is None:
                    stored = store.tables["nodes"].get(new.node_id)
                    node = stored if isinstance(stored, Node) else None
                service = store.tables["services"].get(new.service_id)
                self._assignment(new, node, service if isinstance(service, Service) else None)

    def _rises(self, old: Task, new: Task) -> None:
        if new.status.state < old.status.state:
            raise TaskViolation(
                "states only rise",
                f"task {new.id} went from {old.status.state.name} to {new.status.state.name}",
            )
        if new.desired_state < old.desired_state:
            raise TaskViolation(
                "states only rise",
                f"task {new.id} desired {old.desired_state.name} then {new.desired_state.name}",
            )

    def _assignment(self, task: Task, node: Node | None, service: Service | None) -> None:
        self.assignments_checked += 1
        if node is None:
            raise TaskViolation(
                "decisions read a ready node", f"task {task.id} assigned to unknown {task.node_id}"
            )
        if node.status.state is not NodeState.READY or (
            node.spec.availability is not NodeAvailability.ACTIVE
        ):
            raise TaskViolation(
                "decisions read a ready node",
                f"task {task.id} assigned to {_describe(node)}",
            )
        placement = service.spec.task_template.placement if service is not None else None
        if placement is not None and placement.constraints:
            try:
                constraints = parse_constraints(placement.constraints)
            except InvalidSpec:
                return
            if not node_matches(constraints, node):
                raise TaskViolation(
                    "constraints honoured",
                    f"task {task.id} assigned to {node.description.hostname}, which does not "
                    f"match {list(placement.constraints)}",
                )

    # -- sampled ---------------------------------------------------------------------------

    def sample(
        self, now: float, store: MemoryStore, leader: tuple[str, int], stalled: bool
    ) -> None:
        """Look at the leader's store: a wanted task on a DOWN or drained node starts a
        clock, kept while the same leadership lasts and stopped while the leader's
        commits are ``stalled``; past the bound it is a violation."""
        paused = now - self._sampled_at if stalled and self._sampled_at is not None else 0.0
        self._sampled_at = now
        nodes = store.tables["nodes"]
        seen: dict[str, _Wanted] = {}
        for task in store.tables["tasks"].values():
            if not isinstance(task, Task) or task.desired_state > TaskState.RUNNING:
                continue
            node = nodes.get(task.node_id) if task.node_id else None
            if not isinstance(node, Node) or not _unavailable(node):
                continue
            if task.status.state > TaskState.RUNNING:
                continue  # stopped: the restart path's business (it has a delay)
            before = self._on_invalid.get(task.id)
            if before is None or before.leader != leader:
                before = _Wanted(now, leader)
            elif paused:
                before = _Wanted(before.since + paused, leader)
            seen[task.id] = before
            if now - before.since > self.reaction_bound:
                raise TaskViolation(
                    "reaction bound",
                    f"task {task.id} still wanted on {_describe(node)} "
                    f"{now - before.since:.1f}s after it was seen there",
                )
        self._on_invalid = seen


def _describe(node: Node) -> str:
    return f"{node.description.hostname} ({node.status.state}, {node.spec.availability})"


def _assigned_now(old: Task | None, new: Task) -> bool:
    before = old.status.state if old is not None else TaskState.NEW
    return before < TaskState.ASSIGNED <= new.status.state and bool(new.node_id)


def _unavailable(node: Node) -> bool:
    return node.status.state is NodeState.DOWN or (node.spec.availability is NodeAvailability.DRAIN)


# -- convergence -----------------------------------------------------------------------------


def convergence(store: MemoryStore, running: Mapping[str, Iterable[str]]) -> list[str]:
    """What keeps the swarm from its desired state (empty once converged): every
    replicated service runs its replicas in slots 1..n with one container each, every
    global service one task per eligible node, every task wanted is up to date and no
    update is in progress, and no other container runs anywhere.
    ``running``: the task ids whose containers run, per host (the executors)."""
    problems: list[str] = []
    nodes = {n.id: n for n in store.tables["nodes"].values() if isinstance(n, Node)}
    running = {host: sorted(ids) for host, ids in running.items()}
    containers: dict[str, int] = {}
    for ids in running.values():
        for task_id in ids:
            containers[task_id] = containers.get(task_id, 0) + 1
    tasks = [t for t in store.tables["tasks"].values() if isinstance(t, Task)]
    wanted_ids: set[str] = set()
    for service_id in sorted(store.tables["services"]):
        service = store.tables["services"][service_id]
        assert isinstance(service, Service)
        mine = [t for t in tasks if t.service_id == service_id]
        wanted = sorted(
            (t for t in mine if t.desired_state <= TaskState.RUNNING), key=lambda t: t.id
        )
        wanted_ids.update(t.id for t in wanted)
        name = service.spec.name
        not_running = [t.id for t in wanted if t.status.state is not TaskState.RUNNING]
        if not_running:
            problems.append(f"{name}: {len(not_running)} wanted tasks not RUNNING")
        without = [t.id for t in wanted if containers.get(t.id, 0) != 1]
        if without:
            problems.append(f"{name}: {len(without)} wanted tasks without exactly one container")
        status = service.update_status
        if status is not None and status.state in IN_PROGRESS:
            problems.append(f"{name}: update {status.state.value}")
        stale = [t.id for t in wanted if is_task_dirty(service, t, nodes.get(t.node_id))]
        if stale:
            problems.append(f"{name}: {len(stale)} wanted tasks out of date")
        mode = service.spec.mode
        if mode.replicated is not None:
            slots = sorted(t.slot for t in wanted)
            if slots != list(range(1, (mode.replicated.replicas or 0) + 1)):
                problems.append(f"{name}: wanted slots {slots}")
        elif mode.global_ is not None:
            eligible = sorted(n for n in nodes if _eligible_for(service, nodes[n]))
            placed = sorted(t.node_id for t in wanted)
            if placed != eligible:
                problems.append(f"{name}: tasks on {len(placed)} nodes of {len(eligible)}")
    strays = [
        f"{task_id} on {host}"
        for host, ids in sorted(running.items())
        for task_id in ids
        if task_id not in wanted_ids
    ]
    if strays:
        problems.append(
            f"{len(strays)} containers of tasks no longer wanted run: {', '.join(strays)}"
        )
    return problems


def _eligible_for(service: Service, node: Node) -> bool:
    if node.status.state is not NodeState.READY or (
        node.spec.availability is not NodeAvailability.ACTIVE
    ):
        return False
    placement = service.spec.task_template.placement
    if placement is None or not placement.constraints:
        return True
    return node_matches(parse_constraints(placement.constraints), node)
