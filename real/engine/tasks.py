"""``/tasks``: list (filters desired-state, id, label, name, node, service,
_up-to-date, runtime), inspect and a task's logs.

As dockerd does, the ``service`` and ``node`` filters are first resolved to IDs (by
ID, name or ID prefix; one that names nothing is 404), and a task is looked up by
ID, then by its name (``service.slot.id``), then by ID prefix. The rest of the
matching is SwarmKit's ``ListTasks``: a task's name and labels are its service's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from core.model.node import Node
from core.model.service import Service
from core.model.task import Task, container_name
from core.model.wire import without
from core.tasks.states import TaskState
from core.update.dirty import is_task_dirty
from real.engine import logs_stream
from real.engine.app import Call, Routes, json_response
from real.engine.errors import EngineError, bad_request, not_found
from real.engine.filters import Filters, parse
from real.engine.services import RUNTIME

routes = Routes()
FILTERS = ("desired-state", "id", "label", "name", "node", "service", "_up-to-date", "runtime")
#: SwarmKit's one task state that shoal's tasks never pass through.
ALLOCATED = "ALLOCATED"
#: SwarmKit's own fields, which dockerd's conversion leaves out of the Engine API.
SHOAL_ONLY = ("SpecVersion", "Endpoint")


def task_json(task: Task) -> dict[str, Any]:
    return without(task.to_json(), SHOAL_ONLY)


def task_name(task: Task, services: Mapping[str, Service]) -> str:
    """SwarmKit's ``naming.Task``, the service's name looked up."""
    service = services.get(task.service_id)
    return container_name(task, service.spec.name if service is not None else "")


def desired_states(wanted: Filters) -> set[TaskState | None]:
    """The states asked for (``allocated`` is None), refused with dockerd's plain
    error (500) for a name that is no state."""
    states: set[TaskState | None] = set()
    for name in wanted.get("desired-state"):
        key = name.upper()
        if key in TaskState.__members__:
            states.add(TaskState[key])
        elif key == ALLOCATED:
            states.add(None)
        elif name:
            raise EngineError(500, f"Invalid desired-state filter: '{name}'")
    return states


async def _ids(call: Call, wanted: Filters, name: str, method: str, param: str) -> set[str]:
    return {(await call.ask(method, {param: ref})).id for ref in wanted.get(name)}


async def _services(call: Call) -> dict[str, Service]:
    return {s.id: s for s in await call.ask("ServiceList") if isinstance(s, Service)}


async def _tasks(call: Call) -> list[Task]:
    return [t for t in await call.ask("TaskList") if isinstance(t, Task)]


@routes.get("/tasks")
async def task_list(call: Call) -> web.StreamResponse:
    wanted = parse(call.query("filters"), FILTERS)
    service_ids = await _ids(call, wanted, "service", "ServiceInspect", "service")
    node_ids = await _ids(call, wanted, "node", "NodeInspect", "node")
    states = desired_states(wanted)
    services = await _services(call)
    nodes: dict[str, Node] = {}
    if wanted.get("_up-to-date"):
        nodes = {n.id: n for n in await call.ask("NodeList") if isinstance(n, Node)}

    def up_to_date(task: Task) -> bool:
        service = services.get(task.service_id)
        return service is not None and not is_task_dirty(service, task, nodes.get(task.node_id))

    def matches(task: Task) -> bool:
        service = services.get(task.service_id)
        return (
            wanted.prefix("name", task_name(task, services))
            and wanted.prefix("id", task.id)
            and wanted.labels("label", service.spec.labels if service is not None else {})
            and (not service_ids or task.service_id in service_ids)
            and (not node_ids or task.node_id in node_ids)
            and wanted.exact("runtime", RUNTIME)
            and (not states or task.desired_state in states)
            and (not wanted.get("_up-to-date") or up_to_date(task))
        )

    return json_response([task_json(t) for t in await _tasks(call) if matches(t)])


async def find_task(call: Call, ref: str) -> Task:
    """dockerd's ``getTask``: the task with this ID, else with this name, else the
    one whose ID starts with it; dockerd's own words when none or several do."""
    tasks = await _tasks(call)
    for task in tasks:
        if task.id == ref:
            return task
    services = await _services(call)
    found = [t for t in tasks if task_name(t, services) == ref]
    if not found:
        found = [t for t in tasks if t.id.startswith(ref)]
    if not found:
        raise not_found(f"task {ref} not found")
    if len(found) > 1:
        raise bad_request(f"task {ref} is ambiguous ({len(found)} matches found)")
    return found[0]


@routes.get("/tasks/{id}")
async def task_inspect(call: Call) -> web.StreamResponse:
    return json_response(task_json(await find_task(call, call.arg("id"))))


@routes.get("/tasks/{id}/logs")
async def task_logs(call: Call) -> web.StreamResponse:
    logs_stream.check_streams(call)
    task = await find_task(call, call.arg("id"))
    wanted = logs_stream.options(call)
    container = task.spec.container_spec
    tty = container is not None and container.tty
    return await logs_stream.send(call, task.id, task.service_id, wanted, tty=tty)
