"""The replicated job orchestrator's reconcile (SwarmKit's
``orchestrator/jobs/replicated``): run ``TotalCompletions`` tasks to completion,
at most ``MaxConcurrent`` at a time.

Each task of a run (a job iteration) gets its own slot in ``[0, total)``. A run
needs ``min(max_concurrent - running, total - completed - running)`` new tasks;
they take the lowest slots not yet used by a completed or running task. Tasks of an
older iteration (the job was updated, which starts a new run) are removed. Failed
tasks are the restart supervisor's: its replacement keeps the slot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.model.defaults import effective_job
from core.model.service import Service
from core.model.task import Task
from core.tasks.states import TaskState


@dataclass(frozen=True, slots=True)
class JobPlan:
    create_slots: tuple[int, ...]
    remove: tuple[Task, ...]  # tasks of older iterations still wanted


def iteration_of(service: Service) -> int:
    return service.job_status.job_iteration.index if service.job_status else 0


def _iteration(task: Task) -> int:
    return task.job_iteration.index if task.job_iteration else 0


def reconcile(service: Service, tasks: Iterable[Task]) -> JobPlan:
    job = service.spec.mode.replicated_job
    if job is None:
        raise ValueError(f"service {service.id} is not a replicated job")
    job = effective_job(job)
    concurrent, total = job.max_concurrent or 0, job.total_completions or 0
    current = iteration_of(service)
    remove: list[Task] = []
    running: set[int] = set()
    completed: set[int] = set()
    for task in sorted(tasks, key=lambda t: t.id):
        if _iteration(task) != current:
            if task.desired_state < TaskState.REMOVE:
                remove.append(task)
            continue
        if task.status.state is TaskState.COMPLETE:
            completed.add(task.slot)
        elif task.desired_state <= TaskState.COMPLETE and task.status.state <= TaskState.RUNNING:
            running.add(task.slot)
    wanted = min(concurrent - len(running), total - len(completed | running))
    create: list[int] = []
    slot = 0
    while len(create) < wanted and slot < total:
        if slot not in running and slot not in completed:
            create.append(slot)
        slot += 1
    return JobPlan(create_slots=tuple(create), remove=tuple(remove))
