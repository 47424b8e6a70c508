"""What ``docker node ls``, ``service ls``, ``service ps`` and ``inspect`` print,
from the objects a manager answers with: Docker's tables by default, drawn through
the same Go templates ``--format`` takes (cli/output/template.py), with the fields
docker/cli's formatters give each row; ``-q`` the IDs alone."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cmp_to_key
from typing import Any

from cli.output.tables import human_duration
from cli.output.template import Fields, render_each, render_listing
from core.model.defaults import effective_update_config
from core.model.duration import format_duration
from core.model.enums import NodeRole, Reachability
from core.model.network import Network
from core.model.node import Node
from core.model.service import PortConfig, Service, UpdateConfig
from core.model.task import Task
from core.tasks.states import TaskState

SHORT_ID = 12
ERROR_WIDTH = 30  # the docker CLI cuts longer task errors in `service ps`


@dataclass
class Context:
    """What a listing needs beside its own objects."""

    now: float  # wall-clock seconds, for "Running 47 seconds ago"
    self_node_id: str = ""  # marked with * in node ls
    nodes: dict[str, Node] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    tasks: Sequence[Task] = ()
    networks: dict[str, Network] = field(default_factory=dict)  # by ID, for their names


def _title(text: str) -> str:
    return text[:1].upper() + text[1:]


class Header(Fields):
    """A listing's column names, and the table Docker prints when no ``--format``
    is given."""

    def __init__(self, kind: str, default: str, names: dict[str, Any]) -> None:
        super().__init__(kind, names)
        self.kind_format = default


def listing(
    rows: Sequence[Fields], ids: Sequence[str], header: Header, fmt: str | None, quiet: bool
) -> str:
    """``-q``: the IDs alone; else the rows through ``--format`` (a template,
    ``table ...``, or ``json``: one JSON object a line), Docker's table by default."""
    if quiet:
        return "\n".join(ids)
    return render_listing(fmt or header.kind_format, rows, header)


# -- node ls -------------------------------------------------------------------------------

NODE_HEADER = Header(
    "*formatter.nodeContext",
    "table {{.ID}} {{if .Self}}*{{else}} {{ end }}\t{{.Hostname}}\t{{.Status}}\t"
    "{{.Availability}}\t{{.ManagerStatus}}\t{{.EngineVersion}}",
    {
        "ID": "ID",
        "Self": "",
        "Hostname": "HOSTNAME",
        "Status": "STATUS",
        "Availability": "AVAILABILITY",
        "ManagerStatus": "MANAGER STATUS",
        "EngineVersion": "ENGINE VERSION",
        "TLSStatus": "TLS STATUS",
    },
)


def node_ls(
    nodes: Sequence[Node], ctx: Context, *, fmt: str | None = None, quiet: bool = False
) -> str:
    ordered = sorted(nodes, key=lambda n: (n.description.hostname, n.id))

    def row(n: Node) -> Fields:
        return Fields(
            NODE_HEADER.kind,
            {
                "ID": n.id,
                "Self": n.id == ctx.self_node_id,
                "Hostname": n.description.hostname,
                "Status": _title(str(n.status.state or "unknown")),
                "Availability": _title(str(n.spec.availability or "active")),
                "ManagerStatus": _manager_status(n),
                "EngineVersion": n.description.engine.engine_version,
                "TLSStatus": "Ready",
            },
        )

    return listing([row(n) for n in ordered], [n.id for n in ordered], NODE_HEADER, fmt, quiet)


def _manager_status(node: Node) -> str:
    status = node.manager_status
    if status is None or node.spec.role is not NodeRole.MANAGER:
        return ""
    if status.leader:
        return "Leader"
    if status.reachability is Reachability.REACHABLE:
        return "Reachable"
    return "Unreachable" if status.reachability is Reachability.UNREACHABLE else "Unknown"


# -- service ls -------------------------------------------------------------------------------

SERVICE_HEADER = Header(
    "*formatter.serviceContext",
    "table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}",
    {
        "ID": "ID",
        "Name": "NAME",
        "Mode": "MODE",
        "Replicas": "REPLICAS",
        "Image": "IMAGE",
        "Ports": "PORTS",
    },
)


def service_ls(
    services: Sequence[Service], ctx: Context, *, fmt: str | None = None, quiet: bool = False
) -> str:
    ordered = sorted(services, key=lambda s: (s.spec.name, s.id))

    def row(s: Service) -> Fields:
        asked = s.spec.endpoint_spec.ports if s.spec.endpoint_spec else ()
        return Fields(
            SERVICE_HEADER.kind,
            {
                "ID": s.id[:SHORT_ID],
                "Name": s.spec.name,
                "Mode": s.spec.mode.name.replace("-", " "),
                "Replicas": replicas(s, [t for t in ctx.tasks if t.service_id == s.id]),
                "Image": image(s),
                "Ports": ports(s.endpoint.ports or asked),
            },
        )

    ids = [s.id[:SHORT_ID] for s in ordered]
    return listing([row(s) for s in ordered], ids, SERVICE_HEADER, fmt, quiet)


