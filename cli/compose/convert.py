"""A loaded compose file made into what a manager takes, as docker/cli's
``convert`` package makes it: the stack's networks, secrets and configs to
create, and one service spec per service, every name scoped ``<stack>_<name>``
(unless the file names the object itself) and every object labelled
``com.docker.stack.namespace=<stack>``; services also carry
``com.docker.stack.image``. Where Docker walks Go maps, shoal sorts by name.

A service's secrets and configs are named here and looked up for their IDs when
the stack is deployed (after the stack's own are created); its networks are
named, and the manager resolves them. Every refusal that needs no manager
(``service web: undefined network "x"``) comes from here, before anything is
sent."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cli.commands.flags import UsageError
from cli.commands.network import swarm_spec
from cli.commands.values import CPUS, MEMORY
from cli.compose import ComposeError, ports
from cli.compose.load import Loaded, env_lines, read_text
from cli.words import split
from core.model.common import Driver, Limit, ResourceRequirements, Resources
from core.model.duration import parse_duration
from core.model.enums import FailureAction, MountType, ResolutionMode, RestartCondition, UpdateOrder
from core.model.network import NetworkSpec
from core.model.secret import ConfigSpec, SecretSpec
from core.model.service import (
    BindOptions,
    ConfigReference,
    ContainerSpec,
    DNSConfig,
    EndpointSpec,
    FileTarget,
    GlobalJob,
    GlobalService,
    HealthConfig,
    Mount,
    NetworkAttachmentConfig,
    Placement,
    PlacementPreference,
    Privileges,
    ReplicatedJob,
    ReplicatedService,
    RestartPolicy,
    SecretReference,
    ServiceMode,
    ServiceSpec,
    SpreadOver,
    TaskSpec,
    TmpfsOptions,
    Ulimit,
    UpdateConfig,
    VolumeOptions,
)
from core.model.wire import Labels

LABEL_NAMESPACE = "com.docker.stack.namespace"
LABEL_IMAGE = "com.docker.stack.image"
DEFAULT_NETWORK = "default"
DEFAULT_DRIVER = "overlay"
ReadFile = Callable[[str], str]


@dataclass(frozen=True)
class Stack:
    """What ``stack deploy`` sends, in the order it sends it."""

    networks: tuple[NetworkSpec, ...]
    external_networks: tuple[str, ...]
    secrets: tuple[SecretSpec, ...]
    configs: tuple[ConfigSpec, ...]
    services: tuple[ServiceSpec, ...]


def scope(namespace: str, name: str) -> str:
    return f"{namespace}_{name}"


def _labelled(namespace: str, labels: Any) -> Labels:
    return Labels({**_mapping(labels), LABEL_NAMESPACE: namespace})


def _mapping(value: Any) -> dict[str, str]:
    """A list-or-dict of strings (labels, sysctls, driver options)."""
    if isinstance(value, dict):
        return {str(k): "" if v is None else _text(v) for k, v in value.items()}
    result: dict[str, str] = {}
    for item in value or ():
        key, _, text = str(item).partition("=")
        result[key] = text
    return result


def _text(value: Any) -> str:
    """A scalar as Go's YAML decoding into a string field reads it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def convert(namespace: str, loaded: Loaded, read_file: ReadFile) -> Stack:
    services = loaded.services
    used = sorted(
        {n for s in services.values() for n in _service_networks(s)}
        | ({DEFAULT_NETWORK} if any(not _service_networks(s) for s in services.values()) else set())
    )
    _external_volumes(loaded.section("volumes"))
    networks, externals = _networks(namespace, loaded.section("networks"), used)
    specs = []
    for name, service in sorted(services.items()):
        try:
            specs.append(_service(namespace, name, service, loaded, read_file))
        except ComposeError as error:
            raise ComposeError(f"service {name}: {error.message}") from None
    return Stack(
        networks=networks,
        external_networks=externals,
        secrets=tuple(
            SecretSpec(**fields) for fields in _objects(namespace, loaded, "secrets", read_file)
        ),
        configs=tuple(
            ConfigSpec(**fields) for fields in _objects(namespace, loaded, "configs", read_file)
        ),
        services=tuple(specs),
    )


