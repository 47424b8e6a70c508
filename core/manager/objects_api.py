"""The control API for secrets, configs and swarm networks (SwarmKit's
``manager/controlapi`` secret.go, config.go and network.go, as Docker 20.10.24
vendors it), with the lookups dockerd's ``daemon/cluster`` makes before them.

Errors a lookup raises are dockerd's own (``secret x not found``, no gRPC prefix:
:class:`DaemonError`); the rest are SwarmKit's, so they reach the user as
``rpc error: code = ... desc = ...``. A secret's data never leaves the store.
Networks are store objects here: the allocator gives them a subnet; the data plane
is not wired yet.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.manager.requests import ApiError, DaemonError
from core.model import replace
from core.model.common import Annotated, Driver, StoredObject
from core.model.enums import PublishMode
from core.model.ids import new_id
from core.model.network import IPAMConfig, IPAMOptions, Network, NetworkSpec
from core.model.secret import Config, ConfigSpec, Secret, SecretSpec
from core.model.service import Service
from core.model.task import Task
from core.model.validate import _DNS_NAME, NAME_LENGTH_MAX
from core.store import NameConflict, WriteTx
from core.store.store import SequenceConflict
from core.tasks.states import TaskState

#: SwarmKit's limits on the decoded data (validation.MaxSecretSize; controlapi's
#: MaxConfigSize, raised from 500 KiB in Docker 20.10.17).
SECRET_SIZE_MAX = 500 * 1024
CONFIG_SIZE_MAX = 1000 * 1024
#: Secret and config names: SwarmKit's isValidConfigOrSecretName, at most 64.
_OBJECT_NAME = re.compile(r"[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?")
OBJECT_NAME_MAX = 64
#: The label of the networks SwarmKit makes itself; users may not set it.
PREDEFINED_LABEL = "com.docker.swarm.predefined"
#: Network drivers SwarmKit's allocator has built in (cnmallocator, Linux).
BUILTIN_NETWORK_DRIVERS = ("bridge", "host", "ipvlan", "macvlan", "overlay", "remote")
DEFAULT_IPAM = "default"


def decode_data(text: str) -> bytes:
    """``Data`` as Go's encoding/json reads a ``[]byte``: standard base64 with
    padding (line breaks skipped); Go's words for the first bad byte."""
    cleaned = text.replace("\r", "").replace("\n", "")
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        alphabet = re.compile(r"[A-Za-z0-9+/=]")
        bad = next((i for i, c in enumerate(cleaned) if not alphabet.fullmatch(c)), None)
        at = bad if bad is not None else len(cleaned) - len(cleaned) % 4
        raise ApiError("InvalidArgument", f"illegal base64 data at input byte {at}") from None


# -- secrets and configs -------------------------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    """What differs between secrets and configs."""

    word: str  # "secret": the parameter naming one, and the word in messages
    table: str
    model: type[Secret] | type[Config]
    spec: type[SecretSpec] | type[ConfigSpec]
    size_max: int
    shows_data: bool


SECRETS = _Kind("secret", "secrets", Secret, SecretSpec, SECRET_SIZE_MAX, shows_data=False)
CONFIGS = _Kind("config", "configs", Config, ConfigSpec, CONFIG_SIZE_MAX, shows_data=True)


def _lookup(ctx: api.ApiContext, table: str, ref: str, word: str) -> Any:
    """dockerd's getSecret/getConfig/getNetwork: full ID, full name, ID prefix;
    its errors are dockerd's own."""
    try:
        return api._find(ctx.store, table, ref, word)
    except ApiError as error:
        raise DaemonError(error.code, error.message) from None


def _shown(kind: _Kind, obj: Any) -> Any:
    return obj if kind.shows_data else replace(obj, spec=replace(obj.spec, data=""))


def _validate_object_spec(kind: _Kind, spec: SecretSpec | ConfigSpec) -> None:
    """SwarmKit's validateSecretSpec / validateConfigSpec."""
    name = spec.name
    if not name:
        raise ApiError("InvalidArgument", "name must be provided")
    if len(name) > OBJECT_NAME_MAX or not _OBJECT_NAME.fullmatch(name):
        raise ApiError(
            "InvalidArgument",
            "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, "
            "and the start and end character must be [a-zA-Z0-9]",
        )
    driver = getattr(spec, "driver", None)
    if driver is not None:  # an external secret: its data comes from the driver
        if not driver.name:
            raise ApiError("InvalidArgument", "secret driver must have a name")
        raise ApiError("NotFound", f'plugin "{driver.name}" not found')  # shoal has none
    size = len(decode_data(spec.data))
    if size < 1 or size >= kind.size_max:
        raise ApiError(
            "InvalidArgument",
            f"{kind.word} data must be larger than 0 and less than {kind.size_max} bytes",
        )


