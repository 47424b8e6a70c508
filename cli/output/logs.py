"""What ``docker service logs`` prints: each line after its task's context,
``web.1.kx2g0vzt3m1e@worker-1    | listening on :80`` (docker/cli's ``logWriter``),
from the manager's answer (``Logs``: entries in time order, ``Warnings``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cli.output.views import SHORT_ID, Context
from core.model.task import Task

NANOS = 9  # Docker pads a timestamp's fraction so that the lines align


def service_logs(
    answer: Mapping[str, Any],
    ctx: Context,
    target: str,
    *,
    timestamps: bool = False,
    task_ids: bool = True,
    no_trunc: bool = False,
    resolve: bool = True,
) -> str:
    """``target`` is what the user named (a service, or a task): a service pads the
    slots to its replica count's width, a task to its own slot's."""
    tasks = {t.id: t for t in ctx.tasks}
    width = _padding(target, ctx, tasks)
    lines = []
    for entry in answer.get("Logs", ()):
        task = tasks.get(entry["TaskID"])
        prefix = _timestamp(entry["Timestamp"]) + " " if timestamps else ""
        context = _context(entry, task, ctx, width, task_ids, no_trunc, resolve)
        lines.append(f"{prefix}{context}    | {entry['Line']}")
    for warning in answer.get("Warnings", ()):  # the daemon ends the stream with it
        lines.append(
            "error from daemon in stream: Error grabbing logs: "
            f"rpc error: code = Unknown desc = warning: {warning}"
        )
    return "\n".join(lines)


def _padding(target: str, ctx: Context, tasks: Mapping[str, Task]) -> int:
    services = sorted(ctx.services.values(), key=lambda s: s.id)
    named = [s for s in services if target in (s.id, s.spec.name)] or [
        s for s in services if s.id.startswith(target)
    ]
    if len(named) == 1:
        replicated = named[0].spec.mode.replicated
        return len(str(replicated.replicas or 0)) if replicated is not None else 1
    matching = [t for i, t in sorted(tasks.items()) if i.startswith(target)]
    return len(str(matching[0].slot)) if len(matching) == 1 else 1


def _context(
    entry: Mapping[str, Any],
    task: Task | None,
    ctx: Context,
    width: int,
    task_ids: bool,
    no_trunc: bool,
    resolve: bool,
) -> str:
    """docker/cli's ``taskFormatter``: ``service.slot[.task-id]@node`` and the padding."""
    service_id = task.service_id if task is not None else ""
    service = ctx.services.get(service_id)
    node = ctx.nodes.get(entry["NodeID"])
    service_name = service.spec.name if service is not None and resolve else service_id
    node_name = node.description.hostname if node is not None and resolve else entry["NodeID"]
    slot = task.slot if task is not None else 0
    name = f"{service_name}.{slot}"
    if task_ids:
        name += "." + (entry["TaskID"] if no_trunc else entry["TaskID"][:SHORT_ID])
    return f"{name}@{node_name}" + " " * max(0, width - len(str(slot)))


def _timestamp(text: str) -> str:
    """RFC 3339 with nanoseconds, the fraction padded to 9 digits."""
    stamp = text.rstrip("Z")
    whole, _, fraction = stamp.partition(".")
    return f"{whole}.{fraction.ljust(NANOS, '0')}Z"