# -- networks -----------------------------------------------------------------------------


def _service_networks(service: Mapping[str, Any]) -> list[str]:
    networks = service.get("networks") or ()
    return [str(n) for n in networks]


def external_name(kind: str, key: str, obj: Mapping[str, Any]) -> str | None:
    """The name of an external network, volume, secret or config (None: not
    external): ``name``, else ``external.name``, else the key itself; both named
    is docker/cli's refusal (``secret s: secret.external.name and secret.name
    conflict; only use secret.name``)."""
    external = obj.get("external")
    if not external:
        return None
    named = external.get("name") if isinstance(external, dict) else None
    if named and obj.get("name"):
        raise ComposeError(
            f"{kind} {key}: {kind}.external.name and {kind}.name conflict; only use {kind}.name"
        )
    return str(obj.get("name") or named or key)


def _external_volumes(volumes: Mapping[str, Mapping[str, Any]]) -> None:
    """docker/cli's ``LoadVolumes``: an external volume makes nothing, so it takes
    no driver, driver options or labels."""
    for name, volume in sorted(volumes.items()):
        if not volume.get("external"):
            continue
        for field in ("driver", "driver_opts", "labels"):
            if volume.get(field):
                raise ComposeError(
                    f'conflicting parameters "external" and "{field}" specified for volume "{name}"'
                )
        external_name("volume", name, volume)


def _networks(
    namespace: str, declared: Mapping[str, dict[str, Any]], used: Iterable[str]
) -> tuple[tuple[NetworkSpec, ...], tuple[str, ...]]:
    created: dict[str, NetworkSpec] = {}
    externals: list[str] = []
    for key in used:
        network = declared.get(key, {})
        external = external_name("network", key, network)
        if external is not None:
            externals.append(external)
            continue
        name = str(network.get("name") or scope(namespace, key))
        body: dict[str, Any] = {
            "Name": name,
            "Driver": str(network.get("driver") or DEFAULT_DRIVER),
            "Options": _mapping(network.get("driver_opts")),
            "Internal": bool(network.get("internal")),
            "Attachable": bool(network.get("attachable")),
            "Labels": dict(_labelled(namespace, network.get("labels"))),
        }
        ipam = network.get("ipam") or {}
        if ipam.get("driver") or ipam.get("config"):
            body["IPAM"] = {
                "Driver": str(ipam.get("driver") or ""),
                "Config": [
                    {"Subnet": str(c.get("subnet") or "")} for c in ipam.get("config") or ()
                ],
            }
        try:
            created[name] = swarm_spec(body)
        except UsageError as error:
            raise ComposeError(f"network {key}: {error.message}") from None
    return tuple(created[n] for n in sorted(created)), tuple(sorted(set(externals)))


def _attachments(
    namespace: str, name: str, service: Mapping[str, Any], declared: Mapping[str, dict[str, Any]]
) -> tuple[NetworkAttachmentConfig, ...]:
    asked = service.get("networks") or {DEFAULT_NETWORK: None}
    entries = asked.items() if isinstance(asked, dict) else ((n, None) for n in asked)
    result = []
    for key, options in entries:
        if key not in declared and key != DEFAULT_NETWORK:
            raise ComposeError(f'undefined network "{key}"')
        network = declared.get(key, {})
        target = external_name("network", key, network) or str(
            network.get("name") or scope(namespace, key)
        )
        aliases = [str(a) for a in (options or {}).get("aliases") or ()]
        if target not in ("default", "bridge", "host", "none") and not target.startswith(
            "container:"
        ):
            aliases.append(name)
        result.append(
            NetworkAttachmentConfig(
                target=target,
                aliases=tuple(aliases),
                driver_opts=Labels(_mapping((options or {}).get("driver_opts"))),
            )
        )
    return tuple(sorted(result, key=lambda a: a.target))


# -- secrets and configs -------------------------------------------------------------------


