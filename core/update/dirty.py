"""Which tasks and slots a rolling update must replace (SwarmKit's
``orchestrator.IsTaskDirty`` and the updater's dirty slots).

A task is up to date when it was made from the service's current spec version. A
task of another version is still up to date when the part of the spec a task is
made from did not change (a change of replicas, service labels or the update
config alone redeploys nothing), or when only the placement constraints changed
and its node still matches them. Otherwise it is dirty, and so is its slot; a
slot holding more than one task desired to run (a start-first replacement cut
short) is dirty too, so that the update finishes it.
"""

from __future__ import annotations

from core.errors import InvalidSpec
from core.model import replace
from core.model.node import Node
from core.model.service import EndpointSpec, Placement, Service, TaskSpec
from core.model.task import Task
from core.scheduler.constraint import node_matches, parse_constraints

Slot = tuple[Task, ...]


def is_task_dirty(service: Service, task: Task, node: Node | None) -> bool:
    if (
        task.spec_version is not None
        and service.spec_version is not None
        and task.spec_version == service.spec_version
    ):
        return False
    wanted = service.spec.task_template
    if task.spec != wanted and not _placement_only(wanted, task, node):
        return True
    if task.endpoint is None:
        return False
    return task.endpoint.spec != (service.spec.endpoint_spec or EndpointSpec())


def is_slot_dirty(service: Service, slot: Slot, nodes: dict[str, Node]) -> bool:
    return len(slot) > 1 or any(
        is_task_dirty(service, task, nodes.get(task.node_id)) for task in slot
    )


def _placement_only(wanted: TaskSpec, task: Task, node: Node | None) -> bool:
    """Only the placement constraints differ, and the task's node meets the new ones."""
    if node is None:
        return False
    old, new = task.spec.placement or Placement(), wanted.placement or Placement()
    moved = replace(task.spec, placement=replace(old, constraints=new.constraints))
    if moved != replace(wanted, placement=new):
        return False
    try:
        constraints = parse_constraints(new.constraints)
    except InvalidSpec:
        return False
    return node_matches(constraints, node)
