"""The constraint enforcer: tasks whose node stopped fitting them are rejected
(SwarmKit's ``orchestrator/constraintenforcer``).

When an *active* node changes (labels, role, resources), its tasks that are meant
to run and are not yet finished are checked again, in id order: against the
*current* service's placement constraints (a constraint-only update does not make
tasks dirty, so the task's own copy may be stale), then against what the node
still has (CPU, memory, generic resources, counted task by task). A task that no
longer fits is REJECTED, and the orchestrator replaces it elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from core.errors import InvalidSpec
from core.model import replace
from core.model.enums import NodeAvailability
from core.model.node import Node
from core.model.service import Service
from core.model.task import Task, TaskStatus
from core.model.timestamp import Timestamp
from core.scheduler.constraint import node_matches, parse_constraints
from core.scheduler.nodeinfo import GenericPool, reservations
from core.tasks.states import TaskState

REJECTED_MESSAGE = "task rejected by constraint enforcer"
REJECTED_ERR = "assigned node no longer meets constraints"


def _checked(task: Task) -> bool:
    return (
        TaskState.ASSIGNED <= task.desired_state <= TaskState.COMPLETE
        and TaskState.PENDING <= task.status.state <= TaskState.RUNNING
    )


def _matches(task: Task, service: Service | None, node: Node) -> bool:
    placement = service.spec.task_template.placement if service else task.spec.placement
    if placement is None or not placement.constraints:
        return True
    try:
        return node_matches(parse_constraints(placement.constraints), node)
    except InvalidSpec:
        return False


def rejections(
    node: Node, tasks: Iterable[Task], services: Mapping[str, Service], wall: float
) -> tuple[Task, ...]:
    """The node's tasks to write as REJECTED, in id order."""
    if node.spec.availability is not NodeAvailability.ACTIVE:
        return ()
    resources = node.description.resources
    cpus, memory = resources.nano_cpus, resources.memory_bytes
    generic = GenericPool.of(resources.generic_resources)
    rejected = []
    for task in sorted((t for t in tasks if t.node_id == node.id), key=lambda t: t.id):
        if not _checked(task):
            continue
        reserved = reservations(task)
        fits = (
            _matches(task, services.get(task.service_id), node)
            and reserved.memory_bytes <= memory
            and reserved.nano_cpus <= cpus
            and generic.holds(task.generic_resources)
        )
        if not fits:
            status = TaskStatus(
                timestamp=Timestamp.from_seconds(wall),
                state=TaskState.REJECTED,
                message=REJECTED_MESSAGE,
                err=REJECTED_ERR,
            )
            rejected.append(replace(task, status=status))
            continue
        memory -= reserved.memory_bytes
        cpus -= reserved.nano_cpus
        generic.consume(task.generic_resources)
    return tuple(rejected)
