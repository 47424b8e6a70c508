"""``docker service create|update|scale|rollback|rm|ls|ps|inspect|logs``: Docker's
flags and defaults, turned into requests for a manager.

``create`` builds a spec from its flags. ``update`` is a change to apply to the
spec as the manager has it (the CLI fetches the service, edits it and sends it
back): flags left out leave the spec alone; ``--force`` redeploys; ``--rollback``
may not come with any other change. A create without ``--name`` gets a random
``adjective_surname`` name, as Docker gives one.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cli.commands.common import Call, Change, Found, inspecting, listing_flags
from cli.commands.files import CONFIG, SECRET, check_targets, names, with_files
from cli.commands.flags import FLOAT, UINT, CommandParser, UsageError, choice
from cli.commands.network import ATTACHMENT
from cli.commands.values import CPUS, DURATION, MEMORY, PORT, key_value
from core.model import replace
from core.model.common import Limit, ResourceRequirements, Resources
from core.model.enums import (
    FailureAction,
    ResolutionMode,
    RestartCondition,
    UpdateOrder,
)
from core.model.service import (
    ContainerSpec,
    EndpointSpec,
    GlobalJob,
    GlobalService,
    HealthConfig,
    NetworkAttachmentConfig,
    Placement,
    PlacementPreference,
    PortConfig,
    ReplicatedJob,
    ReplicatedService,
    RestartPolicy,
    ServiceMode,
    ServiceSpec,
    SpreadOver,
    TaskSpec,
    UpdateConfig,
)
from core.model.wire import Labels

MODES = ("replicated", "global", "replicated-job", "global-job")


# -- flags both create and update take -------------------------------------------------


def _config_flags(parser: CommandParser, kind: str) -> None:
    """``--update-*`` or ``--rollback-*``."""
    parser.add_argument(f"--{kind}-parallelism", type=UINT)
    parser.add_argument(f"--{kind}-delay", type=DURATION)
    actions = ("pause", "continue", "rollback") if kind == "update" else ("pause", "continue")
    parser.add_argument(f"--{kind}-failure-action", type=choice(*actions))
    parser.add_argument(f"--{kind}-monitor", type=DURATION)
    parser.add_argument(f"--{kind}-max-failure-ratio", type=FLOAT)
    parser.add_argument(f"--{kind}-order", type=choice("start-first", "stop-first"))
    if kind == "update":  # shoal's own: off unless asked for
        parser.add_argument("--update-progress-deadline", type=DURATION)


def _common_flags(parser: CommandParser) -> None:
    parser.add_argument("-d", "--detach", action="store_true")
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("--replicas", type=UINT)
    parser.add_argument("--replicas-max-per-node", type=UINT)
    parser.add_argument("--max-concurrent", type=UINT)
    parser.add_argument("-w", "--workdir")
    parser.add_argument("-u", "--user")
    parser.add_argument("--hostname")
    parser.add_argument("--endpoint-mode", type=choice("vip", "dnsrr"))
    parser.add_argument("--stop-grace-period", type=DURATION)
    parser.add_argument("--stop-signal")  # Signal to stop the container
    parser.add_argument("--restart-condition", type=choice("none", "on-failure", "any"))
    parser.add_argument("--restart-delay", type=DURATION)
    parser.add_argument("--restart-max-attempts", type=UINT)
    parser.add_argument("--restart-window", type=DURATION)
    parser.add_argument("--reserve-cpu", type=CPUS)
    parser.add_argument("--reserve-memory", type=MEMORY)
    parser.add_argument("--limit-cpu", type=CPUS)
    parser.add_argument("--limit-memory", type=MEMORY)
    parser.add_argument("--health-cmd")
    parser.add_argument("--health-interval", type=DURATION)
    parser.add_argument("--health-timeout", type=DURATION)
    parser.add_argument("--health-retries", type=UINT)
    parser.add_argument("--health-start-period", type=DURATION)
    parser.add_argument("--no-healthcheck", action="store_true")
    _config_flags(parser, "update")
    _config_flags(parser, "rollback")


# -- create ---------------------------------------------------------------------------


def create_parser() -> CommandParser:
    parser = CommandParser("service create", least=1, interspersed=False)
    parser.add_argument("--name")
    parser.add_argument("--mode", type=choice(*MODES), default="replicated")
    parser.add_argument("-e", "--env", action="append", default=[])
    parser.add_argument("--env-file", action="append", default=[])
    parser.add_argument("-l", "--label", action="append", default=[])
    parser.add_argument("--container-label", action="append", default=[])
    parser.add_argument("--constraint", action="append", default=[])
    parser.add_argument("--placement-pref", action="append", default=[])
    parser.add_argument("-p", "--publish", action="append", default=[], type=PORT)
    parser.add_argument("--network", action="append", default=[], type=ATTACHMENT)
    parser.add_argument("--secret", action="append", default=[], type=SECRET)
    parser.add_argument("--config", action="append", default=[], type=CONFIG)
    _common_flags(parser)
    return parser


def create(argv: Sequence[str], rng: random.Random, read_file: Callable[[str], str]) -> Call:
    """``docker service create [OPTIONS] IMAGE [COMMAND] [ARG...]``."""
    parser = create_parser()
    flags, arguments = parser.parse(argv)
    image, *command = arguments
    env = [line for path in flags.env_file for line in _env_file(path, read_file)]
    container = ContainerSpec(
        image=image,
        args=tuple(command),
        env=tuple(env + flags.env),
        labels=Labels(dict(key_value(x) for x in flags.container_label)),
    )
    spec = ServiceSpec(
        name=flags.name or random_name(rng),
        labels=Labels(dict(key_value(x) for x in flags.label)),
        task_template=TaskSpec(container_spec=container),
        mode=_mode(flags.mode, flags),
    )
    placement = Placement(
        constraints=tuple(flags.constraint),
        preferences=tuple(_preference(p, parser) for p in flags.placement_pref),
    )
    if placement != Placement():
        spec = replace(spec, task_template=replace(spec.task_template, placement=placement))
    if flags.network:  # as named: each is looked up for its ID before the create
        template = replace(spec.task_template, networks=tuple(flags.network))
        spec = replace(spec, task_template=template)
    if flags.publish:
        spec = replace(spec, endpoint_spec=EndpointSpec(ports=tuple(flags.publish)))
    spec = _apply_common(spec, flags, parser)

    check_targets(flags.secret)
    check_targets(flags.config)

    def resolved(found: Found) -> dict[str, Any]:
        made = with_files(_attached(spec, found), "secret", flags.secret, (), found.secrets)
        return {"spec": with_files(made, "config", flags.config, (), found.configs)}

    return Call(
        "ServiceCreate",
        {"spec": spec},
        show="created" if not flags.detach else "id",
        networks=tuple(a.target for a in flags.network),
        secrets=names(flags.secret),
        configs=names(flags.config),
        resolved=resolved,
    )


def _attached(spec: ServiceSpec, found: Found) -> ServiceSpec:
    """docker/cli's ``ToService``: each network's target as the ID it was found by
    (``resolveNetworkID``), sorted by it."""
    template = spec.task_template
    if not template.networks:
        return spec
    networks = sorted(
        (replace(a, target=found.networks[a.target]) for a in template.networks),
        key=lambda a: a.target,
    )
    return replace(spec, task_template=replace(template, networks=tuple(networks)))


def _mode(mode: str, flags: argparse.Namespace) -> ServiceMode:
    if mode == "global":
        if flags.replicas is not None:
            raise UsageError("replicas can only be used with replicated or replicated-job mode")
        return ServiceMode(global_=GlobalService())
    if mode == "global-job":
        return ServiceMode(global_job=GlobalJob())
    if mode == "replicated-job":
        concurrent = flags.max_concurrent if flags.max_concurrent is not None else 1
        total = flags.replicas if flags.replicas is not None else concurrent
        return ServiceMode(
            replicated_job=ReplicatedJob(max_concurrent=concurrent, total_completions=total)
        )
    replicas = flags.replicas if flags.replicas is not None else 1
    return ServiceMode(replicated=ReplicatedService(replicas=replicas))


def _env_file(path: str, read_file: Callable[[str], str]) -> list[str]:
    """Docker's ``--env-file``: ``KEY=value`` lines, ``#`` comments and blank lines
    skipped, a bare ``KEY`` taken from the caller's environment (left as is here)."""
    try:
        text = read_file(path)
    except OSError as error:
        raise UsageError(f"open {path}: {error.strerror or 'cannot be read'}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a text file of KEY=value lines") from None
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("=") or " " in line.split("=", 1)[0]:
            raise UsageError(f"{path}:{number}: variable '{line}' contains whitespaces")
        lines.append(line)
    return lines