def running_count(tasks: Sequence[Task]) -> int:
    """REPLICAS' first figure: the tasks running and still meant to (one being
    stopped by an update or a scale-down is no longer counted)."""
    return sum(
        1
        for t in tasks
        if t.status.state is TaskState.RUNNING and t.desired_state <= TaskState.COMPLETE
    )


def replicas(service: Service, tasks: Sequence[Task]) -> str:
    """``running/desired``; jobs add ``(completed/total completed)``."""
    running = running_count(tasks)
    wanted = [t for t in tasks if t.desired_state <= TaskState.COMPLETE]
    mode = service.spec.mode
    if mode.replicated is not None:
        return f"{running}/{mode.replicated.replicas or 0}"
    if mode.replicated_job is not None:
        job = mode.replicated_job
        done = sum(1 for t in tasks if t.status.state is TaskState.COMPLETE)
        total = job.total_completions if job.total_completions is not None else job.max_concurrent
        return f"{running}/{job.max_concurrent or 0} ({done}/{total or 0} completed)"
    if mode.global_job is not None:
        done = sum(1 for t in tasks if t.status.state is TaskState.COMPLETE)
        return f"{running}/{len(wanted)} ({done}/{len(wanted)} completed)"
    return f"{running}/{len(wanted)}"


def desired_count(service: Service, tasks: Sequence[Task]) -> int:
    """The tasks ``service`` should run now: REPLICAS' second figure."""
    mode = service.spec.mode
    if mode.replicated is not None:
        return mode.replicated.replicas or 0
    if mode.replicated_job is not None:
        return mode.replicated_job.max_concurrent or 0
    return sum(1 for t in tasks if t.desired_state <= TaskState.COMPLETE)


def image(service: Service) -> str:
    container = service.spec.task_template.container_spec
    return container.image if container is not None else ""


def ports(configs: Sequence[PortConfig]) -> str:
    """``*:8080->80/tcp``, comma separated, as ``service ls`` and ``service ps`` show."""
    return ", ".join(
        f"*:{p.published_port}->{p.target_port}/{p.protocol or 'tcp'}"
        for p in configs
        if p.published_port
    )


# -- service ps / node ps -------------------------------------------------------------------

TASK_HEADER = Header(
    "*task.taskContext",
    "table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}"
    "\t{{.Error}}\t{{.Ports}}",
    {
        "ID": "ID",
        "Name": "NAME",
        "Image": "IMAGE",
        "Node": "NODE",
        "DesiredState": "DESIRED STATE",
        "CurrentState": "CURRENT STATE",
        "Error": "ERROR",
        "Ports": "PORTS",
    },
)
HISTORY_INDENT = " \\_ "  # docker/cli's mark of a slot's older tasks (tables only)


def service_ps(
    tasks: Sequence[Task],
    ctx: Context,
    *,
    fmt: str | None = None,
    quiet: bool = False,
    no_trunc: bool = False,
) -> str:
    """Tasks by name (``web.2`` before ``web.10``), each slot's newest task (by
    creation, as docker/cli sorts them) first and its older ones under it, marked
    ``\\_`` in a table."""
    ordered = by_slot(tasks, ctx)
    indent = HISTORY_INDENT if (fmt or TASK_HEADER.kind_format).startswith("table") else ""
    rows = []
    for task, history in ordered:
        container = task.spec.container_spec
        node = ctx.nodes.get(task.node_id)
        error = task.status.err
        if error and not no_trunc and len(error) > ERROR_WIDTH:
            error = error[: ERROR_WIDTH - 1] + "…"
        fields = {
            "ID": task.id if no_trunc else task.id[:SHORT_ID],
            "Name": (indent if history else "") + task_name(task, ctx),
            "Image": container.image if container is not None else "",
            "Node": node.description.hostname if node is not None else "",
            "DesiredState": _title(task.desired_state.name.lower()),
            "CurrentState": _current_state(task, ctx.now),
            "Error": f'"{error}"' if error else "",
            "Ports": ports(task.status.port_status.ports),
        }
        rows.append(Fields(TASK_HEADER.kind, fields))
    ids = [str(row["ID"]) for row in rows]
    return listing(rows, ids, TASK_HEADER, fmt, quiet)


