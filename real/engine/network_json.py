"""A swarm network as dockerd 20.10's JSON, and dockerd's own part of the
``/networks`` requests: the ``NetworkResource`` it shows, a
``NetworkCreateRequest`` made into a swarm network's spec, and the list's filters
it applies to what the swarm answers.

Pure (no HTTP, no aiohttp): the Engine API routes (real/engine/objects.py) and
shoal's CLI (cli/output/networks.py, cli/commands/network.py) share it, so that
``shoal`` and a Docker client talking to ``shoal sim serve`` see the same JSON and
the same refusals. A refusal is an :class:`EngineError` with dockerd's status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.model.common import Driver
from core.model.network import ConfigFrom, IPAMConfig, IPAMOptions, Network, NetworkSpec
from core.model.wire import Labels
from real.engine.errors import EngineError, bad_request
from real.engine.filters import Filters
from real.engine.json_text import go_type

#: dockerd's network list filters (api/types/network: ValidateFilters).
NETWORK_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")
#: Names dockerd keeps for its own networks (runconfig.IsPreDefinedNetwork).
PREDEFINED_NAMES = ("bridge", "default", "host", "none")
#: Drivers whose networks span the swarm whatever the scope asked (libnetwork's
#: global data scope).
GLOBAL_DRIVERS = ("overlay",)
DEFAULT_LOCAL_DRIVER = "bridge"  # dockerd's default: a host's own bridge network
SWARM_DEFAULT_DRIVER = "overlay"  # SwarmKit's allocator's, for a spec without one


def is_predefined(name: str) -> bool:
    return name in PREDEFINED_NAMES or name.startswith("container:")


def is_ingress(network: Network) -> bool:
    """dockerd's IsIngressNetwork: flagged so, or SwarmKit's older internal one."""
    labels = network.spec.labels
    return network.spec.ingress or (
        "com.docker.swarm.internal" in labels and network.spec.name == "ingress"
    )


# -- what dockerd shows ----------------------------------------------------------------------


def network_resource(network: Network, *, local: bool = False) -> dict[str, Any]:
    """dockerd's ``NetworkResource`` for a swarm network.

    The swarm's view (``local`` false) is BasicNetworkFromGRPC's: no containers
    (``null``), and the spec's labels as gRPC carries them, an empty map arriving
    as none (``null``). A node that holds the network itself answers an inspect
    with libnetwork's view instead (buildNetworkResource), which always has a
    ``Containers`` map and a ``Labels`` map (``{}``); shoal lists no endpoints in
    it."""
    spec = network.spec
    asked = spec.driver_configuration or Driver(name=SWARM_DEFAULT_DRIVER)
    # the allocator does not record the driver's state yet: what was asked for
    state = network.driver_state if network.driver_state.name else asked
    ipam: dict[str, Any] = {"Driver": "", "Options": None, "Config": None}
    if network.ipam_options is not None:
        driver = network.ipam_options.driver
        ipam = {
            "Driver": driver.name or "default",
            "Options": dict(driver.options) or None,
            "Config": [_ipam_config(c) for c in network.ipam_options.configs],
        }
    labels = dict(spec.labels)
    return {
        "Name": spec.name,
        "Id": network.id,
        "Created": network.created_at.format(),
        "Scope": "swarm",
        "Driver": state.name,
        "EnableIPv6": spec.ipv6_enabled,
        "IPAM": ipam,
        "Internal": spec.internal,
        "Attachable": spec.attachable,
        "Ingress": is_ingress(network),
        "ConfigFrom": {"Network": spec.config_from.network if spec.config_from else ""},
        "ConfigOnly": False,
        "Containers": {} if local else None,
        "Options": dict(state.options) or None,
        "Labels": labels if local else labels or None,
    }


def inspected(network: Network) -> dict[str, Any]:
    """What ``GET /networks/{id}`` answers on a swarm node: dockerd prefers the
    node's own copy of a network to the swarm's. Every node of a swarm holds the
    ingress network (its routing-mesh sandbox), so it is shown as libnetwork shows
    it; any other network as the swarm does (shoal does not track which networks
    a node's tasks have brought to it)."""
    return network_resource(network, local=is_ingress(network))


def _ipam_config(config: IPAMConfig) -> dict[str, str]:
    shown = {"Subnet": config.subnet, "IPRange": config.range, "Gateway": config.gateway}
    return {k: v for k, v in shown.items() if v}


# -- the list's filters ----------------------------------------------------------------------


def dangling_of(wanted: Filters) -> bool | None:
    """The ``dangling`` filter's value (None: not asked), refused in dockerd's words."""
    values = wanted.get("dangling")
    if not values:
        return None
    if len(values) > 1:
        raise bad_request('got more than one value for filter key "dangling"')
    if values[0] in ("1", "true"):
        return True
    if values[0] in ("0", "false"):
        return False
    raise bad_request(
        'invalid value for filter \'dangling\', must be "true" (or "1"), or "false" (or "0")'
    )


def types_of(wanted: Filters) -> tuple[str, ...]:
    """The ``type`` filter's values; dockerd answers another with a 500."""
    for value in wanted.get("type"):
        if value not in ("builtin", "custom"):
            raise EngineError(500, f"invalid filter: 'type'='{value}'")
    return wanted.get("type")


def network_matches(shown: Mapping[str, Any], wanted: Filters, dangling: bool | None) -> bool:
    """dockerd's FilterNetworks over what the swarm answered (names and ID
    prefixes it matched already). A swarm network has no containers here, so
    every one not predefined counts as dangling, as dockerd has it."""
    predefined = is_predefined(shown["Name"])
    return (
        wanted.exact("driver", shown["Driver"])
        and wanted.labels("label", shown["Labels"] or {})
        and wanted.exact("scope", shown["Scope"])
        and (dangling is None or dangling != predefined)
    )


def of_types(shown: Sequence[Mapping[str, Any]], types: tuple[str, ...]) -> list[Mapping[str, Any]]:
    """The ``type`` filter: each value adds its networks, in the order asked."""
    if not types:
        return list(shown)
    kept: list[Mapping[str, Any]] = []
    for value in types:
        builtin = value == "builtin"
        kept.extend(n for n in shown if is_predefined(n["Name"]) == builtin)
    return kept


# -- create ----------------------------------------------------------------------------------


class _Request:
    """A JSON object read as Go's decoder fills a struct: keys without regard to
    case, null as the zero value, a wrong type refused with Go's words."""

    def __init__(self, data: Any, struct: str) -> None:
        if not isinstance(data, dict):
            raise bad_request(
                f"json: cannot unmarshal {go_type(data)} into Go value of type {struct}"
            )
        self.values = {k.lower(): v for k, v in data.items()}
        self.struct = struct

    def _get(self, key: str, kind: type, go: str) -> Any:
        value = self.values.get(key.lower())
        if value is None:
            return None
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise bad_request(
                f"json: cannot unmarshal {go_type(value)} into Go struct field "
                f"{self.struct}.{key} of type {go}"
            )
        return value

    def text(self, key: str) -> str:
        return self._get(key, str, "string") or ""

    def flag(self, key: str) -> bool:
        return bool(self._get(key, bool, "bool"))

    def labels(self, key: str) -> Labels:
        found = self._get(key, dict, "map[string]string") or {}
        for value in found.values():
            if not isinstance(value, str):
                raise bad_request(
                    f"json: cannot unmarshal {go_type(value)} into Go struct field "
                    f"{self.struct}.{key} of type string"
                )
        return Labels(found)

    def struct_of(self, key: str, go: str) -> _Request | None:
        found = self._get(key, dict, go)
        return None if found is None else _Request(found, go)

    def structs(self, key: str, go: str) -> list[_Request]:
        found = self._get(key, list, f"[]{go}") or []
        return [_Request(item or {}, go) for item in found]


def network_spec(body: Any) -> NetworkSpec:
    """dockerd's route and BasicNetworkCreateToGRPC: a NetworkCreateRequest that is
    a swarm network's (overlay, or any driver with scope swarm) as its spec.

    shoal serves no network local to one host, so any other is refused."""
    request = _Request(body, "types.NetworkCreateRequest")
    name = request.text("Name")
    if is_predefined(name):
        raise EngineError(403, f"operation is not permitted on predefined {name} network ")
    driver, scope = request.text("Driver"), request.text("Scope")
    kind = driver or DEFAULT_LOCAL_DRIVER
    if kind in GLOBAL_DRIVERS and scope == "local":
        raise EngineError(403, f"cannot downgrade network scope for {kind} networks")
    if request.flag("ConfigOnly") or (kind not in GLOBAL_DRIVERS and scope != "swarm"):
        raise bad_request(
            f"shoal serves swarm networks only: a {kind} network would be local to one "
            "host (use the overlay driver, or the swarm scope)"
        )
    if request.flag("Ingress") and kind not in GLOBAL_DRIVERS:
        raise EngineError(403, "Ingress network can only be global scope network")
    ipam = request.struct_of("IPAM", "network.IPAM")
    config_from = request.struct_of("ConfigFrom", "network.ConfigReference")
    return NetworkSpec(
        name=name,
        labels=request.labels("Labels"),
        driver_configuration=Driver(name=driver, options=request.labels("Options")),
        ipv6_enabled=request.flag("EnableIPv6"),
        internal=request.flag("Internal"),
        attachable=request.flag("Attachable"),
        ingress=request.flag("Ingress"),
        ipam_options=None if ipam is None else _ipam_options(ipam),
        config_from=None
        if config_from is None
        else ConfigFrom(network=config_from.text("Network")),
    )


def _ipam_options(ipam: _Request) -> IPAMOptions:
    configs = tuple(
        IPAMConfig(subnet=c.text("Subnet"), range=c.text("IPRange"), gateway=c.text("Gateway"))
        for c in ipam.structs("Config", "network.IPAMConfig")
    )
    driver = Driver(name=ipam.text("Driver") or "default", options=ipam.labels("Options"))
    return IPAMOptions(driver=driver, configs=configs)
