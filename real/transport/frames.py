"""Frames on the wire: a 4-byte big-endian length, then that many bytes.

A frame carries one cluster message as ``core.messages.encode`` makes it (the codec
the simulator passes every message through), or one of the transport frames:
the *hello* a connecting node opens with, naming the host (``address:port``) it
listens on, which the receiver reports as the source of every message on that
connection (the simulator's envelope source); the *welcome* a server sends a member
once it has accepted the member's certificate (with TLS 1.3 the client's handshake
ends before the server has checked it: only the welcome says it was let in); and the
*root* a server sends first on a join connection, the cluster root certificate the
joining node checks against its join token.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack

from core.errors import ShoalError

HEADER = 4
MAX_FRAME = 128 << 20  # SwarmKit's gRPC limit for Raft messages (snapshots included)
JOIN_FRAME = 64 << 10  # a join connection, unauthenticated, carries one small request
WELCOME_FRAME = 1 << 10
_HELLO = "shoal-hello"
_WELCOME = "shoal-welcome"
_ROOT = "shoal-root"
_VERSION = 1


class FrameError(ShoalError):
    """A frame this end will not read: too large, or not what the protocol expects."""


def frame(data: bytes) -> bytes:
    return len(data).to_bytes(HEADER, "big") + data


async def read_frame(reader: asyncio.StreamReader, limit: int) -> bytes | None:
    """The next frame's bytes; ``None`` when the peer closed between frames. A length
    over ``limit`` is refused before any of its bytes are read."""
    try:
        header = await reader.readexactly(HEADER)
    except asyncio.IncompleteReadError as error:
        if error.partial:
            raise FrameError("the connection closed inside a frame header") from None
        return None
    length = int.from_bytes(header, "big")
    if length > limit:
        raise FrameError(f"a frame of {length} bytes is over the limit of {limit}")
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise FrameError("the connection closed inside a frame") from None


def _pack(kind: str, value: Any) -> bytes:
    packed: bytes = msgpack.packb([kind, _VERSION, value], use_bin_type=True)
    return packed


def _unpack(kind: str, data: bytes, what: type) -> Any:
    try:
        name, version, value = msgpack.unpackb(data, raw=False)
    except (ValueError, TypeError) as error:
        raise FrameError(f"not a {kind} frame: {error}") from None
    if name != kind or version != _VERSION or not isinstance(value, what):
        raise FrameError(f"not a {kind} frame of version {_VERSION}")
    return value


def hello(source: str) -> bytes:
    return _pack(_HELLO, source)


def read_hello(data: bytes) -> str:
    source: str = _unpack(_HELLO, data, str)
    return source


def welcome(node_id: str) -> bytes:
    """The server accepted the certificate of ``node_id``."""
    return _pack(_WELCOME, node_id)


def read_welcome(data: bytes) -> str:
    node_id: str = _unpack(_WELCOME, data, str)
    return node_id


def root(ca_pem: bytes) -> bytes:
    return _pack(_ROOT, ca_pem)


def read_root(data: bytes) -> bytes:
    ca_pem: bytes = _unpack(_ROOT, data, bytes)
    return ca_pem


def split_host(host: str) -> tuple[str, int]:
    """``address:port`` (``[v6]:port`` too) into its parts."""
    address, sep, port = host.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{host!r} is not an address:port")
    return address.removeprefix("[").removesuffix("]"), int(port)
