"""``/_ping``, ``/version`` and ``/info``: how clients find out what they talk to.

``/info``'s Swarm section is built from control API calls (the node list and the
cluster) as dockerd's ``cluster.Info`` does; the rest of ``/info`` describes the
shoal process, with Docker's keys so ``docker info`` prints it."""

from __future__ import annotations

import os
import platform
from typing import Any

from aiohttp import web

from core.manager.autolock import LOCKED
from core.model.cluster import Cluster
from core.model.enums import NodeRole
from core.model.node import Node
from core.model.wire import without
from real.engine import versions
from real.engine.app import Call, Routes, docker_headers, json_response
from real.engine.errors import EngineError

routes = Routes()


async def ping(call: Call) -> web.StreamResponse:
    response = web.Response(
        text="OK" if call.request.method == "GET" else "", content_type="text/plain"
    )
    response.headers["Cache-Control"] = "no-cache, no-store, must-revalidate"
    response.headers["Pragma"] = "no-cache"
    docker_headers(response)
    return response


routes.get("/_ping")(ping)
routes.head("/_ping")(ping)


def _kernel() -> str:
    return platform.release()


@routes.get("/version")
async def version(call: Call) -> web.StreamResponse:
    from cli.main import version as shoal_version

    engine = {
        "Version": versions.ENGINE_VERSION,
        "ApiVersion": versions.API_VERSION,
        "MinAPIVersion": versions.MIN_API_VERSION,
        "GitCommit": "shoal",
        "GoVersion": f"python{platform.python_version()}",
        "Os": "linux",
        "Arch": _arch(),
        "KernelVersion": _kernel(),
        "BuildTime": "",
    }
    return json_response(
        {
            "Platform": {"Name": f"shoal {shoal_version()}"},
            "Components": [
                {"Name": "Engine", "Version": versions.ENGINE_VERSION, "Details": engine}
            ],
            **engine,
        }
    )


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


async def swarm_info(call: Call) -> dict[str, Any]:
    """dockerd's SwarmInfo: who this node is, and for a manager, the swarm's size
    and the cluster itself."""
    me = call.backend.info()
    node_id = str(me.get("node_id") or "")
    host = str(me.get("host") or "")
    if me.get("locked"):  # its identity is in the log it cannot read yet
        return {
            "NodeID": "",
            "NodeAddr": host.rsplit(":", 1)[0],  # dockerd: its advertise address
            "LocalNodeState": "locked",
            "ControlAvailable": False,
            "Error": LOCKED,
            "RemoteManagers": None,
        }
    swarm: dict[str, Any] = {
        "NodeID": node_id,
        "NodeAddr": host.rsplit(":", 1)[0] if node_id else "",
        "LocalNodeState": "active" if node_id else "inactive",
        "ControlAvailable": bool(me.get("manager")),
        "Error": "",
        "RemoteManagers": None,
    }
    if not node_id:
        return swarm
    managers = [(raft_id, addr) for raft_id, addr in me.get("managers") or ()]
    swarm["RemoteManagers"] = [
        {"NodeID": str(raft_id), "Addr": addr} for raft_id, addr in sorted(managers)
    ]
    if not me.get("manager"):
        return swarm
    try:
        nodes = await call.ask("NodeList")
        cluster = await call.ask("SwarmInspect")
    except EngineError as error:  # no leader: dockerd reports it in the section
        swarm["Error"] = error.message
        return swarm
    listed = [n for n in nodes if isinstance(n, Node)]
    by_raft = {n.manager_status.raft_id: n for n in listed if n.manager_status is not None}
    swarm["RemoteManagers"] = [
        {"NodeID": by_raft[r].id if r in by_raft else str(r), "Addr": a}
        for r, a in sorted(managers)
    ]
    swarm["Nodes"] = len(listed)
    swarm["Managers"] = sum(1 for n in listed if n.spec.role is NodeRole.MANAGER)
    if isinstance(cluster, Cluster):
        swarm["Cluster"] = without(cluster.to_json(), ("JoinTokens",))
    return swarm


@routes.get("/info")
async def info(call: Call) -> web.StreamResponse:
    me = call.backend.info()
    return json_response(
        {
            "ID": str(me.get("node_id") or ""),
            "Containers": 0,
            "ContainersRunning": 0,
            "ContainersPaused": 0,
            "ContainersStopped": 0,
            "Images": 0,
            "Driver": "shoal",
            "DriverStatus": [],
            "Plugins": {"Volume": [], "Network": ["overlay"], "Authorization": None, "Log": []},
            "MemoryLimit": True,
            "SwapLimit": False,
            "CpuCfsPeriod": True,
            "CpuCfsQuota": True,
            "CPUShares": True,
            "CPUSet": True,
            "PidsLimit": True,
            "IPv4Forwarding": True,
            "Debug": False,
            "NFd": 0,
            "NGoroutines": 0,
            "SystemTime": "",
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": "2",
            "NEventsListener": 0,
            "KernelVersion": _kernel(),
            "OperatingSystem": "shoal",
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": platform.machine(),
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": None,
            "NCPU": os.cpu_count() or 1,
            "MemTotal": 0,
            "GenericResources": None,
            "DockerRootDir": "",
            "HttpProxy": "",
            "HttpsProxy": "",
            "NoProxy": "",
            "Name": str(me.get("hostname") or ""),
            "Labels": [],
            "ExperimentalBuild": False,
            "ServerVersion": versions.ENGINE_VERSION,
            "Runtimes": {},
            "DefaultRuntime": "runc",
            "Swarm": await swarm_info(call),
            "LiveRestoreEnabled": False,
            "Isolation": "",
            "InitBinary": "",
            "ContainerdCommit": {"ID": "", "Expected": ""},
            "RuncCommit": {"ID": "", "Expected": ""},
            "InitCommit": {"ID": "", "Expected": ""},
            "SecurityOptions": [],
            "Warnings": [],
        }
    )