def _objects(
    namespace: str, loaded: Loaded, kind: str, read_file: ReadFile
) -> list[dict[str, Any]]:
    """The fields of each secret or config the stack creates (not the external
    ones), by name."""
    made: dict[str, dict[str, Any]] = {}
    for key, obj in sorted(loaded.section(kind).items()):
        word = kind[:-1]
        if external_name(word, key, obj) is not None:
            continue
        name = str(obj.get("name") or scope(namespace, key))
        fields: dict[str, Any] = {"name": name, "labels": _labelled(namespace, obj.get("labels"))}
        if obj.get("driver"):
            if obj.get("file"):
                raise ComposeError(
                    f"{word} {key}: {word}.driver and {word}.file conflict; only use {word}.driver"
                )
            fields["driver"] = Driver(
                name=str(obj["driver"]), options=Labels(_mapping(obj.get("driver_opts")))
            )
        else:
            fields["data"] = _read_data(loaded.path(str(obj.get("file") or "")), read_file)
        if obj.get("template_driver"):
            fields["templating"] = Driver(name=str(obj["template_driver"]))
        made[name] = fields
    return [made[n] for n in sorted(made)]


def _read_data(path: str, read_file: ReadFile) -> str:
    return base64.b64encode(read_text(read_file, path).encode()).decode()


def _file_target(entry: Any, kind: str, namespace: str, loaded: Loaded) -> tuple[str, FileTarget]:
    """The object a service's ``secrets``/``configs`` entry names, and where."""
    fields = entry if isinstance(entry, dict) else {"source": entry}
    source = str(fields.get("source") or "")
    declared = loaded.section(kind)
    if source not in declared:
        raise ComposeError(f'undefined {kind[:-1]} "{source}"')
    obj = declared[source]
    name = external_name(kind[:-1], source, obj) or str(obj.get("name") or scope(namespace, source))
    mode = fields.get("mode")
    target = FileTarget(
        name=str(fields.get("target") or source),
        uid=str(fields.get("uid") or "0"),
        gid=str(fields.get("gid") or "0"),
        mode=0o444 if mode is None else int(mode),
    )
    return name, target


def _targets(
    kind: str, namespace: str, service: Mapping[str, Any], loaded: Loaded
) -> list[tuple[str, FileTarget]]:
    """A service's secrets or configs in the file's order, two of them at one
    target refused as docker/cli's ``ParseSecrets``/``ParseConfigs`` refuse them."""
    made: list[tuple[str, FileTarget]] = []
    seen: set[str] = set()
    for entry in service.get(kind) or ():
        name, target = _file_target(entry, kind, namespace, loaded)
        if target.name in seen:
            raise ComposeError(f"duplicate {kind[:-1]} target for {name} not allowed")
        seen.add(target.name)
        made.append((name, target))
    return made


def _references(
    namespace: str, service: Mapping[str, Any], loaded: Loaded
) -> tuple[tuple[SecretReference, ...], tuple[ConfigReference, ...]]:
    secrets = [
        SecretReference(file=t, secret_name=n)
        for n, t in _targets("secrets", namespace, service, loaded)
    ]
    configs = [
        ConfigReference(file=t, config_name=n)
        for n, t in _targets("configs", namespace, service, loaded)
    ]
    return (
        tuple(sorted(secrets, key=lambda r: r.secret_name)),
        tuple(sorted(configs, key=lambda r: r.config_name)),
    )


# -- services -------------------------------------------------------------------------------


def _words(value: Any) -> tuple[str, ...]:
    """``command``/``entrypoint``: a list as it is, a string split as a shell would."""
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(_text(v) for v in value)
    try:
        return tuple(split(str(value)))
    except ValueError as error:
        raise ComposeError(f"invalid command line {value!r}: {error}") from None


def _duration(value: Any) -> int | None:
    return None if value is None else parse_duration(str(value))