def by_slot(tasks: Sequence[Task], ctx: Context) -> list[tuple[Task, bool]]:
    """docker/cli's order: by task name, naturally; within a name (a slot, or a
    node for global services) newest created first. Each task comes with whether
    an earlier one has its name (a history row)."""
    names = {id(t): task_name(t, ctx) for t in tasks}
    newest_first = sorted(tasks, key=lambda t: -t.created_at.unix_ns)
    ordered = sorted(
        newest_first, key=cmp_to_key(lambda a, b: natural_order(names[id(a)], names[id(b)]))
    )
    return [
        (task, index > 0 and names[id(ordered[index - 1])] == names[id(task)])
        for index, task in enumerate(ordered)
    ]


def natural_order(left: str, right: str) -> int:
    """fvbommel/sortorder's ``NaturalLess`` as a comparison: runs of digits compare
    as numbers and sort before other characters, the rest byte by byte."""
    i = j = 0
    while i < len(left) and j < len(right):
        a, b = left[i], right[j]
        if a.isdigit() != b.isdigit():
            return -1 if a.isdigit() else 1
        if not a.isdigit():
            if a != b:
                return -1 if a < b else 1
            i, j = i + 1, j + 1
            continue
        i0, j0 = i, j
        while i < len(left) and left[i] == "0":
            i += 1
        while j < len(right) and right[j] == "0":
            j += 1
        start_i, start_j = i, j
        while i < len(left) and left[i].isdigit():
            i += 1
        while j < len(right) and right[j].isdigit():
            j += 1
        first, second = left[start_i:i], right[start_j:j]
        if len(first) != len(second):
            return -1 if len(first) < len(second) else 1
        if first != second:
            return -1 if first < second else 1
        if start_i - i0 != start_j - j0:
            return -1 if start_i - i0 < start_j - j0 else 1
    return (len(left) - i > 0) - (len(right) - j > 0)  # equal so far: the shorter first


def task_name(task: Task, ctx: Context) -> str:
    """``service.slot``, or ``service.node-id`` for a global service's task."""
    service = ctx.services.get(task.service_id)
    name = service.spec.name if service is not None else task.service_id
    return f"{name}.{task.slot}" if task.slot else f"{name}.{task.node_id}"


def _current_state(task: Task, now: float) -> str:
    age = max(0.0, now - task.status.timestamp.seconds())
    return f"{_title(task.status.state.name.lower())} {human_duration(age)} ago"


# -- inspect -----------------------------------------------------------------------------------


def inspect(objects: Sequence[Node | Service | Task], fmt: str | None = None) -> str:
    """``docker ... inspect``: a JSON array, indented as Docker indents it;
    ``--format json`` the same on one line; another ``--format`` the template once
    per object, on its JSON."""
    return inspect_json([o.to_json() for o in objects], fmt)


def inspect_json(shapes: Sequence[Any], fmt: str | None = None) -> str:
    """Objects already in their JSON shape, printed as ``inspect`` prints them."""
    if not fmt:
        return json.dumps(shapes, indent=4)
    if fmt == "json":
        return json.dumps(shapes, separators=(",", ":"), ensure_ascii=False)
    return render_each(fmt, shapes)


# -- service inspect --pretty ------------------------------------------------------------------