def _preference(text: str, parser: CommandParser) -> PlacementPreference:
    strategy, _, descriptor = text.partition("=")
    if strategy != "spread" or not descriptor:
        raise UsageError(
            f'invalid argument "{text}" for "--placement-pref" flag: '
            f'placement preference must be of the format "spread=<label>"',
            parser.command,
        )
    return PlacementPreference(spread=SpreadOver(spread_descriptor=descriptor))


# -- the flags both share, applied to a spec ---------------------------------------------


def _apply_common(
    spec: ServiceSpec, flags: argparse.Namespace, parser: CommandParser
) -> ServiceSpec:
    template = spec.task_template
    container = template.container_spec or ContainerSpec()
    container = _set(
        container,
        dir=flags.workdir,
        user=flags.user,
        hostname=flags.hostname,
        stop_grace_period_ns=flags.stop_grace_period,
        stop_signal=flags.stop_signal,
    )
    container = _healthcheck(container, flags, parser)
    template = replace(template, container_spec=container)
    template = _restart(template, flags)
    template = _resources(template, flags)
    if flags.replicas_max_per_node is not None:
        placement = template.placement or Placement()
        template = replace(
            template, placement=replace(placement, max_replicas=flags.replicas_max_per_node)
        )
    spec = replace(spec, task_template=template)
    if flags.endpoint_mode is not None:
        endpoint = spec.endpoint_spec or EndpointSpec()
        spec = replace(
            spec, endpoint_spec=replace(endpoint, mode=ResolutionMode(flags.endpoint_mode))
        )
    for kind in ("update", "rollback"):
        spec = _update_config(spec, flags, kind)
    return spec


