"""``/secrets``, ``/configs`` and ``/networks`` (swarm scope), as dockerd 20.10
serves them: its filters turned into SwarmKit's list filters, its request shapes
into the swarm's specs, and a network shown as dockerd's ``NetworkResource``.

Every check of a spec is the core's (core/manager/objects_api.py); what is here is
dockerd's own part: decoding, the API version gate on templating, which networks
go to the swarm at all, and the network list's dockerd-side filters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from core.manager.objects_api import PREDEFINED_LABEL, decode_data
from core.manager.requests import ApiError
from core.model.common import Driver
from core.model.network import ConfigFrom, IPAMConfig, IPAMOptions, Network, NetworkSpec
from core.model.secret import ConfigSpec, SecretSpec
from core.model.wire import Labels
from real.engine import versions
from real.engine.app import Call, Routes, json_response
from real.engine.errors import EngineError, bad_request, not_found
from real.engine.filters import Filters, parse
from real.engine.json_text import go_type, go_uint

routes = Routes()

SECRET_FILTERS = ("id", "label", "name", "names")
CONFIG_FILTERS = ("id", "label", "name")
NETWORK_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")
TEMPLATING_SINCE = "1.37"


# -- secrets and configs ---------------------------------------------------------------------


def list_params(wanted: Filters) -> dict[str, Any]:
    """dockerd's newListSecretsFilters: ``names`` exact, ``name`` and ``id`` as
    prefixes, ``label`` as ``key`` (any value) or ``key=value``."""
    labels = dict(label.partition("=")[::2] for label in wanted.get("label"))
    return {
        "names": wanted.get("names"),
        "name_prefixes": wanted.get("name"),
        "id_prefixes": wanted.get("id"),
        "labels": labels,
    }


def _go_keys(data: Any, keys: tuple[str, ...]) -> Any:
    """A JSON object as Go's decoder reads it into a struct: keys matched without
    regard to case, and a null the same as no value."""
    if not isinstance(data, dict):
        return data
    canonical = {k.lower(): k for k in keys}
    return {canonical.get(k.lower(), k): v for k, v in data.items() if v is not None}


async def _object_spec(call: Call, cls: type[SecretSpec] | type[ConfigSpec], word: str) -> Any:
    """The body as a secret or config spec: its data must be base64 (dockerd's
    decoder refuses it otherwise) and templating needs API 1.37."""
    body = _go_keys(await call.body(), ("Name", "Labels", "Data", "Driver", "Templating"))
    if isinstance(body, dict):
        for key in ("Driver", "Templating"):
            if key in body:
                body[key] = _go_keys(body[key], ("Name", "Options"))
    spec = await call.model(cls, body)
    try:
        decode_data(spec.data)
    except ApiError as error:
        raise bad_request(error.message) from None
    if spec.templating is not None and not versions.at_least(call.version, TEMPLATING_SINCE):
        raise bad_request(
            f"{word} templating is not supported on the specified API version: {call.version}"
        )
    return spec


def _object_routes(word: str, kind: str, cls: type[SecretSpec] | type[ConfigSpec]) -> None:
    """The five routes of ``/secrets`` or ``/configs``."""
    accepted = SECRET_FILTERS if word == "secret" else CONFIG_FILTERS

    async def listing(call: Call) -> web.StreamResponse:
        params = list_params(parse(call.query("filters"), accepted))
        found = await call.ask(f"{kind}List", params)
        return json_response([o.to_json() for o in found])

    async def create(call: Call) -> web.StreamResponse:
        spec = await _object_spec(call, cls, word)
        object_id = await call.ask(f"{kind}Create", {"spec": spec})
        return json_response({"ID": object_id}, 201)

    async def inspect(call: Call) -> web.StreamResponse:
        return json_response(await call.ask(f"{kind}Inspect", {word: call.arg("id")}))

    async def update(call: Call) -> web.StreamResponse:
        spec = await _object_spec(call, cls, word)
        version = go_uint(call.query("version"))
        if version is None:
            raise bad_request(f"invalid {word} version")
        params = {word: call.arg("id"), "version": version, "spec": spec}
        await call.ask(f"{kind}Update", params)
        return web.Response(status=200)

    async def remove(call: Call) -> web.StreamResponse:
        await call.ask(f"{kind}Remove", {word: call.arg("id")})
        return web.Response(status=204)

    plural = f"/{word}s"
    routes.get(plural)(listing)
    routes.post(f"{plural}/create")(create)
    routes.get(f"{plural}/{{id}}")(inspect)
    routes.post(f"{plural}/{{id}}/update")(update)
    routes.delete(f"{plural}/{{id}}")(remove)


_object_routes("secret", "Secret", SecretSpec)
_object_routes("config", "Config", ConfigSpec)


# -- networks: what dockerd shows ------------------------------------------------------------

#: Names dockerd keeps for its own networks (runconfig.IsPreDefinedNetwork).
PREDEFINED_NAMES = ("bridge", "default", "host", "none")
#: Drivers whose networks span the swarm whatever the scope asked (libnetwork's
#: global data scope).
GLOBAL_DRIVERS = ("overlay",)
DEFAULT_LOCAL_DRIVER = "bridge"  # dockerd's default: a host's own bridge network
SWARM_DEFAULT_DRIVER = "overlay"  # SwarmKit's allocator's, for a spec without one


def is_predefined(name: str) -> bool:
    return name in PREDEFINED_NAMES or name.startswith("container:")


def network_resource(network: Network) -> dict[str, Any]:
    """dockerd's BasicNetworkFromGRPC: a swarm network as ``docker network
    inspect`` shows it from a manager (no containers: those are a host's)."""
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
        "Containers": None,
        "Options": dict(state.options) or None,
        "Labels": dict(spec.labels) or None,
    }


