"""The task reaper: which tasks leave the store (SwarmKit's ``taskreaper``).

- **At once**: ORPHANED tasks whose service is gone, and tasks desired REMOVE that
  never got a node (state below ASSIGNED) or have finished (COMPLETE or beyond).
- **History**: each slot (each node, for global services) keeps at most the
  cluster's task history limit (5 by default; negative keeps everything). When the
  service has ``MaxAttempts``, a slot keeps ``MaxAttempts + 1`` instead, so that a
  new leader can rebuild the restart count from what is left. The oldest tasks go
  first, and only those that are finished or never ran.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from core.model.defaults import TASK_HISTORY_RETENTION_LIMIT, effective_restart_policy
from core.model.service import Service
from core.model.task import Task
from core.tasks.states import TaskState


def retention_of(service: Service, cluster_limit: int) -> int:
    """How many tasks a slot of ``service`` keeps (negative: all)."""
    attempts = effective_restart_policy(service.spec.task_template.restart_policy).max_attempts
    return attempts + 1 if attempts else cluster_limit


def _removable_now(task: Task, services: Mapping[str, Service]) -> bool:
    if task.status.state is TaskState.ORPHANED and task.service_id not in services:
        return True
    return task.desired_state is TaskState.REMOVE and (
        task.status.state < TaskState.ASSIGNED or task.status.state >= TaskState.COMPLETE
    )


def _may_go(task: Task) -> bool:
    """Finished, or never ran and never will."""
    never_ran = task.status.state < TaskState.ASSIGNED and task.desired_state > TaskState.RUNNING
    return task.status.state > TaskState.RUNNING or never_ran


def deletions(
    tasks: Iterable[Task],
    services: Mapping[str, Service],
    cluster_limit: int = TASK_HISTORY_RETENTION_LIMIT,
) -> tuple[Task, ...]:
    """The tasks to delete now, in a fixed order (the immediate ones first)."""
    doomed: list[Task] = []
    slots: dict[tuple[str, int | str], list[Task]] = {}
    for task in sorted(tasks, key=lambda t: t.id):
        if _removable_now(task, services):
            doomed.append(task)
            continue
        service = services.get(task.service_id)
        if service is not None:
            is_global = service.spec.mode.name in ("global", "global-job")
            key = (task.service_id, task.node_id if is_global else task.slot)
            slots.setdefault(key, []).append(task)
    for key in sorted(slots, key=str):
        limit = retention_of(services[key[0]], cluster_limit)
        history = slots[key]
        if limit < 0 or len(history) <= limit:
            continue
        excess = len(history) - limit
        oldest_first = sorted(
            history, key=lambda t: (t.status.timestamp.unix_ns, t.created_at.unix_ns, t.id)
        )
        for task in oldest_first:
            if excess == 0:
                break
            if _may_go(task):
                doomed.append(task)
                excess -= 1
    return tuple(doomed)