def _environment(
    service: Mapping[str, Any], loaded: Loaded, read_file: ReadFile
) -> tuple[str, ...]:
    """docker/cli's ``resolveEnvironment``: the env files' variables, then the
    ``environment`` key's, each through ``updateEnvironment`` (an empty or missing
    value takes the environment's, when it has one); a variable still without a
    value is sent bare."""
    values: dict[str, str | None] = {}
    files = service.get("env_file") or ()
    from_files: dict[str, str | None] = {}
    for name in [files] if isinstance(files, str) else files:
        shown = loaded.absolute(str(name))
        text = read_text(read_file, loaded.path(str(name)), shown)
        from_files.update(env_lines(text, shown, loaded.env))
    _update_environment(values, from_files, loaded.env)
    _update_environment(values, _variables(service.get("environment") or {}), loaded.env)
    return tuple(sorted(k if v is None else f"{k}={v}" for k, v in values.items()))


def _variables(environment: Any) -> dict[str, str | None]:
    """A list-or-dict ``environment``: ``KEY=value`` or ``KEY`` (no value: None)."""
    if isinstance(environment, dict):
        return {str(k): None if v is None else _text(v) for k, v in environment.items()}
    return {k: v if sep else None for k, sep, v in (str(e).partition("=") for e in environment)}


def _update_environment(
    values: dict[str, str | None], variables: Mapping[str, str | None], env: Mapping[str, str]
) -> None:
    for key, value in variables.items():
        values[key] = env[key] if not value and key in env else value


def _healthcheck(check: Mapping[str, Any] | None) -> HealthConfig | None:
    if check is None:
        return None
    test = check.get("test")
    if check.get("disable"):
        if test:
            raise ComposeError("test and disable can't be set at the same time")
        return HealthConfig(test=("NONE",))
    words = ("CMD-SHELL", str(test)) if isinstance(test, str) else tuple(str(t) for t in test or ())
    return HealthConfig(
        test=words,
        interval_ns=_duration(check.get("interval")) or 0,
        timeout_ns=_duration(check.get("timeout")) or 0,
        start_period_ns=_duration(check.get("start_period")) or 0,
        start_interval_ns=_duration(check.get("start_interval")) or 0,
        retries=int(check.get("retries") or 0),
    )


def _mode(deploy: Mapping[str, Any]) -> ServiceMode:
    mode = str(deploy.get("mode") or "replicated")
    replicas = deploy.get("replicas")
    if mode in ("global", "global-job"):
        if replicas is not None:
            raise ComposeError("replicas can only be used with replicated or replicated-job mode")
        return (
            ServiceMode(global_=GlobalService())
            if mode == "global"
            else ServiceMode(global_job=GlobalJob())
        )
    if mode == "replicated-job":
        return ServiceMode(
            replicated_job=ReplicatedJob(max_concurrent=replicas, total_completions=replicas)
        )
    if mode != "replicated":
        raise ComposeError(f"Unknown mode: {mode}")
    return ServiceMode(replicated=ReplicatedService(replicas=1 if replicas is None else replicas))


def _restart(service: Mapping[str, Any], deploy: Mapping[str, Any]) -> RestartPolicy | None:
    policy = deploy.get("restart_policy")
    if policy is not None:
        condition = policy.get("condition")
        if condition is not None and condition not in ("none", "on-failure", "any"):
            raise ComposeError(f"invalid restart policy condition: {condition}")
        return RestartPolicy(
            condition=RestartCondition(condition) if condition else None,
            delay_ns=_duration(policy.get("delay")),
            max_attempts=policy.get("max_attempts"),
            window_ns=_duration(policy.get("window")),
        )
    return _old_restart(str(service.get("restart") or ""))


def _old_restart(restart: str) -> RestartPolicy | None:
    """``restart:`` as docker/cli's ``ParseRestartPolicy`` and
    ``convertRestartPolicy`` read it (no ``deploy.restart_policy``)."""
    name, sep, count = restart.partition(":")
    if sep and not name:
        raise ComposeError("invalid restart policy format: no policy provided before colon")
    if count and not re.fullmatch(r"[-+]?[0-9]+", count):
        raise ComposeError("invalid restart policy format: maximum retry count must be an integer")
    if name in ("", "no"):
        return None
    if name in ("always", "unless-stopped"):
        return RestartPolicy(condition=RestartCondition.ANY, delay_ns=None)
    if name != "on-failure":
        raise ComposeError(f"unknown restart policy: {restart}")
    attempts = int(count or 0)
    if attempts < 0:  # Go wraps it into 2^64-1 attempts; the daemon's words for it
        raise ComposeError("invalid restart policy format: maximum retry count cannot be negative")
    return RestartPolicy(
        condition=RestartCondition.ON_FAILURE, delay_ns=None, max_attempts=attempts
    )


