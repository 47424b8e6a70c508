"""``/secrets``, ``/configs`` and ``/networks`` (swarm scope), as dockerd 20.10
serves them: its filters turned into SwarmKit's list filters, its request shapes
into the swarm's specs, and a network shown as dockerd's ``NetworkResource``
(real/engine/network_json.py, which shoal's CLI shares).

Every check of a spec is the core's (core/manager/objects_api.py); what is here is
dockerd's own part: decoding, the API version gate on templating, which networks
go to the swarm at all, and the network list's dockerd-side filters."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.manager.objects_api import PREDEFINED_LABEL, decode_data
from core.manager.requests import ApiError
from core.model.secret import ConfigSpec, SecretSpec
from real.engine import versions
from real.engine.app import Call, Routes, json_response
from real.engine.errors import EngineError, bad_request, not_found
from real.engine.filters import Filters, parse
from real.engine.json_text import go_uint
from real.engine.network_json import (
    NETWORK_FILTERS,
    dangling_of,
    inspected,
    network_matches,
    network_resource,
    network_spec,
    of_types,
    types_of,
)

routes = Routes()

SECRET_FILTERS = ("id", "label", "name", "names")
CONFIG_FILTERS = ("id", "label", "name")
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


# -- networks ----------------------------------------------------------------------------------


@routes.get("/networks")
async def network_list(call: Call) -> web.StreamResponse:
    wanted = parse(call.query("filters"), NETWORK_FILTERS)
    dangling, types = dangling_of(wanted), types_of(wanted)
    params = {"names": wanted.get("name"), "id_prefixes": wanted.get("id")}
    try:
        found = await call.ask("NetworkList", params)
    except EngineError:
        found = ()  # dockerd lists the host's own networks alone; shoal has none
    shown = [network_resource(n) for n in found if n.spec.labels.get(PREDEFINED_LABEL) != "true"]
    return json_response(
        of_types([n for n in shown if network_matches(n, wanted, dangling)], types)
    )


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
    return json_response(inspected(network))


@routes.delete("/networks/{id}")
async def network_remove(call: Call) -> web.StreamResponse:
    await call.ask("NetworkRemove", {"network": call.arg("id")})
    return web.Response(status=204)


# -- networks: create --------------------------------------------------------------------------


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
