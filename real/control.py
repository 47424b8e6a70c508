"""The local control socket's protocol: how ``shoal`` commands reach their daemon.

The daemon listens on ``<data dir>/shoal.sock`` (mode 0600: root only, as dockerd's
socket is root's). Each request and each reply is one length-prefixed frame (4 bytes,
big-endian, then the bytes) holding a cluster message of core/messages.py's codec:
a :class:`~core.messages.ForwardedRequest` (``origin`` empty, ``request_id`` the
client's) and its :class:`~core.messages.ForwardedReply`. They are the very objects a
follower forwards to its leader, so every parameter and answer the API has (specs,
nodes, tasks) already has a wire form. Requests on one connection are answered in
order.

Beside the Engine API's methods the daemon answers :data:`INFO` (``docker info``'s
swarm part): a map of ``host``, ``hostname``, ``node_id`` ("" before a swarm) and
``manager``.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

from core.errors import ShoalError
from core.manager.requests import ClientReply, ClientRequest
from core.messages import ForwardedReply, ForwardedRequest, MessageDecodeError, decode, encode
from real.transport.frames import HEADER, MAX_FRAME, frame

DEFAULT_DATA_DIR = "/var/lib/shoal"
SOCKET_NAME = "shoal.sock"
INFO = "Info"


class ControlError(ShoalError):
    """The daemon could not be reached, or answered what is not a reply."""


def encode_request(request: ClientRequest) -> bytes:
    params = tuple(sorted(request.params.items()))
    return frame(encode(ForwardedRequest("", request.id, request.method, params)))


def decode_request(data: bytes) -> ClientRequest:
    message = decode(data)
    if not isinstance(message, ForwardedRequest):
        raise MessageDecodeError(f"a {type(message).__name__} is not a request")
    return ClientRequest(message.request_id, message.method, dict(message.params))


def encode_reply(reply: ClientReply) -> bytes:
    return frame(encode(ForwardedReply(reply.id, reply.ok, reply.value, reply.error, reply.code)))


def decode_reply(data: bytes) -> ClientReply:
    message = decode(data)
    if not isinstance(message, ForwardedReply):
        raise MessageDecodeError(f"a {type(message).__name__} is not a reply")
    return ClientReply(message.request_id, message.ok, message.value, message.error, message.code)


class ControlClient:
    """A blocking connection to a daemon's control socket (one command's requests)."""

    def __init__(self, path: str, timeout: float = 60.0) -> None:
        self.path = path
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.settimeout(timeout)
        try:
            self._socket.connect(path)
        except OSError:
            self._socket.close()
            raise ControlError(
                f"Cannot connect to the Docker daemon at unix://{path}. "
                "Is the docker daemon running?"
            ) from None
        self._seq = 0

    def call(self, method: str, params: Mapping[str, Any]) -> ClientReply:
        self._seq += 1
        try:
            self._socket.sendall(encode_request(ClientRequest(str(self._seq), method, params)))
            header = self._read(HEADER)
            length = int.from_bytes(header, "big")
            if length > MAX_FRAME:
                raise ControlError(f"the daemon sent a frame of {length} bytes")
            reply = decode_reply(self._read(length))
        except (OSError, MessageDecodeError) as error:
            raise ControlError(f"error during connect: {error}") from None
        return reply

    def _read(self, size: int) -> bytes:
        chunks, left = [], size
        while left:
            chunk = self._socket.recv(left)
            if not chunk:
                raise ControlError("the daemon closed the connection")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self._socket.close()


__all__ = [
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
