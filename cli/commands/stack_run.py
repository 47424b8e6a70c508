"""The conversations ``docker stack`` commands have with a manager, as docker/cli's
``stack`` package has them, and what they print.

``deploy``: prune (``--prune``), check the external networks, create the
stack's networks that are missing, create or update its secrets and configs,
then create each service or update it to the file (``Updating service x_web
(id: ...)`` for every one already there: an unchanged spec changes nothing, as
the manager compares specs). ``rm``: every service, secret, config and network
labelled with the stack, in Docker's order. Where Docker walks Go maps, shoal
goes by name. A failure stops the deploy where Docker's would, with what was
made so far left in place, as Docker leaves it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cli.commands.common import Printed, Send
from cli.compose.convert import LABEL_NAMESPACE, Stack
from cli.output.stacks import stack_ls
from cli.output.views import Context, filtered, service_ls, service_ps
from core.model import replace
from core.model.network import Network
from core.model.node import Node
from core.model.secret import Config, ConfigSpec, Secret, SecretSpec
from core.model.service import SecretReference, Service, ServiceSpec
from core.model.task import Task


class _Stop(Exception):
    """The conversation ends here, refused (the reason is said already)."""


@dataclass
class _Said:
    """What a command prints, as it goes."""

    lines: list[tuple[str, str]] = field(default_factory=list)

    def out(self, text: str) -> None:
        self.lines.append(("out", text))

    def err(self, text: str) -> None:
        self.lines.append(("err", text))

    def done(self, ok: bool = True, wait: Sequence[str] = ()) -> Printed:
        return Printed(tuple(self.lines), ok, tuple(wait))


def _daemon(reply: Any) -> str:
    return f"Error response from daemon: {reply.message}"


def _ask(send: Send, said: _Said, method: str, params: dict[str, Any], prefix: str = "") -> Any:
    """The manager's answer; a refusal said (after ``prefix``) and the command stopped."""
    reply = send(method, params)
    if not reply.ok:
        said.err(prefix + _daemon(reply))
        raise _Stop
    return reply.value


def _labelled(objects: Any, namespace: str | None) -> list[Any]:
    """The objects of one stack (``label=com.docker.stack.namespace=NAME``), or of
    any (``None``: the label is set)."""
    return [
        o
        for o in objects or ()
        if LABEL_NAMESPACE in o.spec.labels
        and (namespace is None or o.spec.labels[LABEL_NAMESPACE] == namespace)
    ]


def _by_name(objects: list[Any]) -> list[Any]:
    return sorted(objects, key=lambda o: (o.spec.name, o.id))


def _listed(send: Send, said: _Said, method: str, namespace: str | None) -> list[Any]:
    params: dict[str, Any] = {"names": [], "id_prefixes": []} if method == "NetworkList" else {}
    return _by_name(_labelled(_ask(send, said, method, params), namespace))


