"""``/services``: list (filters id, label, mode, name, runtime; ``status``), create,
inspect (``insertDefaults``), update (a whole ServiceSpec at a version, or a rollback
to the previous spec), remove, and the services' logs.

dockerd's own part is here: it resolves a service by ID, name or ID prefix and
words a failed lookup itself (``service x not found``), normalises the mode as its
spec conversion does, and counts the tasks for ``status``. Everything else is the
core's control API (SwarmKit's), whose errors pass through as dockerd passes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from core.model import replace
from core.model.common import ResourceRequirements
from core.model.defaults import (
    RESTART_POLICY,
    effective_job,
    effective_replicas,
    effective_stop_grace_period_ns,
    effective_update_config,
)
from core.model.service import (
    DNSConfig,
    Placement,
    ReplicatedService,
    Service,
    ServiceMode,
    ServiceSpec,
    ServiceStatus,
)
from core.model.task import Task
from core.model.wire import without
from core.tasks.states import TaskState
from real.engine import logs_stream, versions
from real.engine.app import Call, Routes, json_response
from real.engine.errors import EngineError, bad_request
from real.engine.filters import Filters, parse

routes = Routes()
FILTERS = ("id", "label", "mode", "name", "runtime")
RUNTIME = "container"  # the only task runtime shoal runs (SwarmKit's naming.Runtime)
#: SwarmKit's own fields, which dockerd's conversion leaves out of the Engine API.
SHOAL_ONLY = ("SpecVersion", "PreviousSpecVersion")


# -- what dockerd does itself ------------------------------------------------------------------


async def find_service(call: Call, ref: str) -> Service:
    found = await call.ask("ServiceInspect", {"service": ref})  # dockerd's words on failure
    assert isinstance(found, Service)
    return found


def daemon_spec(spec: ServiceSpec) -> ServiceSpec:
    """The mode as dockerd's spec conversion leaves it: one mode at most; none, or
    replicas unset, is one replica; a replicated job's unset counts are filled. A
    config reference needs a file or a runtime target, not both (its conversion
    refuses them before SwarmKit sees them)."""
    container = spec.task_template.container_spec
    for config in container.configs if container is not None else ():
        if config.file is None and config.runtime is None:
            raise bad_request("either File or Runtime should be set")
        if config.file is not None and config.runtime is not None:
            raise bad_request("cannot specify both File and Runtime")
    mode = spec.mode
    modes = (mode.replicated, mode.global_, mode.replicated_job, mode.global_job)
    if sum(m is not None for m in modes) > 1:
        raise bad_request("must specify only one service mode")
    if mode.global_ is not None or mode.global_job is not None:
        return spec
    if mode.replicated_job is not None:
        return replace(spec, mode=ServiceMode(replicated_job=effective_job(mode.replicated_job)))
    if mode.replicated is not None and mode.replicated.replicas is not None:
        return spec
    return replace(spec, mode=ServiceMode(replicated=ReplicatedService(replicas=1)))


def insert_defaults(spec: ServiceSpec) -> ServiceSpec:
    """SwarmKit's ``defaults.InterpolateService``, what ``insertDefaults`` shows:
    every unset part of the spec at the value in force."""
    template = spec.task_template
    container = template.container_spec
    if container is not None:
        container = replace(
            container,
            stop_grace_period_ns=effective_stop_grace_period_ns(container),
            dns_config=DNSConfig() if container.dns_config is None else container.dns_config,
        )
    restart = template.restart_policy
    if restart is None:
        restart = RESTART_POLICY
    elif restart.delay_ns is None:
        restart = replace(restart, delay_ns=RESTART_POLICY.delay_ns)
    template = replace(
        template,
        container_spec=container,
        resources=template.resources or ResourceRequirements(),
        restart_policy=restart,
        placement=template.placement or Placement(),
    )
    return replace(
        spec,
        task_template=template,
        update_config=effective_update_config(spec.update_config),
        rollback_config=effective_update_config(spec.rollback_config, rollback=True),
    )


def service_status(service: Service, tasks: Iterable[Task]) -> ServiceStatus:
    """SwarmKit's ``ListServiceStatuses`` for one service and its tasks: the tasks
    running; the replicas wanted (a replicated job's concurrency), or for a global
    service the tasks meant to run or to complete; a job's completed tasks. A job
    counts only the tasks of its current run."""
    mode = service.spec.mode
    desired, running, completed = 0, 0, 0
    every_node = mode.replicated is None and mode.replicated_job is None
    if mode.replicated is not None:
        desired = effective_replicas(service.spec)
    elif mode.replicated_job is not None:
        desired = effective_job(mode.replicated_job).max_concurrent or 0
    run = service.job_status.job_iteration.index if service.job_status is not None else None
    for task in tasks:
        state = task.status.state
        if run is not None:
            if task.job_iteration is None or task.job_iteration.index != run:
                continue
            completed += state is TaskState.COMPLETE
        running += state is TaskState.RUNNING
        if every_node:
            desired += task.desired_state is TaskState.RUNNING
            desired += state is not TaskState.COMPLETE and task.desired_state is TaskState.COMPLETE
    return ServiceStatus(running_tasks=running, desired_tasks=desired, completed_tasks=completed)


def service_json(service: Service, status: ServiceStatus | None = None) -> dict[str, Any]:
    """A service as the Engine API shows it (``status``: the list's ServiceStatus)."""
    if status is not None:
        service = replace(service, service_status=status)
    return without(service.to_json(), SHOAL_ONLY)


def matches(service: Service, wanted: Filters) -> bool:
    """dockerd's and SwarmKit's service filters: ``name`` and ``id`` are prefixes."""
    spec = service.spec
    return (
        wanted.prefix("id", service.id)
        and wanted.prefix("name", spec.name)
        and wanted.labels("label", spec.labels)
        and wanted.exact("mode", spec.mode.name)
        and wanted.exact("runtime", RUNTIME)
    )


def _tasks_by_service(tasks: Iterable[Any]) -> dict[str, list[Task]]:
    grouped: dict[str, list[Task]] = {}
    for task in tasks:
        if isinstance(task, Task):
            grouped.setdefault(task.service_id, []).append(task)
    return grouped


# -- routes ------------------------------------------------------------------------------------


@routes.get("/services")
async def service_list(call: Call) -> web.StreamResponse:
    wanted = parse(call.query("filters"), FILTERS)
    status = versions.at_least(call.version, "1.41") and call.strict_flag("status")
    services = [s for s in await call.ask("ServiceList") if matches(s, wanted)]
    if not status:
        return json_response([service_json(s) for s in services])
    by_service = _tasks_by_service(await call.ask("TaskList"))
    return json_response(
        [service_json(s, service_status(s, by_service.get(s.id, ()))) for s in services]
    )


@routes.post("/services/create")
async def service_create(call: Call) -> web.StreamResponse:
    """``X-Registry-Auth`` is not kept: shoal pulls no private images."""
    spec = daemon_spec(await call.model(ServiceSpec))
    service_id = await call.ask("ServiceCreate", {"spec": spec})
    return json_response({"ID": service_id}, status=201)


@routes.get("/services/{id}")
async def service_inspect(call: Call) -> web.StreamResponse:
    defaults = call.strict_flag("insertDefaults")
    service = await find_service(call, call.arg("id"))
    if defaults:
        service = replace(service, spec=insert_defaults(service.spec))
    return json_response(service_json(service))


@routes.post("/services/{id}/update")
async def service_update(call: Call) -> web.StreamResponse:
    """A new spec at the version the client read, or with ``rollback=previous`` a
    return to the previous spec (whose body SwarmKit ignores)."""
    spec = await call.model(ServiceSpec)
    version = call.object_version("service")
    spec = daemon_spec(spec)
    current = await find_service(call, call.arg("id"))
    _check_registry_auth_from(call, current)
    rollback = call.query("rollback")
    if rollback not in ("", "none", "previous"):
        raise EngineError(500, f"unrecognized rollback option {rollback}")
    params: dict[str, Any] = {"service": current.id, "version": version}
    if rollback == "previous":
        params["rollback"] = True
    else:
        params["spec"] = spec
    await call.ask("ServiceUpdate", params)
    return json_response({"Warnings": None})


def _check_registry_auth_from(call: Call, current: Service) -> None:
    """Where dockerd takes the pull credentials from when none are sent: its
    plain errors (500) for a value it does not know or a spec that is not there."""
    if call.request.headers.get("X-Registry-Auth"):
        return
    source = call.query("registryAuthFrom")
    if source == "previous-spec" and current.previous_spec is None:
        raise EngineError(500, "service does not have a previous spec")
    if source not in ("", "spec", "previous-spec"):
        raise EngineError(500, "unsupported registryAuthFrom value")


@routes.delete("/services/{id}")
async def service_remove(call: Call) -> web.StreamResponse:
    service = await find_service(call, call.arg("id"))
    await call.ask("ServiceRemove", {"service": service.id})
    return web.Response(status=200)


@routes.get("/services/{id}/logs")
async def service_logs(call: Call) -> web.StreamResponse:
    logs_stream.check_streams(call)
    service = await find_service(call, call.arg("id"))
    wanted = logs_stream.options(call)
    container = service.spec.task_template.container_spec
    tty = container is not None and container.tty
    return await logs_stream.send(call, service.id, service.id, wanted, tty=tty)