def _update(config: Mapping[str, Any] | None) -> UpdateConfig | None:
    if config is None:
        return None
    action, order = config.get("failure_action"), config.get("order")
    if action and action not in ("pause", "continue", "rollback"):
        raise ComposeError(f"invalid failure action: {action}")
    return UpdateConfig(
        parallelism=1 if config.get("parallelism") is None else int(config["parallelism"]),
        delay_ns=_duration(config.get("delay")) or 0,
        failure_action=FailureAction(action) if action else None,
        monitor_ns=_duration(config.get("monitor")) or 0,
        max_failure_ratio=float(config.get("max_failure_ratio") or 0.0),
        order=UpdateOrder(order) if order else None,
    )


def _parsed(parse: Callable[[str], Any], value: Any) -> int:
    """A CPU or memory amount as its flag reads it; one past Go's int64 (which Go
    wraps silently into a nonsense amount) is refused."""
    try:
        number = int(parse(_text(value)))
    except Exception as error:  # the flag type's argparse error
        reason = str(error).split("\x00")[-1]
        raise ComposeError(reason) from None
    if not -(2**63) <= number < 2**63:
        raise ComposeError(f"invalid amount {_text(value)}: value out of range")
    return number


def _resources(deploy: Mapping[str, Any]) -> ResourceRequirements:
    source = deploy.get("resources") or {}
    limits = source.get("limits")
    reservations = source.get("reservations")
    return ResourceRequirements(
        limits=None
        if limits is None
        else Limit(
            nano_cpus=_parsed(CPUS, limits["cpus"]) if limits.get("cpus") is not None else 0,
            memory_bytes=_parsed(MEMORY, limits["memory"])
            if limits.get("memory") is not None
            else 0,
            pids=int(limits.get("pids") or 0),
        ),
        reservations=None
        if reservations is None
        else Resources(
            nano_cpus=_parsed(CPUS, reservations["cpus"])
            if reservations.get("cpus") is not None
            else 0,
            memory_bytes=_parsed(MEMORY, reservations["memory"])
            if reservations.get("memory") is not None
            else 0,
        ),
    )


def _mounts(namespace: str, service: Mapping[str, Any], loaded: Loaded) -> tuple[Mount, ...]:
    return tuple(_mount(namespace, v, loaded) for v in service.get("volumes") or ())


def _short_volume(text: str) -> dict[str, Any]:
    """``name:/path[:ro]``, ``./dir:/path``, ``/path``: the long form."""
    parts = text.split(":")
    read_only = nocopy = False
    if len(parts) >= 2 and set(parts[-1].split(",")) <= {
        "ro",
        "rw",
        "z",
        "Z",
        "nocopy",
        "cached",
        "delegated",
        "consistent",
    }:
        options = parts[-1].split(",")
        read_only = "ro" in options
        nocopy = "nocopy" in options
        parts = parts[:-1]
    if len(parts) == 1:
        return {"type": "volume", "target": parts[0], "read_only": read_only}
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise ComposeError(
            f"invalid spec: {text}: too many colons" if len(parts) > 2 else f"invalid spec: {text}"
        )
    source = parts[0]
    bind = source.startswith(("/", ".", "~"))
    return {
        "type": "bind" if bind else "volume",
        "source": source,
        "target": parts[1],
        "read_only": read_only,
        **({"volume": {"nocopy": True}} if nocopy and not bind else {}),
    }