def _set(obj: Any, **values: Any) -> Any:
    """``obj`` with the values given (``None``: the flag was not given)."""
    given = {k: v for k, v in values.items() if v is not None}
    return replace(obj, **given) if given else obj


def _healthcheck(
    container: ContainerSpec, flags: argparse.Namespace, parser: CommandParser
) -> ContainerSpec:
    timings = (
        flags.health_cmd,
        flags.health_interval,
        flags.health_timeout,
        flags.health_retries,
        flags.health_start_period,
    )
    if flags.no_healthcheck:
        if any(value is not None for value in timings):
            raise UsageError("--no-healthcheck conflicts with --health-* options", parser.command)
        return replace(container, healthcheck=HealthConfig(test=("NONE",)))
    if all(value is None for value in timings):
        return container
    check = container.healthcheck or HealthConfig()
    check = _set(
        check,
        test=("CMD-SHELL", flags.health_cmd) if flags.health_cmd is not None else None,
        interval_ns=flags.health_interval,
        timeout_ns=flags.health_timeout,
        retries=flags.health_retries,
        start_period_ns=flags.health_start_period,
    )
    return replace(container, healthcheck=check)


def _restart(template: TaskSpec, flags: argparse.Namespace) -> TaskSpec:
    values = {
        "condition": RestartCondition(flags.restart_condition) if flags.restart_condition else None,
        "delay_ns": flags.restart_delay,
        "max_attempts": flags.restart_max_attempts,
        "window_ns": flags.restart_window,
    }
    if all(v is None for v in values.values()):
        return template
    return replace(
        template, restart_policy=_set(template.restart_policy or RestartPolicy(), **values)
    )


def _resources(template: TaskSpec, flags: argparse.Namespace) -> TaskSpec:
    given = (flags.reserve_cpu, flags.reserve_memory, flags.limit_cpu, flags.limit_memory)
    if all(v is None for v in given):
        return template
    resources = template.resources or ResourceRequirements()
    reservations = _set(
        resources.reservations or Resources(),
        nano_cpus=flags.reserve_cpu,
        memory_bytes=flags.reserve_memory,
    )
    limits = _set(
        resources.limits or Limit(), nano_cpus=flags.limit_cpu, memory_bytes=flags.limit_memory
    )
    return replace(
        template,
        resources=ResourceRequirements(
            reservations=reservations if reservations != Resources() else None,
            limits=limits if limits != Limit() else None,
        ),
    )


