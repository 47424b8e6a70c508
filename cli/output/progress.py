"""Docker's wait after ``service create``/``update`` without ``-d``: when a service
has converged, and its progress as Docker draws it. Over plain values (a service and
its tasks), so that every front end (a simulated swarm, a real daemon) shares it."""

from __future__ import annotations

from collections.abc import Iterable

from cli.commands.common import Call, Change, Script
from core.model.service import Service
from core.model.task import Task
from core.tasks.states import TaskState
from core.update.updater import IN_PROGRESS

CONVERGE_SECONDS = 120.0  # how long the CLI waits for a service to converge
VERIFY_SECONDS = 5.0  # Docker's "Waiting 5 seconds to verify that tasks are stable"
BAR = 50
STEPS = (  # how far along each state is, as Docker's progress bar draws it
    TaskState.NEW, TaskState.PENDING, TaskState.ASSIGNED, TaskState.ACCEPTED,
    TaskState.PREPARING, TaskState.READY, TaskState.STARTING, TaskState.RUNNING,
)  # fmt: skip


def waits(command: Call | Change | Script) -> bool:
    """Whether the CLI waits for the service to converge after ``command`` (a
    script says which services it waits for itself: :attr:`Printed.wait`)."""
    if isinstance(command, Script):
        return False
    if isinstance(command, Change):
        return not command.detach and not command.quiet
    if command.show != "created":
        return False
    spec = command.params.get("spec")
    return not (spec is not None and spec.mode.is_job)  # a job runs to its end: no wait


def wanted(service_id: str, tasks: Iterable[Task]) -> list[Task]:
    """The service's tasks meant to run (not the ones being shut down)."""
    return [t for t in tasks if t.service_id == service_id and t.desired_state <= TaskState.RUNNING]


def converged(service: Service | None, tasks: list[Task]) -> bool:
    """Every wanted task runs and no update is under way (``tasks``: :func:`wanted`)."""
    if service is None:
        return False
    status = service.update_status
    if status is not None and status.state in IN_PROGRESS:
        return False
    replicas = service.spec.mode.replicated
    count = replicas.replicas if replicas is not None else None
    running = [t for t in tasks if t.status.state is TaskState.RUNNING]
    if count is not None:
        return len(tasks) == count and len(running) == count  # scaled to 0 too
    return len(running) == len(tasks) and bool(tasks)


def progress(service: Service | None, tasks: list[Task], done: bool) -> str:
    """Docker's progress lines, then ``verify: Service converged`` when ``done``."""
    if service is None:
        return "verify: the service is gone"
    running = sum(1 for t in tasks if t.status.state is TaskState.RUNNING)
    lines = [f"overall progress: {running} out of {len(tasks)} tasks"]
    replicated = service.spec.mode.replicated is not None
    for task in sorted(tasks, key=lambda t: (t.slot, t.node_id)):
        label = f"{task.slot}/{len(tasks)}" if replicated else task.node_id[:12]
        state = task.status.state
        reached = STEPS.index(state) + 1 if state in STEPS else len(STEPS)
        width = BAR * reached // len(STEPS)
        bar = "=" * (width - 1) + ">" + " " * (BAR - width)
        lines.append(f"{label}: {state.name.lower():<9} [{bar}]")
    if done:
        lines.append("verify: Service converged")
    else:
        lines.append(f"verify: not converged after {CONVERGE_SECONDS:.0f}s (it carries on)")
    return "\n".join(lines)