def _mount(namespace: str, entry: Any, loaded: Loaded) -> Mount:
    volume = _short_volume(entry) if isinstance(entry, str) else dict(entry)
    kind = str(volume.get("type") or "volume")
    if kind not in ("volume", "bind", "tmpfs", "npipe"):
        raise ComposeError(f"volume type must be volume, bind, tmpfs or npipe, not {kind}")
    source = str(volume.get("source") or "")
    mount = Mount(
        type=MountType(kind),
        source=source,
        target=str(volume.get("target") or ""),
        read_only=bool(volume.get("read_only")),
        consistency=str(volume.get("consistency") or ""),
    )
    if kind == "bind":
        if not source:
            raise ComposeError("invalid bind source, source cannot be empty")
        propagation = (volume.get("bind") or {}).get("propagation")
        options = BindOptions(propagation=str(propagation)) if propagation else None
        return Mount(
            **{**_fields(mount), "source": loaded.bind_source(source), "bind_options": options}
        )
    if kind == "tmpfs":
        size = (volume.get("tmpfs") or {}).get("size")
        return Mount(
            **{
                **_fields(mount),
                "tmpfs_options": TmpfsOptions(size_bytes=int(size)) if size else None,
            }
        )
    if not source:
        return mount
    declared = loaded.section("volumes")
    if source not in declared:
        raise ComposeError(f'undefined volume "{source}"')
    stack_volume = declared[source]
    external = external_name("volume", source, stack_volume)
    nocopy = bool((volume.get("volume") or {}).get("nocopy"))
    if external is not None:
        return Mount(
            **{
                **_fields(mount),
                "source": external,
                "volume_options": VolumeOptions(no_copy=nocopy),
            }
        )
    driver = stack_volume.get("driver")
    options = stack_volume.get("driver_opts")
    return Mount(
        **{
            **_fields(mount),
            "source": str(stack_volume.get("name") or scope(namespace, source)),
            "volume_options": VolumeOptions(
                no_copy=nocopy,
                labels=_labelled(namespace, stack_volume.get("labels")),
                driver_config=Driver(name=str(driver or ""), options=Labels(_mapping(options)))
                if driver or options is not None
                else None,
            ),
        }
    )


def _fields(mount: Mount) -> dict[str, Any]:
    return {name: getattr(mount, name) for name in mount.__dataclass_fields__}


def _hosts(value: Any) -> tuple[str, ...]:
    """``extra_hosts`` as docker/cli's ``transformHostsList`` and
    ``convertExtraHosts`` make them: ``host=ip`` or ``host:ip`` (a mapping's
    entries sorted, those without a value dropped), an IPv6 address's brackets
    removed, sent as ``ip host``."""
    entries: Sequence[str | None]
    if isinstance(value, dict):
        entries = sorted(f"{k}:{_text(v)}" for k, v in value.items() if v is not None)
    else:
        entries = [_host_entry(_text(e)) for e in value or ()]
    result = []
    for entry in entries:
        if entry is None:
            continue
        host, _, address = entry.partition(":")
        if len(address) > 2 and address.startswith("[") and address.endswith("]"):
            address = address[1:-1]
        result.append(f"{address} {host}")
    return tuple(result)


def _host_entry(entry: str) -> str | None:
    """``host=ip`` or ``host:ip`` as ``host:ip``; None: neither."""
    for separator in ("=", ":"):
        host, sep, address = entry.partition(separator)
        if sep:
            return f"{host}:{address}"
    return None


def _capability(name: str) -> str:
    """docker/cli's ``NormalizeCapability``: upper case, ``CAP_`` prefixed (not
    ``ALL`` or ``RESET``)."""
    name = name.strip().upper()
    return name if name in ("ALL", "RESET") or name.startswith("CAP_") else f"CAP_{name}"