def _update_config(spec: ServiceSpec, flags: argparse.Namespace, kind: str) -> ServiceSpec:
    def flag(name: str) -> Any:
        return getattr(flags, f"{kind}_{name}".replace("-", "_"), None)

    action = flag("failure_action")
    order = flag("order")
    values = {
        "parallelism": flag("parallelism"),
        "delay_ns": flag("delay"),
        "failure_action": FailureAction(action) if action else None,
        "monitor_ns": flag("monitor"),
        "max_failure_ratio": flag("max_failure_ratio"),
        "order": UpdateOrder(order) if order else None,
        "progress_deadline_ns": flag("progress_deadline"),
    }
    if all(v is None for v in values.values()):
        return spec
    if spec.mode.is_job and kind == "update":
        raise UsageError(f"{spec.mode.name} services may not have an update config")
    field_name = f"{kind}_config"
    current = getattr(spec, field_name) or UpdateConfig()
    return replace(spec, **{field_name: _set(current, **values)})


# -- random names ------------------------------------------------------------------------

_ADJECTIVES = (
    "admiring", "bold", "brave", "clever", "dazzling", "eager", "elastic", "festive",
    "gallant", "happy", "jolly", "keen", "lucid", "modest", "nifty", "optimistic",
    "peaceful", "quirky", "relaxed", "serene", "stoic", "tender", "upbeat", "vibrant",
    "wizardly", "youthful", "zealous",
)  # fmt: skip
_SURNAMES = (
    "agnesi", "babbage", "bohr", "curie", "darwin", "euclid", "faraday", "galois",
    "hopper", "hypatia", "kepler", "lamport", "liskov", "lovelace", "mirzakhani",
    "noether", "pascal", "ritchie", "shannon", "thompson", "turing", "wozniak",
)  # fmt: skip


def random_name(rng: random.Random) -> str:
    """``adjective_surname``, as Docker names a service created without ``--name``."""
    return f"{rng.choice(_ADJECTIVES)}_{rng.choice(_SURNAMES)}"


# -- update -------------------------------------------------------------------------------


def update_parser() -> CommandParser:
    parser = CommandParser("service update", least=1, most=1)
    parser.add_argument("--image")
    parser.add_argument("--args")
    parser.add_argument("-f", "--force", action="store_true")
    parser.add_argument("--rollback", action="store_true")
    for name in ("env", "label", "container-label", "constraint", "placement-pref"):
        parser.add_argument(f"--{name}-add", action="append", default=[])
        parser.add_argument(f"--{name}-rm", action="append", default=[])
    parser.add_argument("--publish-add", action="append", default=[], type=PORT)
    parser.add_argument("--publish-rm", action="append", default=[])
    parser.add_argument("--network-add", action="append", default=[], type=ATTACHMENT)
    parser.add_argument("--network-rm", action="append", default=[])
    parser.add_argument("--secret-add", action="append", default=[], type=SECRET)
    parser.add_argument("--secret-rm", action="append", default=[])
    parser.add_argument("--config-add", action="append", default=[], type=CONFIG)
    parser.add_argument("--config-rm", action="append", default=[])
    _common_flags(parser)
    return parser


_NOT_CHANGES = {"detach", "quiet", "rollback"}  # flags that change nothing in the spec


def update(argv: Sequence[str]) -> Change:
    """``docker service update [OPTIONS] SERVICE``."""
    parser = update_parser()
    flags, (service,) = parser.parse(argv)
    defaults = vars(parser.parse([service])[0])
    changed = sorted(name for name, value in vars(flags).items() if value != defaults[name])
    if flags.rollback and set(changed) - _NOT_CHANGES:
        raise UsageError("other flags may not be combined with --rollback", parser.command)

    def edit(spec: ServiceSpec, found: Found) -> ServiceSpec:
        return _edit(spec, flags, parser, found)

    check_targets(flags.secret_add)
    check_targets(flags.config_add)
    named = [*flags.network_rm, *(a.target for a in flags.network_add)]
    return Change(
        service,
        edit,
        networks=tuple(dict.fromkeys(named)),
        secrets=names(flags.secret_add),
        configs=names(flags.config_add),
        force=flags.force,
        rollback=flags.rollback,
        detach=flags.detach,
        quiet=flags.quiet,
    )