# -- deploy ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deploy:
    namespace: str
    stack: Stack
    prune: bool = False
    resolve_image: str = "always"
    detach: bool = True
    notes: tuple[str, ...] = ()  # warnings the loading gave, then the detach notice

    def run(self, send: Send, now: float) -> Printed:
        said = _Said()
        for note in self.notes:
            said.err(note)
        try:
            if self.prune:
                self._prune(send, said)
            self._externals(send, said)
            self._networks(send, said)
            self._objects(send, said, "secret", self.stack.secrets)
            self._objects(send, said, "config", self.stack.configs)
            ids = self._services(send, said)
        except _Stop:
            return said.done(ok=False)
        return said.done(wait=() if self.detach else ids)

    def _prune(self, send: Send, said: _Said) -> None:
        wanted = {s.name for s in self.stack.services}
        stale = [
            s
            for s in _listed(send, said, "ServiceList", self.namespace)
            if s.spec.name not in wanted
        ]
        remove_services(send, said, stale)

    def _externals(self, send: Send, said: _Said) -> None:
        for name in self.stack.external_networks:
            if name in ("default", "bridge", "host", "none") or name.startswith("container:"):
                continue
            reply = send("NetworkInspect", {"network": name})
            if reply.ok:
                continue
            if reply.code == "NotFound":
                said.err(
                    f'network "{name}" is declared as external, but could not be found. You need '
                    "to create a swarm-scoped network before the stack is deployed"
                )
            else:
                said.err(_daemon(reply))
            raise _Stop

    def _networks(self, send: Send, said: _Said) -> None:
        existing = {n.spec.name for n in _listed(send, said, "NetworkList", self.namespace)}
        for spec in self.stack.networks:
            if spec.name in existing:
                continue
            said.out(f"Creating network {spec.name}")
            _ask(
                send,
                said,
                "NetworkCreate",
                {"spec": spec},
                f"failed to create network {spec.name}: ",
            )

    def _objects(
        self, send: Send, said: _Said, kind: str, specs: Sequence[SecretSpec | ConfigSpec]
    ) -> None:
        method = kind.capitalize()
        for spec in specs:
            reply = send(f"{method}Inspect", {kind: spec.name})
            if reply.ok:
                current = reply.value
                params = {kind: current.id, "version": current.version.index, "spec": spec}
                _ask(
                    send, said, f"{method}Update", params, f"failed to update {kind} {spec.name}: "
                )
            elif reply.code == "NotFound":
                said.out(f"Creating {kind} {spec.name}")
                _ask(
                    send,
                    said,
                    f"{method}Create",
                    {"spec": spec},
                    f"failed to create {kind} {spec.name}: ",
                )
            else:
                said.err(_daemon(reply))
                raise _Stop

    def _ids(self, send: Send, said: _Said, kind: str) -> dict[str, str]:
        """Every secret (or config) the services name, by name, to its ID (the CLI's
        ``ParseSecrets``: one list); one not found refuses the service naming it."""
        named: list[str] = []
        for spec in self.stack.services:
            container = spec.task_template.container_spec
            refs = (
                (container.secrets if kind == "secret" else container.configs) if container else ()
            )
            named += [
                r.secret_name if isinstance(r, SecretReference) else r.config_name for r in refs
            ]
        if not named:
            return {}
        listed = _ask(send, said, f"{kind.capitalize()}List", {"names": sorted(set(named))})
        return {o.spec.name: o.id for o in listed}

    def _resolved(
        self, spec: ServiceSpec, secrets: Mapping[str, str], configs: Mapping[str, str]
    ) -> ServiceSpec:
        container = spec.task_template.container_spec
        assert container is not None
        short = spec.name[len(self.namespace) + 1 :]
        missing = [r.secret_name for r in container.secrets if r.secret_name not in secrets]
        if missing:
            raise _Missing(f"service {short}: secret not found: {missing[0]}")
        missing = [r.config_name for r in container.configs if r.config_name not in configs]
        if missing:
            raise _Missing(f"service {short}: config not found: {missing[0]}")
        container = replace(
            container,
            secrets=tuple(replace(r, secret_id=secrets[r.secret_name]) for r in container.secrets),
            configs=tuple(replace(r, config_id=configs[r.config_name]) for r in container.configs),
        )
        return replace(spec, task_template=replace(spec.task_template, container_spec=container))

    def _services(self, send: Send, said: _Said) -> list[str]:
        secrets, configs = self._ids(send, said, "secret"), self._ids(send, said, "config")
        try:
            specs = [self._resolved(s, secrets, configs) for s in self.stack.services]
        except _Missing as missing:
            said.err(str(missing))
            raise _Stop from None
        existing = {s.spec.name: s for s in _listed(send, said, "ServiceList", self.namespace)}
        ids = []
        for spec in specs:
            current = existing.get(spec.name)
            if current is None:
                said.out(f"Creating service {spec.name}")
                ids.append(
                    str(
                        _ask(
                            send,
                            said,
                            "ServiceCreate",
                            {"spec": spec},
                            f"failed to create service {spec.name}: ",
                        )
                    )
                )
                continue
            said.out(f"Updating service {spec.name} (id: {current.id})")
            template = replace(
                spec.task_template, force_update=current.spec.task_template.force_update
            )
            params = {
                "service": current.id,
                "version": current.version.index,
                "spec": replace(spec, task_template=template),
                "force": False,
            }
            _ask(send, said, "ServiceUpdate", params, f"failed to update service {spec.name}: ")
            ids.append(current.id)
        return ids


class _Missing(Exception):
    """A secret or config a service names is not there."""


# -- rm --------------------------------------------------------------------------------------


def remove_services(send: Send, said: _Said, services: Sequence[Service]) -> bool:
    """docker/cli's ``removeServices``: each by name order; whether one failed."""
    failed = False
    for service in sorted(services, key=lambda s: s.spec.name):
        said.out(f"Removing service {service.spec.name}")
        reply = send("ServiceRemove", {"service": service.id})
        if not reply.ok:
            failed = True
            said.err(f"Failed to remove service {service.id}: {_daemon(reply)}")
    return failed


def _remove_each(send: Send, said: _Said, kind: str, objects: Sequence[Any]) -> bool:
    failed = False
    for obj in objects:
        said.out(f"Removing {kind} {obj.spec.name}")
        reply = send(f"{kind.capitalize()}Remove", {kind: obj.id})
        if not reply.ok:
            failed = True
            said.err(f"Failed to remove {kind} {obj.id}: {_daemon(reply)}")
    return failed