def effective_capabilities(
    add: Iterable[str], drop: Iterable[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """docker/cli's ``EffectiveCapAddCapDrop``: each list normalized and
    deduplicated, ``ALL`` standing alone, a capability both added and dropped
    only added, ``RESET`` dropped from both, each sorted."""
    adds = {_capability(c) for c in add}
    drops = {_capability(c) for c in drop}
    adds = {"ALL"} if "ALL" in adds else adds
    drops = {"ALL"} if "ALL" in drops else drops
    return (
        tuple(sorted(adds - {"RESET"})),
        tuple(sorted(drops - adds - {"RESET"})),
    )


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (str(value),) if isinstance(value, str) else tuple(str(v) for v in value)


def _service(
    namespace: str, name: str, service: Mapping[str, Any], loaded: Loaded, read_file: ReadFile
) -> ServiceSpec:
    deploy = service.get("deploy") or {}
    image = str(service["image"])
    secrets, configs = _references(namespace, service, loaded)
    dns, search = _strings(service.get("dns")), _strings(service.get("dns_search"))
    logging = service.get("logging")
    ulimits = service.get("ulimits") or {}
    capabilities = effective_capabilities(
        _strings(service.get("cap_add")), _strings(service.get("cap_drop"))
    )
    container = ContainerSpec(
        image=image,
        labels=_labelled(namespace, service.get("labels")),
        command=_words(service.get("entrypoint")),
        args=_words(service.get("command")),
        hostname=str(service.get("hostname") or ""),
        env=_environment(service, loaded, read_file),
        dir=str(service.get("working_dir") or ""),
        user=_text(service.get("user") or ""),
        init=service.get("init"),
        stop_signal=str(service.get("stop_signal") or ""),
        tty=bool(service.get("tty")),
        open_stdin=bool(service.get("stdin_open")),
        read_only=bool(service.get("read_only")),
        mounts=_mounts(namespace, service, loaded),
        stop_grace_period_ns=_duration(service.get("stop_grace_period")),
        healthcheck=_healthcheck(service.get("healthcheck")),
        hosts=_hosts(service.get("extra_hosts")),
        dns_config=DNSConfig(nameservers=dns, search=search) if dns or search else None,
        secrets=secrets,
        configs=configs,
        isolation=str(service.get("isolation") or ""),
        sysctls=Labels(_mapping(service.get("sysctls"))),
        capability_add=capabilities[0],
        capability_drop=capabilities[1],
        ulimits=tuple(
            Ulimit(name=k, soft=v, hard=v)
            if isinstance(v, int)
            else Ulimit(name=k, soft=v["soft"], hard=v["hard"])
            for k, v in sorted(ulimits.items())
        ),
        oom_score_adj=int(service.get("oom_score_adj") or 0),
        privileges=Privileges(),  # as docker/cli sends it: empty, never absent
    )
    placement = deploy.get("placement") or {}
    endpoint_mode = str(deploy.get("endpoint_mode") or "").lower()
    if endpoint_mode not in ("", "vip", "dnsrr"):
        raise ComposeError(f"invalid endpoint mode: {endpoint_mode}")
    labels = _labelled(namespace, deploy.get("labels"))
    return ServiceSpec(
        name=scope(namespace, name),
        labels=Labels({**labels, LABEL_IMAGE: image}),
        task_template=TaskSpec(
            container_spec=container,
            resources=_resources(deploy),
            restart_policy=_restart(service, deploy),
            placement=Placement(
                constraints=tuple(str(c) for c in placement.get("constraints") or ()),
                preferences=tuple(
                    PlacementPreference(
                        spread=SpreadOver(spread_descriptor=str(p.get("spread") or ""))
                    )
                    for p in placement.get("preferences") or ()
                ),
                max_replicas=int(placement.get("max_replicas_per_node") or 0),
            ),
            networks=_attachments(namespace, name, service, loaded.section("networks")),
            log_driver=Driver(
                name=str(logging.get("driver") or ""),
                options=Labels(_mapping(logging.get("options"))),
            )
            if logging
            else None,
        ),
        mode=_mode(deploy),
        update_config=_update(deploy.get("update_config")),
        rollback_config=_update(deploy.get("rollback_config")),
        endpoint_spec=EndpointSpec(
            mode=ResolutionMode(endpoint_mode) if endpoint_mode else None,
            ports=ports.of(service.get("ports") or []),
        ),
    )
