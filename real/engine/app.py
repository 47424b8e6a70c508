"""The aiohttp application: routes at ``/PATH`` and ``/v1.xx/PATH``, Docker's
headers on every answer, and every failure as Docker's ``{"message": ...}``.

aiohttp parses HTTP and serves unix and TLS sockets: a well-kept asyncio server,
so nothing here reads bytes off a socket by hand.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from core.errors import ShoalError
from core.model.wire import WireModel
from real.engine import versions
from real.engine.backend import Backend
from real.engine.errors import EngineError, bad_request, from_reply
from real.engine.json_text import go_uint, load_json

log = logging.getLogger(__name__)

BACKEND: web.AppKey[Backend] = web.AppKey("backend", Backend)
M = TypeVar("M", bound=WireModel)
TRUE_VALUES = ("1", "true", "True")  # Go's strconv.ParseBool, as dockerd's BoolValue


@dataclass
class Call:
    """One Engine API request, with what its handler needs to read and answer it."""

    request: web.Request
    backend: Backend
    version: str | None

    def arg(self, name: str) -> str:
        return self.request.match_info[name]

    def query(self, name: str, default: str = "") -> str:
        return self.request.query.get(name, default)

    def flag(self, name: str) -> bool:
        """dockerd's ``BoolValue``: set unless empty, "0", "no", "false" or "none"."""
        return self.query(name).strip().lower() not in ("", "0", "no", "false", "none")

    def strict_flag(self, name: str) -> bool:
        """Go's ``strconv.ParseBool`` on a query value ("" is false); anything else is
        refused as dockerd refuses it."""
        text = self.query(name)
        if text in ("", "0", "f", "F", "false", "FALSE", "False"):
            return False
        if text in ("1", "t", "T", "true", "TRUE", "True"):
            return True
        raise bad_request(
            f'invalid value for {name}: {text}: strconv.ParseBool: parsing "{text}": invalid syntax'
        )

    def object_version(self, kind: str) -> int:
        """The required ``version`` of an update (a uint64), refused as dockerd does."""
        text = self.query("version")
        value = go_uint(text)
        if value is None:
            problem = (
                "value out of range" if text.isascii() and text.isdigit() else "invalid syntax"
            )
            raise bad_request(
                f"invalid {kind} version '{text}': strconv.ParseUint: parsing \"{text}\": {problem}"
            )
        return value

    async def body(self) -> Any:
        """The JSON body; a missing or malformed one is the client's mistake (400)."""
        raw = await self.request.read()
        if not raw.strip():
            raise bad_request("got EOF while reading request body")
        return load_json(raw, "invalid JSON body")

    async def model(self, cls: type[M], data: Any = None) -> M:
        """The body (or ``data``) as a model object, refused with the field at fault."""
        data = await self.body() if data is None else data
        if not isinstance(data, dict):
            raise bad_request(f"invalid JSON body: a {cls.__name__} must be a JSON object")
        try:
            return cls.from_json(data)
        except ShoalError as error:
            raise bad_request(str(error)) from None

    async def ask(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """A control API call's value, or the error it failed with as Docker's."""
        reply = await self.backend.call(method, dict(params or {}))
        if not reply.ok:
            raise from_reply(reply)
        return reply.value


Handler = Callable[[Call], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler


class Routes:
    """A module's routes, gathered with decorators."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, path, handler))
            return handler

        return register

    def get(self, path: str) -> Callable[[Handler], Handler]:
        return self.add("GET", path)

    def post(self, path: str) -> Callable[[Handler], Handler]:
        return self.add("POST", path)

    def delete(self, path: str) -> Callable[[Handler], Handler]:
        return self.add("DELETE", path)

    def head(self, path: str) -> Callable[[Handler], Handler]:
        return self.add("HEAD", path)


def json_response(value: Any, status: int = 200) -> web.Response:
    """JSON as Go's encoder writes it: compact, one trailing newline."""
    if isinstance(value, WireModel):
        value = value.to_json()
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False) + "\n"
    # exactly application/json (no charset): the docker CLI reads errors only then;
    # text that is not UTF-8 (an error quoting a client's bad input) cannot fail it
    body = text.encode("utf-8", errors="replace")
    return web.Response(status=status, body=body, content_type="application/json")


def error_response(status: int, message: str) -> web.Response:
    return json_response({"message": message}, status)


def docker_headers(response: web.StreamResponse) -> None:
    response.headers["Api-Version"] = versions.API_VERSION
    response.headers["Docker-Experimental"] = "false"
    response.headers["Ostype"] = "linux"
    response.headers["Server"] = f"Docker/{versions.ENGINE_VERSION} (linux)"


def _wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def serve(request: web.Request) -> web.StreamResponse:
        version = request.match_info.get("version")
        versions.check(version)
        return await handler(Call(request, request.app[BACKEND], version))

    return serve


@web.middleware
async def docker_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every answer with Docker's headers; every failure as ``{"message": ...}``. A
    bug answers 500 with a one-line message (the traceback goes to the log only)."""
    try:
        response = await handler(request)
    except EngineError as error:
        response = error_response(error.status, error.message)
    except web.HTTPNotFound:
        response = error_response(404, "page not found")
    except web.HTTPMethodNotAllowed:
        response = error_response(405, "method not allowed")
    except web.HTTPException as error:
        response = error_response(error.status, error.reason)
    except Exception as error:
        log.exception("engine API: %s %s failed", request.method, request.path)
        response = error_response(500, f"internal error: {type(error).__name__}: {error}")
    if not response.prepared:
        docker_headers(response)
    return response


def build_app(backend: Backend, route_sets: Iterable[Routes] = ()) -> web.Application:
    """The Engine API over ``backend``, with the standard routes and any extra ones
    (``shoal sim serve``'s controls)."""
    from real.engine.routes import STANDARD

    app = web.Application(middlewares=[docker_errors], client_max_size=64 * 1024**2)
    app[BACKEND] = backend
    for routes in (*STANDARD, *route_sets):
        for route in routes.routes:
            serve = _wrap(route.handler)
            app.router.add_route(route.method, route.path, serve)
            app.router.add_route(route.method, r"/v{version:[0-9]+\.[0-9]+}" + route.path, serve)
    return app