@dataclass(frozen=True)
class Removal:
    namespaces: tuple[str, ...]

    def run(self, send: Send, now: float) -> Printed:
        said = _Said()
        failures = []
        try:
            for namespace in self.namespaces:
                services = _listed(send, said, "ServiceList", namespace)
                networks = [
                    n
                    for n in _listed(send, said, "NetworkList", namespace)
                    if isinstance(n, Network)
                ]
                secrets = [
                    s for s in _listed(send, said, "SecretList", namespace) if isinstance(s, Secret)
                ]
                configs = [
                    c for c in _listed(send, said, "ConfigList", namespace) if isinstance(c, Config)
                ]
                if not (services or networks or secrets or configs):
                    said.err(f"Nothing found in stack: {namespace}")
                    continue
                failed = remove_services(send, said, services)
                failed = _remove_each(send, said, "secret", secrets) or failed
                failed = _remove_each(send, said, "config", configs) or failed
                failed = _remove_each(send, said, "network", networks) or failed
                if failed:
                    failures.append(f"failed to remove some resources from stack: {namespace}")
        except _Stop:
            return said.done(ok=False)
        for failure in failures:
            said.err(failure)
        return said.done(ok=not failures)


# -- ls, services, ps ------------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    fmt: str | None

    def run(self, send: Send, now: float) -> Printed:
        said = _Said()
        try:
            services = _listed(send, said, "ServiceList", None)
        except _Stop:
            return said.done(ok=False)
        counts: dict[str, int] = {}
        for service in services:
            name = service.spec.labels[LABEL_NAMESPACE]
            counts[name] = counts.get(name, 0) + 1
        said.out(stack_ls(counts, self.fmt))
        return said.done()


def _context(send: Send, said: _Said, now: float) -> Context:
    nodes = [n for n in _ask(send, said, "NodeList", {}) or () if isinstance(n, Node)]
    services = [s for s in _ask(send, said, "ServiceList", {}) or () if isinstance(s, Service)]
    tasks = [t for t in _ask(send, said, "TaskList", {}) or () if isinstance(t, Task)]
    return Context(
        now=now,
        nodes={n.id: n for n in nodes},
        services={s.id: s for s in services},
        tasks=tasks,
    )


@dataclass(frozen=True)
class OfStack:
    """``stack services`` (``service ls`` of the stack's services; none is no
    error) or ``stack ps`` (``service ps`` of its tasks; none is an error, docker
    23 on)."""

    namespace: str
    view: Mapping[str, Any]
    tasks: bool

    def run(self, send: Send, now: float) -> Printed:
        return _of_stack(self.namespace, self.view, send, now, tasks=self.tasks)


#: The task filters dockerd takes (``stack ps -f``): the listing's own, and these,
#: which the daemon applies (here: the stack's tasks as the daemon would list them).
_DAEMON_TASK_FILTERS = ("service", "label", "runtime")
TASK_FILTERS = ("id", "name", "node", "desired-state", *_DAEMON_TASK_FILTERS)


def _task_matches(task: Any, filters: Sequence[tuple[str, str]], ctx: Context) -> bool:
    """dockerd's ``service`` (a service's name or ID prefix), ``label`` (the
    service's labels, which SwarmKit gives its tasks) and ``runtime`` filters:
    values of one key any, different keys all."""
    by_key: dict[str, list[str]] = {}
    for key, value in filters:
        if key in _DAEMON_TASK_FILTERS:
            by_key.setdefault(key, []).append(value)
    service = ctx.services.get(task.service_id)
    return all(any(_task_match(service, k, v) for v in vs) for k, vs in by_key.items())


def _task_match(service: Any, key: str, value: str) -> bool:
    if service is None:
        return False
    if key == "service":
        return bool(service.spec.name == value or service.id.startswith(value))
    if key == "label":
        name, sep, wanted = value.partition("=")
        labels = service.spec.labels
        return name in labels and (not sep or labels[name] == wanted)
    return value == "container"  # runtime: every shoal task runs a container


def _of_stack(
    namespace: str, view: Mapping[str, Any], send: Send, now: float, *, tasks: bool
) -> Printed:
    said = _Said()
    try:
        ctx = _context(send, said, now)
    except _Stop:
        return said.done(ok=False)
    mine = _labelled(ctx.services.values(), namespace)
    chosen = list(view.get("filters", ()))
    if tasks:
        ids = {s.id for s in mine}
        mine = [t for t in ctx.tasks if t.service_id in ids and _task_matches(t, chosen, ctx)]
        chosen = [(k, v) for k, v in chosen if k not in _DAEMON_TASK_FILTERS]
    rows = filtered("task" if tasks else "service", mine, chosen, ctx)
    if not rows:
        said.err(f"{'n' if tasks else 'N'}othing found in stack: {namespace}")
        return said.done(ok=not tasks)
    fmt, quiet = view.get("format"), bool(view.get("quiet"))
    if tasks:
        said.out(service_ps(rows, ctx, fmt=fmt, quiet=quiet, no_trunc=bool(view.get("no_trunc"))))
    else:
        said.out(service_ls(rows, ctx, fmt=fmt, quiet=quiet))
    return said.done()


__all__ = ["Deploy", "Listing", "OfStack", "Removal"]
