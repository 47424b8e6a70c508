"""``/nodes``: list (filters id, label, membership, name, node.label, role), inspect,
update (a whole NodeSpec at a version) and remove."""

from __future__ import annotations

from aiohttp import web

from core.model.node import Node, NodeSpec
from real.engine.app import Call, Routes, json_response
from real.engine.filters import Filters, parse

routes = Routes()
FILTERS = ("id", "label", "membership", "name", "node.label", "role")


def matches(node: Node, wanted: Filters) -> bool:
    return (
        wanted.prefix("id", node.id)
        and wanted.labels("label", node.description.engine.labels)
        and wanted.labels("node.label", node.spec.labels)
        and wanted.exact("membership", "accepted")  # a node in the store was accepted
        and (
            wanted.prefix("name", node.description.hostname)
            or wanted.prefix("name", node.spec.name)
        )
        and wanted.exact("role", str(node.spec.role))
    )


@routes.get("/nodes")
async def node_list(call: Call) -> web.StreamResponse:
    wanted = parse(call.query("filters"), FILTERS)
    nodes = await call.ask("NodeList")
    return json_response([n.to_json() for n in nodes if matches(n, wanted)])


@routes.get("/nodes/{id}")
async def node_inspect(call: Call) -> web.StreamResponse:
    return json_response(await call.ask("NodeInspect", {"node": call.arg("id")}))


@routes.post("/nodes/{id}/update")
async def node_update(call: Call) -> web.StreamResponse:
    version = call.object_version("node")
    spec = await call.model(NodeSpec)
    await call.ask("NodeUpdate", {"node": call.arg("id"), "version": version, "spec": spec})
    return web.Response(status=200)


@routes.delete("/nodes/{id}")
async def node_remove(call: Call) -> web.StreamResponse:
    await call.ask("NodeRemove", {"node": call.arg("id"), "force": call.flag("force")})
    return web.Response(status=200)