def _users(kind: _Kind, object_id: str, services: Iterable[StoredObject]) -> list[str]:
    """Names of the services whose container spec references the object by ID."""
    names = []
    for service in services:
        if not isinstance(service, Service):
            continue
        container = service.spec.task_template.container_spec
        if container is None:
            continue
        refs = (
            [s.secret_id for s in container.secrets]
            if kind is SECRETS
            else [c.config_id for c in container.configs]
        )
        if object_id in refs:
            names.append(service.spec.name)
    return names


def _create(kind: _Kind) -> api.Handler:
    def create(ctx: api.ApiContext, params: Mapping[str, Any]) -> api.Write:
        spec = params["spec"]
        if not isinstance(spec, kind.spec):
            raise ApiError("InvalidArgument", "invalid argument")
        _validate_object_spec(kind, spec)
        obj = kind.model(id=new_id(ctx.rng), spec=spec)  # type: ignore[arg-type]

        def build(tx: WriteTx) -> None:
            try:
                tx.create(obj)
            except NameConflict:
                raise ApiError("AlreadyExists", f"{kind.word} {spec.name} already exists") from None

        return api.Write(build, lambda: obj.id)

    return create


def _list(kind: _Kind) -> api.Handler:
    def list_(ctx: api.ApiContext, params: Mapping[str, Any]) -> api.Answer:
        found = _filtered(ctx.store.tables[kind.table], params, lambda o: o.spec)
        return api.Answer(tuple(_shown(kind, o) for o in found))

    return list_


def _inspect(kind: _Kind) -> api.Handler:
    def inspect(ctx: api.ApiContext, params: Mapping[str, Any]) -> api.Answer:
        return api.Answer(_shown(kind, _lookup(ctx, kind.table, params[kind.word], kind.word)))

    return inspect


def _update(kind: _Kind) -> api.Handler:
    """Only the labels may change (SwarmKit's UpdateSecret / UpdateConfig), at the
    version the caller read."""

    def update(ctx: api.ApiContext, params: Mapping[str, Any]) -> api.Write:
        current = _lookup(ctx, kind.table, params[kind.word], kind.word)
        spec = params["spec"]
        version = params["version"]
        if not isinstance(spec, kind.spec) or not isinstance(version, int):
            raise ApiError("InvalidArgument", "invalid argument")
        same_data = not spec.data or decode_data(spec.data) == decode_data(current.spec.data)
        if spec.name != current.spec.name or not same_data:
            raise ApiError("InvalidArgument", "only updates to Labels are allowed")
        api._check_version(current, params)

        def build(tx: WriteTx) -> None:
            now = tx.get(kind.table, current.id)
            if now is None:
                raise ApiError("NotFound", f"{kind.word} {current.id} not found")
            if now.version != current.version:
                raise SequenceConflict(kind.table, current.id)
            labels = replace(now.spec, labels=spec.labels)  # type: ignore[attr-defined]
            tx.update(replace(now, spec=labels))

        return api.Write(build)

    return update


def _remove(kind: _Kind) -> api.Handler:
    def remove(ctx: api.ApiContext, params: Mapping[str, Any]) -> api.Write:
        current = _lookup(ctx, kind.table, params[kind.word], kind.word)

        def build(tx: WriteTx) -> None:
            now = tx.get(kind.table, current.id)
            if now is None:
                raise ApiError("NotFound", f"could not find {kind.word} {current.id}")
            users = _users(kind, current.id, tx.find("services"))
            if users:
                services = "service" if len(users) == 1 else "services"
                raise ApiError(
                    "InvalidArgument",
                    f"{kind.word} '{current.spec.name}' is in use by the following "
                    f"{services}: {', '.join(users)}",
                )
            tx.delete(now)

        return api.Write(build)

    return remove


# -- list filters --------------------------------------------------------------------------


def _filtered(
    objects: Mapping[str, StoredObject],
    params: Mapping[str, Any],
    spec_of: Callable[[Any], Annotated],
) -> list[Any]:
    """SwarmKit's List* filters: any of ``names`` (exact), ``name_prefixes`` or
    ``id_prefixes`` (names compared as the store's index does, in lower case), and
    every one of ``labels`` (an empty value: the key with any value)."""
    names = [n.lower() for n in params.get("names") or ()]
    name_prefixes = [p.lower() for p in params.get("name_prefixes") or ()]
    id_prefixes = [p.lower() for p in params.get("id_prefixes") or ()]
    labels = dict(params.get("labels") or {})
    found = []
    for object_id in sorted(objects):
        obj = objects[object_id]
        spec = spec_of(obj)
        name = spec.name.lower()
        wanted = (
            not (names or name_prefixes or id_prefixes)
            or name in names
            or any(name.startswith(p) for p in name_prefixes)
            or any(object_id.startswith(p) for p in id_prefixes)
        )
        if wanted and match_labels(spec.labels, labels):
            found.append(obj)
    return found


