"""Joining: a node without a certificate asks a manager to let it in.

It cannot do mutual TLS (it has no certificate yet). As in SwarmKit (``GetRemoteCA``),
a first connection (:func:`fetch_root`) takes the manager's root as it comes, to be
compared with the digest the join token carries. The second (:func:`request_join`)
verifies the manager's chain against that root in the handshake (during a root
rotation through the cross-signed intermediate the manager sends), checks that the
root it opens with is still the one accepted (``check_root``) and that its certificate
is a manager's, valid now. Only then does the token, which is a secret, go on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
from collections.abc import AsyncIterator, Callable

from core.errors import ShoalError
from core.messages import ClusterMessage, JoinRequest, MessageDecodeError, decode, encode
from real.tls import JOIN_SERVER_NAME, TLSIdentityError, check_join_server, join_client_context
from real.transport.frames import (
    MAX_FRAME,
    FrameError,
    frame,
    hello,
    read_frame,
    read_root,
    split_host,
)


class JoinError(ShoalError):
    """The manager could not be reached, or could not be trusted."""


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@contextlib.asynccontextmanager
async def _join_path(
    target: str, timeout: float, max_frame: int, root: bytes | None = None
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]]:
    """A connection to the join path at ``target`` (its chain verified against
    ``root`` when given) and the root its manager opened with; every way it can fail
    is a :class:`JoinError` naming ``target``."""
    address, port = split_host(target)
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                address,
                port,
                ssl=join_client_context(root),
                server_hostname=JOIN_SERVER_NAME,
            )
            try:
                opening = await read_frame(reader, max_frame)
                if opening is None:
                    raise JoinError("the manager closed the connection")
                yield reader, writer, read_root(opening)
            finally:
                writer.close()
    except TimeoutError:
        raise JoinError(f"timeout joining through {target}") from None
    except ssl.SSLCertVerificationError as error:
        raise JoinError(
            f"{target}: the manager's certificate is not from the swarm's root CA: "
            f"{error.verify_message}"
        ) from None
    except (OSError, ssl.SSLError) as error:
        raise JoinError(f"cannot reach the manager at {target}: {error}") from None
    except (FrameError, MessageDecodeError, TLSIdentityError) as error:
        raise JoinError(f"{target}: {error}") from None


async def fetch_root(target: str, *, timeout: float = 10.0, max_frame: int = MAX_FRAME) -> bytes:
    """The cluster root (PEM) the manager at ``target`` presents, and nothing sent: a
    joining node checks it against its token before the token goes on the wire."""
    async with _join_path(target, timeout, max_frame) as (_, _, ca_pem):
        return ca_pem


async def request_join(
    target: str,
    request: JoinRequest,
    check_root: Callable[[bytes], str | None],
    *,
    root: bytes | None,
    timeout: float = 10.0,
    max_frame: int = MAX_FRAME,
    now: Callable[[], datetime.datetime] = _utc_now,
) -> tuple[bytes, ClusterMessage]:
    """Send ``request`` to the manager at ``target``; the cluster root (PEM) and the
    manager's answer. ``root`` is the root the node accepted (:func:`fetch_root`, then
    its token): the manager's chain must lead to it. ``check_root(ca_pem)`` says why
    the root the manager opens with is not the one accepted (``None``: it is).
    Replies come from ``request.host``'s view: the manager answers on this
    connection."""
    if root is None:
        raise JoinError("no root CA to verify the manager with: the join was abandoned")
    async with _join_path(target, timeout, max_frame, root) as (reader, writer, ca_pem):
        return await _exchange(reader, writer, ca_pem, request, check_root, max_frame, now)


async def _exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    ca_pem: bytes,
    request: JoinRequest,
    check_root: Callable[[bytes], str | None],
    max_frame: int,
    now: Callable[[], datetime.datetime],
) -> tuple[bytes, ClusterMessage]:
    problem = check_root(ca_pem)
    if problem is not None:
        raise JoinError(problem)
    check_join_server(writer.get_extra_info("ssl_object").getpeercert(True), now())
    writer.write(frame(hello(request.host)) + frame(encode(request)))
    await writer.drain()
    answer = await read_frame(reader, max_frame)
    if answer is None:
        raise JoinError("the manager closed the connection without an answer")
    return ca_pem, decode(answer)