def _edit(
    spec: ServiceSpec, flags: argparse.Namespace, parser: CommandParser, found: Found
) -> ServiceSpec:
    template = spec.task_template
    container = template.container_spec or ContainerSpec()
    env = _without_keys(container.env, flags.env_rm) + tuple(flags.env_add)
    container = replace(
        container,
        env=_last_per_key(env),
        labels=container.labels.without(flags.container_label_rm).updated(
            dict(key_value(x) for x in flags.container_label_add)
        ),
    )
    container = _set(
        container,
        image=flags.image,
        args=tuple(flags.args.split()) if flags.args is not None else None,
    )
    placement = template.placement or Placement()
    constraints = [c for c in placement.constraints if c not in flags.constraint_rm]
    constraints += [c for c in flags.constraint_add if c not in constraints]
    if flags.constraint_add or flags.constraint_rm:
        constraints.sort()  # docker/cli sorts them "so that the result is predictable"
    preferences = [
        p
        for p in placement.preferences
        if not (p.spread and f"spread={p.spread.spread_descriptor}" in flags.placement_pref_rm)
    ]
    preferences += [_preference(p, parser) for p in flags.placement_pref_add]
    placement = replace(placement, constraints=tuple(constraints), preferences=tuple(preferences))
    template = replace(
        template,
        container_spec=container,
        placement=placement if placement != Placement() else None,
    )
    spec = replace(
        spec,
        task_template=template,
        labels=spec.labels.without(flags.label_rm).updated(
            dict(key_value(x) for x in flags.label_add)
        ),
    )
    spec = _ports(spec, flags)
    spec = _networks(spec, flags.network_add, flags.network_rm, found.networks)
    spec = with_files(spec, "secret", flags.secret_add, flags.secret_rm, found.secrets)
    spec = with_files(spec, "config", flags.config_add, flags.config_rm, found.configs)
    if flags.replicas is not None:
        spec = _replicas(spec, flags.replicas, parser)
    if flags.max_concurrent is not None:
        spec = _max_concurrent(spec, flags.max_concurrent, parser)
    return _apply_common(spec, flags, parser)


def _without_keys(env: tuple[str, ...], keys: list[str]) -> tuple[str, ...]:
    drop = {k.split("=", 1)[0] for k in keys}
    return tuple(e for e in env if e.split("=", 1)[0] not in drop)


def _last_per_key(env: tuple[str, ...]) -> tuple[str, ...]:
    """``--env-add`` of a key already set replaces it, in its place."""
    latest = {e.split("=", 1)[0]: e for e in env}
    seen: list[str] = []
    for entry in env:
        key = entry.split("=", 1)[0]
        if key not in seen:
            seen.append(key)
    return tuple(latest[k] for k in seen)


def _ports(spec: ServiceSpec, flags: argparse.Namespace) -> ServiceSpec:
    if not flags.publish_add and not flags.publish_rm:
        return spec
    endpoint = spec.endpoint_spec or EndpointSpec()

    def removed(port: PortConfig) -> bool:
        """Docker's ``--publish-rm``: by target port (``80``, ``80/udp``), or by
        ``published:target``."""
        for text in flags.publish_rm:
            ports, _, protocol = text.partition("/")
            published, _, target = ports.rpartition(":")
            if protocol and str(port.protocol or "tcp") != protocol:
                continue
            if target == str(port.target_port) and published in ("", str(port.published_port)):
                return True
        return False

    ports = [p for p in endpoint.ports if not removed(p)]
    ports += [p for p in flags.publish_add if p not in ports]
    return replace(spec, endpoint_spec=replace(endpoint, ports=tuple(ports)))


def _networks(
    spec: ServiceSpec,
    added: Sequence[NetworkAttachmentConfig],
    removed: Sequence[str],
    ids: Mapping[str, str],
) -> ServiceSpec:
    """docker/cli's ``updateNetworks``: the template's networks (or the deprecated
    ``Networks`` of the spec, moved into the template), less those removed (one not
    attached is no matter), plus those added (one already attached is refused),
    sorted by target. ``ids`` is what the CLI's lookups found: each network named,
    by name or ID, to its ID."""
    if not added and not removed:
        return spec
    template = spec.task_template
    current = template.networks or spec.networks
    gone = {ids[ref] for ref in removed}
    kept = [a for a in current if a.target not in gone]
    for attachment in added:
        target = ids[attachment.target]
        if any(a.target == target for a in kept):
            raise UsageError(f"service is already attached to network {attachment.target}")
        kept.append(replace(attachment, target=target))
    kept.sort(key=lambda a: a.target)
    return replace(spec, networks=(), task_template=replace(template, networks=tuple(kept)))