def _ipam_config(config: IPAMConfig) -> dict[str, str]:
    shown = {"Subnet": config.subnet, "IPRange": config.range, "Gateway": config.gateway}
    return {k: v for k, v in shown.items() if v}


def is_ingress(network: Network) -> bool:
    """dockerd's IsIngressNetwork: flagged so, or SwarmKit's older internal one."""
    labels = network.spec.labels
    return network.spec.ingress or (
        "com.docker.swarm.internal" in labels and network.spec.name == "ingress"
    )


# -- networks: the list's filters ------------------------------------------------------------


def _dangling(wanted: Filters) -> bool | None:
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


def _types(wanted: Filters) -> tuple[str, ...]:
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


def _typed(shown: list[dict[str, Any]], types: tuple[str, ...]) -> list[dict[str, Any]]:
    """The ``type`` filter: each value adds its networks, in the order asked."""
    if not types:
        return shown
    kept: list[dict[str, Any]] = []
    for value in types:
        builtin = value == "builtin"
        kept.extend(n for n in shown if is_predefined(n["Name"]) == builtin)
    return kept


@routes.get("/networks")
async def network_list(call: Call) -> web.StreamResponse:
    wanted = parse(call.query("filters"), NETWORK_FILTERS)
    dangling, types = _dangling(wanted), _types(wanted)
    params = {"names": wanted.get("name"), "id_prefixes": wanted.get("id")}
    try:
        found = await call.ask("NetworkList", params)
    except EngineError:
        found = ()  # dockerd lists the host's own networks alone; shoal has none
    shown = [network_resource(n) for n in found if n.spec.labels.get(PREDEFINED_LABEL) != "true"]
    return json_response(_typed([n for n in shown if network_matches(n, wanted, dangling)], types))


_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True}
_GO_BOOLS |= {"0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


@routes.get("/networks/{id}")
async def network_inspect(call: Call) -> web.StreamResponse:
    term, scope = call.arg("id"), call.query("scope")
    verbose = call.query("verbose")
    if verbose and verbose not in _GO_BOOLS:
        raise bad_request(
            f"invalid value for verbose: {verbose}: "
            f'strconv.ParseBool: parsing "{verbose}": invalid syntax'
        )
    network = await call.ask("NetworkInspect", {"network": term})
    if not network.id.startswith(term) and scope not in ("", "swarm"):
        raise not_found(f"network {term} not found")  # a swarm network, asked by name
    return json_response(network_resource(network))


@routes.delete("/networks/{id}")
async def network_remove(call: Call) -> web.StreamResponse:
    await call.ask("NetworkRemove", {"network": call.arg("id")})
    return web.Response(status=204)


# -- networks: create --------------------------------------------------------------------------


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


def _check_json(call: Call) -> None:
    """dockerd's CheckForJSON: a body must say it is JSON."""
    given = call.request.headers.get("Content-Type", "")
    if not given and not call.request.can_read_body:
        return
    if given.split(";")[0].strip().lower() != "application/json":
        raise bad_request(f"Content-Type specified ({given}) must be 'application/json'")


@routes.post("/networks/create")
async def network_create(call: Call) -> web.StreamResponse:
    _check_json(call)
    spec = network_spec(await call.body())
    network_id = await call.ask("NetworkCreate", {"spec": spec})
    return json_response({"Id": network_id, "Warning": ""}, 201)