def service_pretty(
    service: Service, now: float, networks: Mapping[str, Network] | None = None
) -> str:
    """``docker service inspect --pretty``, in the docker CLI's template's layout;
    each network by its name among ``networks`` (by ID), else as the spec names it."""
    spec = service.spec
    lines = [f"ID:\t\t{service.id}", f"Name:\t\t{spec.name}"]
    if spec.labels:
        lines.append("Labels:")
        lines += [f" {k}={v}" for k, v in spec.labels.items()]
    mode = spec.mode
    if mode.replicated is not None:
        lines += ["Service Mode:\tReplicated", f" Replicas:\t{mode.replicated.replicas or 0}"]
    elif mode.replicated_job is not None:
        job = mode.replicated_job
        lines += [
            "Service Mode:\tReplicated Job",
            f" Max Concurrent:\t{job.max_concurrent or 0}",
            f" Total Completions:\t{job.total_completions or 0}",
        ]
    else:
        lines.append("Service Mode:\t" + ("Global Job" if mode.global_job else "Global"))
    status = service.update_status
    if status is not None and status.state is not None:
        lines += ["UpdateStatus:", f" State:\t\t{status.state.value}"]
        if status.started_at is not None:
            lines.append(f" Started:\t{human_duration(now - status.started_at.seconds())} ago")
        if status.completed_at is not None:
            ago = human_duration(now - status.completed_at.seconds())
            lines.append(f" Completed:\t{ago} ago")
        lines.append(f" Message:\t{status.message}")
    template = spec.task_template
    placement = template.placement
    lines.append("Placement:")
    if placement is not None and placement.constraints:
        lines.append(f" Constraints:\t[{' '.join(placement.constraints)}]")
    if placement is not None and placement.preferences:
        spreads = [p.spread.spread_descriptor for p in placement.preferences if p.spread]
        lines.append(" Preferences:\t" + ", ".join(f"Spread={s}" for s in spreads))
    if not mode.is_job:
        lines += _update_lines(
            "UpdateConfig", "Update", effective_update_config(spec.update_config)
        )
    rollback = effective_update_config(spec.rollback_config, rollback=True)
    lines += _update_lines("RollbackConfig", "Rollback", rollback)
    container = template.container_spec
    lines.append("ContainerSpec:")
    if container is not None:
        lines.append(f" Image:\t\t{container.image}")
        if container.args:
            lines.append(f" Args:\t\t{' '.join(container.args)}")
        if container.env:
            lines.append(f" Env:\t\t{' '.join(container.env)}")
        lines.append(f" Init:\t\t{'true' if container.init else 'false'}")
    lines.append("Resources:")
    if template.networks:  # the template's "Networks:{{range}} {{.}}{{end}} " on one line
        known = networks or {}
        names = [
            known[a.target].spec.name if a.target in known else a.target for a in template.networks
        ]
        lines.append("Networks:" + "".join(f" {n}" for n in names) + " ")
    endpoint = spec.endpoint_spec
    lines.append(f"Endpoint Mode:\t{(endpoint.mode if endpoint and endpoint.mode else 'vip')}")
    published = service.endpoint.ports or (endpoint.ports if endpoint else ())
    if published:
        lines.append("Ports:")
        for port in published:
            lines += [
                f" PublishedPort = {port.published_port}",
                f"  Protocol = {port.protocol or 'tcp'}",
                f"  TargetPort = {port.target_port}",
                f"  PublishMode = {port.publish_mode or 'ingress'}",
            ]
    return "\n".join(lines)


def _update_lines(title: str, word: str, config: UpdateConfig) -> list[str]:
    lines = [f"{title}:", f" Parallelism:\t{config.parallelism}"]
    if config.delay_ns:
        lines.append(f" Delay:\t\t{format_duration(config.delay_ns)}")
    lines += [
        f" On failure:\t{config.failure_action.value if config.failure_action else 'pause'}",
        f" Monitoring Period: {format_duration(config.monitor_ns)}",
        f" Max failure ratio: {config.max_failure_ratio:g}",
        f" {word} order:".ljust(20) + (config.order.value if config.order else "stop-first"),
    ]
    if config.progress_deadline_ns:
        lines.append(f" Progress deadline: {format_duration(config.progress_deadline_ns)}")
    return lines


# -- --filter ---------------------------------------------------------------------------------


def filtered(
    kind: str, objects: Sequence[Any], filters: Sequence[tuple[str, str]], ctx: Context
) -> list[Any]:
    """Docker's ``--filter key=value`` for ``service ls`` (id, name, label, mode),
    ``service ps``/``node ps`` (id, name, node, desired-state) and ``node ls`` (id,
    name, role, label, node.label, membership): different keys must all match,
    values of one key any."""
    by_key: dict[str, list[str]] = {}
    for key, value in filters:
        by_key.setdefault(key, []).append(value)
    return [
        o
        for o in objects
        if all(any(_match(kind, o, k, v, ctx) for v in vs) for k, vs in by_key.items())
    ]


def _labelled(labels: Any, value: str) -> bool:
    key, sep, wanted = value.partition("=")
    return key in labels and (not sep or labels[key] == wanted)


def _match(kind: str, obj: Any, key: str, value: str, ctx: Context) -> bool:
    if key == "id":
        return bool(obj.id.startswith(value))
    if kind == "service":
        if key == "name":
            return bool(obj.spec.name.startswith(value))
        if key == "label":
            return _labelled(obj.spec.labels, value)
        return bool(key == "mode" and obj.spec.mode.name == value)
    if kind == "task":
        if key == "desired-state":
            return bool(obj.desired_state.name.lower() == value.lower())
        if key == "node":
            node = ctx.nodes.get(obj.node_id)
            return obj.node_id == value or (node is not None and node.description.hostname == value)
        service = ctx.services.get(obj.service_id)
        name = f"{service.spec.name}.{obj.slot}" if service is not None else obj.id
        return bool(key == "name" and name.startswith(value))
    if key == "name":
        return bool(obj.description.hostname.startswith(value))
    if key == "role":
        return bool(str(obj.spec.role or "worker") == value)
    if key in ("label", "node.label"):
        labels = obj.spec.labels if key == "node.label" else obj.description.engine.labels
        return _labelled(labels, value)
    return key == "membership" and value == "accepted"
