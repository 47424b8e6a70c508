"""One outgoing connection to one peer, fed by a bounded queue.

The caller never waits: a message goes into the queue or, when it is full, is dropped
and counted, as a lossy network would. A task drains the queue over a mutual-TLS
connection it opens on demand and reopens after a failure, backing off as SwarmKit's
agent does (``backoff = min(100 ms + 2 * backoff, max)``, the wait random in
``[0, backoff)``). A message written to a connection that breaks is lost, not
retried: the protocols above expect loss, and a retry could repeat it.

A connection whose peer stops acknowledging (a partition, a host gone without a
goodbye) is dropped after ``unacked_timeout`` (the socket's ``TCP_USER_TIMEOUT``) and
reopened with the backoff above. Left to the kernel, its retransmissions back off
exponentially, so after a 40 s cut the next one, the first to get through, came up
to 25 s after the heal (``shoal fidelity`` of web-client-partition.yml: the cut-off
worker rejoined 20.5 s after the heal against 10 s simulated).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
from collections import Counter
from dataclasses import dataclass

from core.messages import ClusterMessage
from real.tls import MANAGER_SERVER_NAME, PeerIdentity, TLSIdentityError, identity_of_der
from real.transport.frames import (
    WELCOME_FRAME,
    FrameError,
    frame,
    hello,
    read_frame,
    read_welcome,
    split_host,
)
from real.transport.policy import may_receive

log = logging.getLogger(__name__)

CONNECT_ERRORS = (OSError, ssl.SSLError, TimeoutError, TLSIdentityError, FrameError, ValueError)


@dataclass(frozen=True)
class LinkConfig:
    queue: int = 1024  # messages waiting per peer before new ones are dropped
    connect_timeout: float = 5.0  # TCP and TLS handshake
    backoff_base: float = 0.1
    backoff_max: float = 8.0
    #: Seconds written data may stay unacknowledged before the connection is dropped.
    unacked_timeout: float = 5.0


class Link:
    def __init__(
        self,
        source: str,
        target: str,
        context: ssl.SSLContext,
        cluster_id: str,
        config: LinkConfig,
        rng: random.Random,
        stats: Counter[str],
    ) -> None:
        self.source, self.target = source, target
        self._context, self._cluster_id = context, cluster_id
        self._config, self._rng, self.stats = config, rng, stats
        self._queue: asyncio.Queue[tuple[ClusterMessage, bytes]] = asyncio.Queue(config.queue)
        self._writer: asyncio.StreamWriter | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.peer: PeerIdentity | None = None
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"link {target}")

    def use(self, context: ssl.SSLContext) -> None:
        """Connect with ``context`` from the next connection on; the one open stays."""
        self._context = context

    def put(self, message: ClusterMessage, data: bytes) -> bool:
        try:
            self._queue.put_nowait((message, data))
        except asyncio.QueueFull:
            return False
        return True

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._disconnect()

    async def _run(self) -> None:
        backoff = 0.0
        while True:
            message, data = await self._queue.get()
            while self._writer is None:
                try:
                    await self._connect()
                    backoff = 0.0
                except CONNECT_ERRORS as error:
                    self.stats["connect_failed"] += 1
                    log.info("cannot reach %s: %s", self.target, error)
                    backoff = min(self._config.backoff_base + 2 * backoff, self._config.backoff_max)
                    await asyncio.sleep(self._rng.uniform(0.0, backoff))
            if self.peer is not None and not may_receive(self.peer, message):
                self.stats["refused_to_send"] += 1
                log.warning(
                    "not sending %s to %s: it holds a %s certificate",
                    type(message).__name__,
                    self.target,
                    self.peer.role,
                )
                continue
            writer = self._writer
            if writer is None:  # closed between the check and here: lost with it
                self.stats["lost"] += 1
                continue
            try:
                writer.write(frame(data))
                await writer.drain()
                self.stats["sent"] += 1
            except (OSError, ssl.SSLError) as error:
                self.stats["lost"] += 1
                log.info("connection to %s broke: %s", self.target, error)
                await self._disconnect()

    async def _connect(self) -> None:
        """Connected once the server has welcomed this node: with TLS 1.3 the client's
        handshake ends before the server has checked the client's certificate, so a
        refused node would otherwise count itself connected, reset its backoff and
        write into a connection about to be refused, once per message."""
        address, port = split_host(self.target)
        async with asyncio.timeout(self._config.connect_timeout):
            reader, writer = await asyncio.open_connection(
                address,
                port,
                ssl=self._context,
                server_hostname=MANAGER_SERVER_NAME,
                ssl_handshake_timeout=self._config.connect_timeout,
            )
            try:
                drop_when_unacknowledged(writer, self._config.unacked_timeout)
                ssl_object = writer.get_extra_info("ssl_object")
                peer = identity_of_der(ssl_object.getpeercert(binary_form=True))
                if peer.cluster_id != self._cluster_id:
                    raise TLSIdentityError(f"{self.target} is a node of cluster {peer.cluster_id}")
                writer.write(frame(hello(self.source)))
                await writer.drain()
                opening = await read_frame(reader, WELCOME_FRAME)
                if opening is None:
                    raise ConnectionError(f"{self.target} closed the connection unwelcomed")
                read_welcome(opening)
            except BaseException:
                writer.transport.abort()  # refused, or an untrusted peer: no goodbye
                raise
        self._writer, self.peer = writer, peer
        self.stats["connected"] += 1
        self._watcher = asyncio.get_running_loop().create_task(self._watch(reader, writer))

    async def _watch(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """After its welcome the server sends nothing on this connection: any end of
        it (EOF, reset, a TLS alert) means it is gone, found at once rather than on
        the next write."""
        with contextlib.suppress(OSError, ssl.SSLError):
            while await reader.read(4096):
                pass
        if self._writer is writer:
            self._writer = self.peer = None
            self.stats["disconnected"] += 1
        writer.close()

    async def _disconnect(self) -> None:
        writer, watcher = self._writer, self._watcher
        self._writer = self.peer = None
        self._watcher = None
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()


def drop_when_unacknowledged(writer: asyncio.StreamWriter, seconds: float) -> None:
    """The connection fails once data it sent has gone unacknowledged for ``seconds``
    (``TCP_USER_TIMEOUT``), rather than after the kernel's retransmissions give up."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(seconds * 1000))
