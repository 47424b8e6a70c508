"""How ``shoal`` commands reach their daemon: the control API over the daemon's
Engine API socket.

The daemon serves one unix socket, ``<data dir>/shoal.sock`` (mode 0660, group
root, as dockerd's socket), speaking Docker's Engine API (real/engine). shoal's own
commands use one more route of it, ``POST /shoal/control``: the body is a
:class:`~core.messages.ForwardedRequest` in the cluster's message codec, the answer
its :class:`~core.messages.ForwardedReply`. They are the very objects a follower
forwards to its leader, so every parameter and answer the control API has (specs,
nodes, tasks) already has a wire form, and the request reaches the same core
handlers the Engine API's routes reach.

Beside the control API's methods the route answers :data:`INFO`: the node's
:meth:`~core.node.SwarmNode.info` (``host``, ``hostname``, ``node_id`` ("" before a
swarm), ``manager``, ``leader``, Raft position).
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Mapping
from typing import Any

from core.errors import ShoalError
from core.manager.requests import INFO, ClientReply, ClientRequest
from core.messages import ForwardedReply, ForwardedRequest, MessageDecodeError, decode, encode

DEFAULT_DATA_DIR = "/var/lib/shoal"
SOCKET_NAME = "shoal.sock"
CONTROL_PATH = "/shoal/control"
CONTENT_TYPE = "application/x-shoal-message"


class ControlError(ShoalError):
    """The daemon could not be reached, or answered what is not a reply."""


def encode_request(request: ClientRequest) -> bytes:
    params = tuple(sorted(request.params.items()))
    return encode(ForwardedRequest("", request.id, request.method, params))


def decode_request(data: bytes) -> ClientRequest:
    message = decode(data)
    if not isinstance(message, ForwardedRequest):
        raise MessageDecodeError(f"a {type(message).__name__} is not a request")
    return ClientRequest(message.request_id, message.method, dict(message.params))


def encode_reply(reply: ClientReply) -> bytes:
    return encode(ForwardedReply(reply.id, reply.ok, reply.value, reply.error, reply.code))


def decode_reply(data: bytes) -> ClientReply:
    message = decode(data)
    if not isinstance(message, ForwardedReply):
        raise MessageDecodeError(f"a {type(message).__name__} is not a reply")
    return ClientReply(message.request_id, message.ok, message.value, message.error, message.code)


class _UnixConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a unix socket (the standard library speaks the protocol)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def cannot_connect(path: str) -> ControlError:
    return ControlError(
        f"Cannot connect to the Docker daemon at unix://{path}. Is the docker daemon running?"
    )


class ControlClient:
    """A blocking keep-alive connection to a daemon's socket (one command's requests)."""

    def __init__(self, path: str, timeout: float = 60.0) -> None:
        self.path = path
        self._http = _UnixConnection(path, timeout)
        try:
            self._http.connect()
        except OSError:
            self._http.close()
            raise cannot_connect(path) from None
        self._seq = 0

    def call(self, method: str, params: Mapping[str, Any]) -> ClientReply:
        self._seq += 1
        body = encode_request(ClientRequest(str(self._seq), method, params))
        try:
            self._http.request(
                "POST", CONTROL_PATH, body=body, headers={"Content-Type": CONTENT_TYPE}
            )
            response = self._http.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            self._http.close()
            raise ControlError(f"error during connect: {error}") from None
        if response.status != 200:
            raise ControlError(f"the daemon answered {response.status}: {data[:200]!r}")
        try:
            return decode_reply(data)
        except MessageDecodeError as error:
            raise ControlError(f"the daemon sent what is not a reply: {error}") from None

    def close(self) -> None:
        self._http.close()


__all__ = [
    "CONTENT_TYPE",
    "CONTROL_PATH",
    "DEFAULT_DATA_DIR",
    "INFO",
    "SOCKET_NAME",
    "ControlClient",
    "ControlError",
    "decode_reply",
    "decode_request",
    "encode_reply",
    "encode_request",
]
