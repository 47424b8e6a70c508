"""The global orchestrator's reconcile: one task of the service on every eligible
node (SwarmKit's ``orchestrator/global``).

A node is eligible when it is neither drained nor down and matches the service's
placement constraints. For each eligible node: a node without a running task of
the service gets one, created on that node (the scheduler only checks that it
fits); a paused node keeps what it has and gets nothing new; the others go to the
updater node by node. Tasks on nodes that are drained, down, gone or no longer
match are shut down (desired SHUTDOWN). A node's tasks count as running as in a
replicated slot: desired to run, or finished for good (a global job's completed
task is not run again).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from core.errors import InvalidSpec
from core.model.enums import NodeAvailability, NodeState
from core.model.node import Node
from core.model.service import Service
from core.model.task import Task
from core.orchestrator.replicated import Slot, runnable
from core.scheduler.constraint import node_matches, parse_constraints
from core.tasks.states import TaskState


@dataclass(frozen=True, slots=True)
class GlobalPlan:
    create_nodes: tuple[str, ...]  # make a task on each of these nodes
    shutdown: tuple[Task, ...]  # set desired SHUTDOWN
    update: tuple[Slot, ...]  # the nodes' running tasks, for the updater, by node id


def _matcher(service: Service) -> Callable[[Node], bool]:
    placement = service.spec.task_template.placement
    if placement is None or not placement.constraints:
        return lambda node: True
    try:
        constraints = parse_constraints(placement.constraints)
    except InvalidSpec:
        return lambda node: False  # stored before validation existed: it fits nowhere
    return lambda node: node_matches(constraints, node)


def reconcile(
    service: Service,
    tasks: Iterable[Task],
    nodes: Iterable[Node],
    restartable: Callable[[Task], bool],
) -> GlobalPlan:
    matches = _matcher(service)
    by_node: dict[str, list[Task]] = {}
    for task in tasks:
        by_node.setdefault(task.node_id, []).append(task)
    known = {node.id: node for node in nodes}
    create: list[str] = []
    shutdown: list[Task] = []
    update: list[Slot] = []
    for node_id in sorted(set(known) | set(by_node)):
        node = known.get(node_id)
        mine = tuple(sorted(by_node.get(node_id, ()), key=lambda t: t.id))
        wanted = tuple(t for t in mine if t.desired_state <= TaskState.RUNNING)
        if node is None or not _eligible(node) or not matches(node):
            shutdown += wanted
            continue
        if node.spec.availability is NodeAvailability.PAUSE:
            continue
        alive = runnable(mine, restartable) if mine else ()
        if not alive:
            create.append(node_id)
        else:
            update.append(alive)
    return GlobalPlan(create_nodes=tuple(create), shutdown=tuple(shutdown), update=tuple(update))


def _eligible(node: Node) -> bool:
    return (
        node.spec.availability is not NodeAvailability.DRAIN
        and node.status.state is not NodeState.DOWN
    )
