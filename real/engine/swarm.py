"""``/swarm``: inspect, init, join, leave, update, and the unlock key.

Requests carry Docker's JSON (InitRequest, JoinRequest, a ClusterSpec); they become
the node's ``SwarmInit``/``SwarmJoin``/``SwarmLeave`` and the leader's
``SwarmUpdate``, whose checks are the core's."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.model import replace
from core.model.cluster import ClusterSpec, EncryptionConfig
from real.addresses import ADVERTISE_PARAM, LISTEN_PARAM
from real.engine.app import Call, Routes, json_response
from real.engine.errors import bad_request
from real.engine.json_text import go_type

routes = Routes()


@routes.get("/swarm")
async def swarm_inspect(call: Call) -> web.StreamResponse:
    return json_response(await call.ask("SwarmInspect"))


def _fields(body: Any, allowed: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request(f"invalid JSON body: a {what} must be a JSON object")
    return {k: v for k, v in body.items() if k in allowed}


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key) or ""
    if not isinstance(value, str):
        raise bad_request(f"invalid {key}: a string was expected")
    return value


#: What the docker CLI sends as ListenAddr when ``--listen-addr`` is not given: it
#: cannot be told from an explicit one, so it means "the daemon's own".
CLI_DEFAULT_LISTEN = "0.0.0.0:2377"


def _unsupported(body: dict[str, Any]) -> None:
    """Settings shoal does not have yet are refused, not silently dropped."""
    if _text(body, "DataPathAddr"):
        raise bad_request(
            "--data-path-addr is not supported: overlay traffic goes over the address the "
            "daemon advertises"
        )
    availability = _text(body, "Availability")
    if availability and availability != "active":
        raise bad_request(
            f"--availability {availability} is not supported on swarm init or join: "
            "set it afterwards with docker node update --availability"
        )


def _addresses(body: dict[str, Any]) -> dict[str, Any]:
    _unsupported(body)
    params: dict[str, Any] = {}
    listen, advertise = _text(body, "ListenAddr"), _text(body, "AdvertiseAddr")
    if listen and listen != CLI_DEFAULT_LISTEN:
        params[LISTEN_PARAM] = listen
    if advertise:
        params[ADVERTISE_PARAM] = advertise
    return params


INIT_FIELDS = (
    "AutoLockManagers",
    "ListenAddr",
    "AdvertiseAddr",
    "DataPathAddr",
    "DataPathPort",
    "DefaultAddrPool",
    "ForceNewCluster",
    "SubnetSize",
    "Spec",
    "Availability",
)


@routes.post("/swarm/init")
async def swarm_init(call: Call) -> web.StreamResponse:
    body = _fields(await call.body(), INIT_FIELDS, "swarm init request")
    params = _addresses(body)
    force = body.get("ForceNewCluster", False)
    if not isinstance(force, bool):
        raise bad_request(
            f"json: cannot unmarshal {go_type(force)} into Go struct field "
            "InitRequest.ForceNewCluster of type bool"
        )
    params["force_new_cluster"] = force
    autolock = body.get("AutoLockManagers", False)
    if not isinstance(autolock, bool):
        raise bad_request(
            f"json: cannot unmarshal {go_type(autolock)} into Go struct field "
            "InitRequest.AutoLockManagers of type bool"
        )
    spec = await call.model(ClusterSpec, body["Spec"]) if body.get("Spec") is not None else None
    if autolock:  # dockerd sets the spec's flag from the request's
        spec = spec or ClusterSpec()
        spec = replace(spec, encryption_config=EncryptionConfig(auto_lock_managers=True))
    if spec is not None:
        params["spec"] = spec
    pools = body.get("DefaultAddrPool") or []
    if not isinstance(pools, list) or not all(isinstance(p, str) for p in pools):
        raise bad_request("invalid DefaultAddrPool: a list of CIDR strings was expected")
    params["default_addr_pool"] = tuple(pools)
    for key, param in (("SubnetSize", "subnet_size"), ("DataPathPort", "data_path_port")):
        value = body.get(key) or 0
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise bad_request(f"invalid {key} {value!r}: a positive integer was expected")
        params[param] = value
    return json_response(await call.ask("SwarmInit", params))


@routes.post("/swarm/join")
async def swarm_join(call: Call) -> web.StreamResponse:
    body = _fields(
        await call.body(),
        ("ListenAddr", "AdvertiseAddr", "DataPathAddr", "RemoteAddrs", "JoinToken", "Availability"),
        "swarm join request",
    )
    remotes = body.get("RemoteAddrs") or []
    if not isinstance(remotes, list) or not remotes or not all(isinstance(r, str) for r in remotes):
        raise bad_request("at least 1 RemoteAddr is required to join")
    params = _addresses(body)
    params.update(remote=remotes[0], token=_text(body, "JoinToken"))
    await call.ask("SwarmJoin", params)
    return web.Response(status=200)


@routes.post("/swarm/leave")
async def swarm_leave(call: Call) -> web.StreamResponse:
    await call.ask("SwarmLeave", {"force": call.flag("force")})
    return web.Response(status=200)


@routes.post("/swarm/update")
async def swarm_update(call: Call) -> web.StreamResponse:
    version = call.object_version("swarm")
    rotate_worker = call.strict_flag("rotateWorkerToken")
    rotate_manager = call.strict_flag("rotateManagerToken")
    rotate_unlock = call.strict_flag("rotateManagerUnlockKey")
    spec = await call.model(ClusterSpec)
    params: dict[str, Any] = {
        "spec": spec,
        "version": version,
        "rotate_worker_token": rotate_worker,
        "rotate_manager_token": rotate_manager,
        "rotate_manager_unlock_key": rotate_unlock,
    }
    await call.ask("SwarmUpdate", params)
    return web.Response(status=200)


@routes.get("/swarm/unlockkey")
async def unlock_key(call: Call) -> web.StreamResponse:
    """The managers' unlock key ("" without autolock, as dockerd answers)."""
    return json_response({"UnlockKey": await call.ask("SwarmUnlockKey")})


@routes.post("/swarm/unlock")
async def unlock(call: Call) -> web.StreamResponse:
    """A locked manager given its key boots; the refusals are the node's or its
    driver's, in dockerd's words (core/manager/autolock.py)."""
    body = _fields(await call.body(), ("UnlockKey",), "swarm unlock request")
    await call.ask("SwarmUnlock", {"key": _text(body, "UnlockKey")})
    return web.Response(status=200)
