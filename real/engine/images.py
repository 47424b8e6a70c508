"""A simulated host's images: ``docker pull`` (``POST /images/create``) and ``docker
image inspect`` (``GET /images/{name}/json``), for ``shoal sim serve``.

A simulated registry has every image, so a pull always succeeds and the host then
has it; clients that check for an image before they use it (docker-py's test
session pulls its test image first) work unchanged. Real shoal daemons do not serve
images: the host's own dockerd has them."""

from __future__ import annotations

import hashlib
import json

from aiohttp import web

from real.engine.app import Call, Routes, docker_headers, json_response
from real.engine.errors import bad_request, not_found

DEFAULT_TAG = "latest"


def reference(name: str, tag: str = "") -> str:
    """``name:tag`` with Docker's default tag."""
    last = name.rsplit("/", 1)[-1]
    if tag:
        return f"{name}:{tag}"
    return name if ":" in last or "@" in last else f"{name}:{DEFAULT_TAG}"


def image_id(ref: str) -> str:
    return "sha256:" + hashlib.sha256(ref.encode()).hexdigest()


def image_routes(pulled: set[str]) -> Routes:
    """Routes over ``pulled``: the references this simulated host holds."""
    routes = Routes()

    @routes.get("/images/{name:.+}/json")
    async def inspect(call: Call) -> web.StreamResponse:
        ref = reference(call.arg("name"))
        if ref not in pulled:
            raise not_found(f"No such image: {ref}")
        return json_response(
            {
                "Id": image_id(ref),
                "RepoTags": [ref],
                "RepoDigests": [],
                "Created": "1970-01-01T00:00:00Z",
                "Size": 0,
                "VirtualSize": 0,
                "Architecture": "amd64",
                "Os": "linux",
                "Config": {"Cmd": None, "Entrypoint": None, "Env": None, "Labels": None},
                "RootFS": {"Type": "layers", "Layers": []},
            }
        )

    @routes.post("/images/create")
    async def pull(call: Call) -> web.StreamResponse:
        name = call.query("fromImage")
        if not name:
            raise bad_request("fromImage is required: shoal sim serve pulls, it does not import")
        ref = reference(name, call.query("tag"))
        pulled.add(ref)
        repository, _, tag = ref.rpartition(":")
        lines = [
            {"status": f"Pulling from {repository}", "id": tag},
            {"status": f"Digest: {image_id(ref)}"},
            {"status": f"Status: Downloaded newer image for {ref}"},
        ]
        # chunked, as dockerd streams a pull's progress (docker-py reads it so)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        docker_headers(response)
        await response.prepare(call.request)
        for line in lines:
            await response.write(json.dumps(line).encode() + b"\r\n")
        await response.write_eof()
        return response

    return routes