def _replicas(spec: ServiceSpec, replicas: int, parser: CommandParser) -> ServiceSpec:
    mode = spec.mode
    if mode.replicated is not None:
        return replace(spec, mode=ServiceMode(replicated=ReplicatedService(replicas=replicas)))
    if mode.replicated_job is not None:
        job = replace(mode.replicated_job, total_completions=replicas)
        return replace(spec, mode=ServiceMode(replicated_job=job))
    raise UsageError(
        "replicas can only be used with replicated or replicated-job mode", parser.command
    )


def _max_concurrent(spec: ServiceSpec, concurrent: int, parser: CommandParser) -> ServiceSpec:
    job = spec.mode.replicated_job
    if job is None:
        raise UsageError("max-concurrent can only be used with replicated-job mode", parser.command)
    return replace(spec, mode=ServiceMode(replicated_job=replace(job, max_concurrent=concurrent)))


# -- the others ---------------------------------------------------------------------------


def scale(argv: Sequence[str]) -> list[Change]:
    """``docker service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]``."""
    parser = CommandParser("service scale", least=1)
    parser.add_argument("-d", "--detach", action="store_true")
    flags, arguments = parser.parse(argv)
    changes = []
    for argument in arguments:
        name, sep, count = argument.partition("=")
        if not sep or not name:
            raise UsageError(
                f"invalid scale specifier '{argument}'.\nSee 'docker service scale --help'.\n\n"
                "Usage:  docker service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]"
            )
        if not count.isdigit():
            raise UsageError(
                f"invalid replicas value {count}: strconv.ParseUint: parsing "
                f'"{count}": invalid syntax'
            )
        replicas = int(count)

        def edit(spec: ServiceSpec, found: Found, replicas: int = replicas) -> ServiceSpec:
            return _replicas(spec, replicas, parser)

        changes.append(Change(name, edit, detach=flags.detach, said=f"{name} scaled to {replicas}"))
    return changes


def rollback(argv: Sequence[str]) -> Change:
    """``docker service rollback SERVICE``."""
    parser = CommandParser("service rollback", least=1, most=1)
    parser.add_argument("-d", "--detach", action="store_true")
    parser.add_argument("-q", "--quiet", action="store_true")
    flags, (service,) = parser.parse(argv)
    return Change(
        service, lambda spec, found: spec, rollback=True, detach=flags.detach, quiet=flags.quiet
    )


def remove(argv: Sequence[str]) -> list[Call]:
    """``docker service rm SERVICE [SERVICE...]``."""
    _, services = CommandParser("service rm", least=1).parse(argv)
    return [Call("ServiceRemove", {"service": s}, show="name") for s in services]


def listing(argv: Sequence[str]) -> Call:
    """``docker service ls [--filter k=v] [--format TEMPLATE|json] [-q]``."""
    view, _ = listing_flags("service ls", ("id", "label", "mode", "name"), argv)
    return Call("ServiceList", show="service ls", view=view)


def tasks(argv: Sequence[str]) -> list[Call]:
    """``docker service ps SERVICE [SERVICE...] [--filter k=v] [--format TEMPLATE] [-q]``."""
    allowed = ("id", "name", "node", "desired-state")
    view, services = listing_flags("service ps", allowed, argv, least=1, most=None)
    return [Call("TaskList", {"service": s}, show="service ps", view=view) for s in services]


def inspect(argv: Sequence[str]) -> list[Call]:
    """``docker service inspect [--pretty] SERVICE [SERVICE...]``."""
    return inspecting("service", "ServiceInspect", argv)


def logs(argv: Sequence[str]) -> Call:
    """``docker service logs [-t] [--no-task-ids] [--no-trunc] [--no-resolve]
    SERVICE|TASK``."""
    parser = CommandParser("service logs", least=1, most=1)
    parser.add_argument("-t", "--timestamps", action="store_true")
    parser.add_argument("--no-task-ids", action="store_true")
    parser.add_argument("--no-trunc", action="store_true")
    parser.add_argument("--no-resolve", action="store_true")
    flags, (target,) = parser.parse(argv)
    view = {
        "timestamps": flags.timestamps,
        "task_ids": not flags.no_task_ids,
        "no_trunc": flags.no_trunc,
        "resolve": not flags.no_resolve,
    }
    return Call("ServiceLogs", {"service": target}, show="logs", view=view)