def match_labels(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    """SwarmKit's filterMatchLabels: every wanted key set, to the wanted value if
    one is given."""
    return all(k in labels and (not v or labels[k] == v) for k, v in sorted(wanted.items()))


# -- networks ------------------------------------------------------------------------------


def validate_network_spec(spec: NetworkSpec) -> None:
    """SwarmKit's validateNetworkSpec, in its order."""
    driver = spec.driver_configuration
    if spec.ingress and driver is not None and driver.name != "overlay":
        raise ApiError(
            "Unimplemented", "only overlay driver is currently supported for ingress network"
        )
    if spec.attachable and spec.ingress:
        raise ApiError("InvalidArgument", "ingress network cannot be attachable")
    _validate_annotations(spec)
    if PREDEFINED_LABEL in spec.labels:
        raise ApiError(
            "PermissionDenied",
            f"label {PREDEFINED_LABEL} is for internally created predefined networks "
            "and cannot be applied by users",
        )
    _validate_driver(driver, BUILTIN_NETWORK_DRIVERS)
    if spec.ipam_options is not None:
        ipam_driver = spec.ipam_options.driver  # the model's "none" is a nameless one
        _validate_driver(ipam_driver if ipam_driver != Driver() else None, (DEFAULT_IPAM,))
        for config in spec.ipam_options.configs:
            _validate_ipam_config(config)


def _validate_annotations(spec: Annotated) -> None:
    """SwarmKit's validateAnnotations (services and networks)."""
    if not spec.name:
        raise ApiError("InvalidArgument", "meta: name must be provided")
    if not _DNS_NAME.fullmatch(spec.name):
        raise ApiError("InvalidArgument", "name must be valid as a DNS name component")
    if len(spec.name) > NAME_LENGTH_MAX:
        raise ApiError("InvalidArgument", "name must be 63 characters or fewer")


def _validate_driver(driver: Driver | None, builtin: tuple[str, ...]) -> None:
    """SwarmKit's validateDriver: a built-in driver, or a plugin (shoal has none)."""
    if driver is None:
        return
    if not driver.name:
        raise ApiError("InvalidArgument", "driver name: if driver is specified name is required")
    if driver.name.lower() not in builtin:
        raise ApiError("InvalidArgument", f"error during lookup of plugin {driver.name}")


def _cidr(text: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface | None:
    """Go's net.ParseCIDR: an address and a prefix length, both required."""
    if "/" not in text:
        return None
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        return None


def _validate_ipam_config(config: IPAMConfig) -> None:
    subnet = _cidr(config.subnet)
    if subnet is None:
        raise ApiError("InvalidArgument", f"ipam configuration: invalid subnet {config.subnet}")
    if config.range:
        ip_range = _cidr(config.range)
        if ip_range is None:
            raise ApiError("InvalidArgument", f"ipam configuration: invalid range {config.range}")
        if ip_range.ip not in subnet.network:
            raise ApiError(
                "InvalidArgument",
                f"ipam configuration: subnet {config.subnet} does not contain range {config.range}",
            )
    if config.gateway:
        try:
            gateway = ipaddress.ip_address(config.gateway)
        except ValueError:
            raise ApiError(
                "InvalidArgument", f"ipam configuration: invalid gateway {config.gateway}"
            ) from None
        if gateway not in subnet.network:
            raise ApiError(
                "InvalidArgument",
                f"ipam configuration: subnet {config.subnet} does not contain gateway "
                f"{config.gateway}",
            )


def default_ingress(network_id: str) -> Network:
    """The ``ingress`` network ``swarm init`` makes (SwarmKit's leader makes it when
    the cluster has none): the routing mesh's overlay, subnet from the default
    address pool (10.0.0.0/24 on a new swarm) and the first VNI (4096)."""
    spec = NetworkSpec(
        name="ingress",
        driver_configuration=Driver(name="overlay"),
        ingress=True,
        ipam_options=IPAMOptions(driver=Driver(name=DEFAULT_IPAM)),
    )
    return Network(id=network_id, spec=spec)


def network_create(ctx: api.ApiContext, params: Mapping[str, Any]) -> api.Write:
    """A network with the swarm's spec; a name in use is refused in dockerd's
    words (dockerd looks for the name first, as SwarmKit would not)."""
    spec = params["spec"]
    if not isinstance(spec, NetworkSpec):
        raise ApiError("InvalidArgument", "invalid argument")
    validate_network_spec(spec)
    network = Network(id=new_id(ctx.rng), spec=spec)

    def build(tx: WriteTx) -> None:
        if spec.ingress:
            present = tx.find("networks", lambda n: isinstance(n, Network) and n.spec.ingress)
            if present:
                raise ApiError(
                    "AlreadyExists", f"ingress network ({present[0].id}) is already present"
                )
        try:
            tx.create(network)
        except NameConflict:
            raise DaemonError(
                "AlreadyExists", f"network with name {spec.name} already exists"
            ) from None

    return api.Write(build, lambda: network.id)


def network_list(ctx: api.ApiContext, params: Mapping[str, Any]) -> api.Answer:
    """SwarmKit's ListNetworks: ``names`` are exact (as dockerd asks for them)."""
    found = _filtered(ctx.store.tables["networks"], params, lambda n: n.spec)
    names = params.get("names") or ()
    return api.Answer(tuple(n for n in found if not names or n.spec.name in names))


def network_inspect(ctx: api.ApiContext, params: Mapping[str, Any]) -> api.Answer:
    return api.Answer(find_network(ctx, params["network"]))


def find_network(ctx: api.ApiContext, ref: str) -> Network:
    found = _lookup(ctx, "networks", ref, "network")
    assert isinstance(found, Network)
    return found


def network_remove(ctx: api.ApiContext, params: Mapping[str, Any]) -> api.Write:
    """SwarmKit's RemoveNetwork: not a predefined network, and not while a
    service's spec or a live task uses it (the ingress network: while a service
    publishes a port through it)."""
    network = find_network(ctx, params["network"])
    if network.spec.labels.get(PREDEFINED_LABEL) == "true":
        raise ApiError(
            "FailedPrecondition",
            f"network {network.id} ({network.spec.name}) is a swarm predefined network "
            "and cannot be removed",
        )

    def build(tx: WriteTx) -> None:
        now = tx.get("networks", network.id)
        if now is None:
            raise ApiError("NotFound", f"network {network.id} not found")
        services = [s for s in tx.find("services") if isinstance(s, Service)]
        if network.spec.ingress:
            _check_ingress_unused(network, services)
        else:
            _check_network_unused(network, services, tx.find("tasks"))
        tx.delete(now)

    return api.Write(build)


def _check_network_unused(
    network: Network, services: list[Service], tasks: Iterable[StoredObject]
) -> None:
    for service in services:
        attached = service.spec.task_template.networks or service.spec.networks
        # shoal's services may name a network (the allocator takes either)
        if any(a.target in (network.id, network.spec.name) for a in attached):
            raise ApiError(
                "FailedPrecondition", f"network {network.id} is in use by service {service.id}"
            )
    for task in tasks:
        if not isinstance(task, Task) or task.desired_state > TaskState.RUNNING:
            continue
        if task.status.state > TaskState.RUNNING:
            continue
        if any(a.network.id == network.id for a in task.networks_attachments):
            raise ApiError(
                "FailedPrecondition", f"network {network.id} is in use by task {task.id}"
            )


def _check_ingress_unused(network: Network, services: list[Service]) -> None:
    for service in services:
        endpoint = service.spec.endpoint_spec
        ports = endpoint.ports if endpoint is not None else ()
        if any((p.publish_mode or PublishMode.INGRESS) is PublishMode.INGRESS for p in ports):
            raise ApiError(
                "FailedPrecondition",
                f"ingress network cannot be removed because service {service.id} depends on it",
            )


def _handlers(kind: _Kind, name: str) -> dict[str, api.Handler]:
    return {
        f"{name}Create": _create(kind),
        f"{name}List": _list(kind),
        f"{name}Inspect": _inspect(kind),
        f"{name}Update": _update(kind),
        f"{name}Remove": _remove(kind),
    }


OBJECT_HANDLERS: dict[str, api.Handler] = {
    **_handlers(SECRETS, "Secret"),
    **_handlers(CONFIGS, "Config"),
    "NetworkCreate": network_create,
    "NetworkList": network_list,
    "NetworkInspect": network_inspect,
    "NetworkRemove": network_remove,
}

# Last: core.manager.api takes OBJECT_HANDLERS into its HANDLERS when it loads, so
# this module may load first or second and neither finds the other half-built.
from core.manager import api  # noqa: E402
