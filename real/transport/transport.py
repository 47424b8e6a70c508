"""The real network: what sim/network.py is to the simulator.

Hosts are addressed as in the simulator, by one string each, here ``address:port``
(where the node listens). ``send(host, message)`` never waits: the message joins that
peer's queue on its one outgoing connection (:mod:`real.transport.link`). Every
message received is handed to ``on_message(source, message)``, ``source`` being the
host the sender said it listens on when it connected (the *hello*).

Incoming connections are mutual TLS, except for nodes joining, which have no
certificate yet: they ask for the server name ``swarm-ca``, read before the
handshake from the ClientHello (see :mod:`real.tls`), get a server-authenticated
connection, and may send only a ``JoinRequest``; the answer goes back on that
connection. Everything else that arrives is checked against the sender's certificate
by the ``authorize`` hook (:func:`real.transport.policy.refusal` by default): a
refused message is dropped and counted, the connection kept, as SwarmKit answers a
refused RPC and keeps the stream. A connection that breaks the protocol (a frame over
the size limit, bytes that do not decode) is closed; the others are served on.

The hello is the sender's word, bounded by its certificate: a member could name
another member's address as its own (misdirecting answers), never send more than its
role allows. The receiving driver may compare it with the peer's node ID if it knows
both (``authorize`` gets the certificate's identity with every message).
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from core.messages import ClusterMessage, JoinAccepted, JoinRefused, MessageDecodeError
from core.messages import decode as decode_message
from core.messages import encode as encode_message
from real.tls import (
    JOIN_SERVER_NAME,
    Credentials,
    PeerIdentity,
    TLSIdentityError,
    client_hello_length,
    client_hello_server_name,
    identity_of_der,
)
from real.transport.frames import (
    MAX_FRAME,
    FrameError,
    frame,
    read_frame,
    read_hello,
    root,
    split_host,
)
from real.transport.link import Link, LinkConfig
from real.transport.policy import refusal

log = logging.getLogger(__name__)

Receiver = Callable[[str, ClusterMessage], None]
Authorize = Callable[[PeerIdentity | None, ClusterMessage], str | None]
_HELLO_LIMIT = 18 * 1024  # a TLS record's most: 2^14 bytes plus header and expansion


@dataclass(frozen=True)
class TransportConfig:
    max_frame: int = MAX_FRAME
    handshake_timeout: float = 10.0  # ClientHello, TLS handshake and hello frame
    link: LinkConfig = field(default_factory=LinkConfig)


class Transport:
    """One node's end of the network: a listener on ``host`` and a link per peer.

    ``stats`` counts, like the simulated network's: ``queued``, ``sent``, ``dropped``
    (a full peer queue), ``lost`` (written to a connection that broke),
    ``refused_to_send`` (manager-only, to a worker), ``connected``, ``disconnected``,
    ``connect_failed``; and on the receiving side ``delivered``, ``refused`` (by
    ``authorize``), ``refused_tls`` (handshake or identity), ``refused_cluster``
    (of those, another cluster's certificate) and ``bad_frame``.
    """

    def __init__(
        self,
        host: str,
        credentials: Credentials,
        on_message: Receiver,
        rng: random.Random,
        *,
        authorize: Authorize = refusal,
        config: TransportConfig | None = None,
    ) -> None:
        self.host = host
        self.on_message = on_message
        self.authorize = authorize
        self.config = config or TransportConfig()
        self.rng = rng
        self.stats: Counter[str] = Counter()
        self._use(credentials)
        self._links: dict[str, Link] = {}
        self._joiners: dict[str, asyncio.StreamWriter] = {}  # host -> its join connection
        self._listener: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    def _use(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self.identity = credentials.identity
        self._server_context = credentials.server_context()
        self._join_context = credentials.join_server_context()
        self._client_context = credentials.client_context()

    async def renew(self, credentials: Credentials) -> None:
        """Use a new certificate (renewed, or of a new role after a promotion or a
        demotion) or a rotated root from now on. Outgoing connections are reopened,
        so that peers read the new role at once; messages still queued on them are
        lost. Incoming connections keep the identity their peer had when it
        connected, as SwarmKit's long-lived streams do."""
        self._use(credentials)
        links, self._links = list(self._links.values()), {}
        for link in links:
            await link.close()

    async def forget(self, target: str) -> None:
        """Close the connection to a host that has left, and drop what is queued."""
        link = self._links.pop(target, None)
        if link is not None:
            await link.close()

    # -- life ------------------------------------------------------------------------------

    async def start(self, listen: tuple[str, int] | None = None) -> None:
        """Listen on ``listen`` (by default where ``host`` says; port 0 picks one,
        and ``host`` then names the port taken)."""
        address, port = listen if listen is not None else split_host(self.host)
        listener = socket.create_server((address, port))
        listener.setblocking(False)
        self._listener = listener
        if port == 0:
            self.host = f"{split_host(self.host)[0]}:{listener.getsockname()[1]}"
        self._spawn(self._accept(listener), "accept")

    @property
    def port(self) -> int:
        assert self._listener is not None, "not started"
        port: int = self._listener.getsockname()[1]
        return port

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        links, self._links = list(self._links.values()), {}
        for link in links:
            await link.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for writer in list(self._writers):
            writer.close()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- sending ---------------------------------------------------------------------------

    def send(self, target: str, message: ClusterMessage) -> None:
        """Queue ``message`` for ``target``; never waits. Dropped and counted when the
        peer's queue is full."""
        data = encode_message(message)
        self.stats["queued"] += 1
        joiner = self._joiners.get(target)
        if joiner is not None and isinstance(message, (JoinAccepted, JoinRefused)):
            joiner.write(frame(data))  # the joining node has no server of its own yet
            self.stats["sent"] += 1
            return
        link = self._links.get(target)
        if link is None:
            link = Link(
                self.host,
                target,
                self._client_context,
                self.identity.cluster_id,
                self.config.link,
                self.rng,
                self.stats,
            )
            self._links[target] = link
        if not link.put(message, data):
            self.stats["dropped"] += 1

    # -- receiving -------------------------------------------------------------------------

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            connection, _ = await loop.sock_accept(listener)
            self._spawn(self._incoming(connection), "incoming")

    async def _incoming(self, connection: socket.socket) -> None:
        try:
            accepted = await asyncio.wait_for(
                self._handshake(connection), self.config.handshake_timeout
            )
        except (OSError, ssl.SSLError, TimeoutError, ValueError, TLSIdentityError) as error:
            self.stats["refused_tls"] += 1
            log.info("refused a connection: %s", error)
            connection.close()
            return
        reader, writer, identity = accepted
        self._writers.add(writer)
        try:
            await self._serve(reader, writer, identity)
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _handshake(
        self, connection: socket.socket
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, PeerIdentity | None]:
        """TLS in the mode the ClientHello asks for; the identity of a member (``None``
        for a joining node), refused when it belongs to another cluster."""
        joining = client_hello_server_name(await _peek_record(connection)) == JOIN_SERVER_NAME
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=2**16, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        transport, _ = await loop.connect_accepted_socket(
            lambda: protocol,
            connection,
            ssl=self._join_context if joining else self._server_context,
            ssl_handshake_timeout=self.config.handshake_timeout,
        )
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        if joining:
            writer.write(frame(root(self.credentials.ca_pem)))
            return reader, writer, None
        try:
            identity = identity_of_der(writer.get_extra_info("ssl_object").getpeercert(True))
            if identity.cluster_id != self.identity.cluster_id:
                self.stats["refused_cluster"] += 1
                raise TLSIdentityError(
                    f"node {identity.node_id} belongs to cluster {identity.cluster_id}"
                )
        except BaseException:
            writer.transport.abort()  # an untrusted peer: no goodbye
            raise
        return reader, writer, identity

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        identity: PeerIdentity | None,
    ) -> None:
        limit = self.config.max_frame
        source = ""
        try:
            opening = await asyncio.wait_for(
                read_frame(reader, limit), self.config.handshake_timeout
            )
            if opening is None:
                return
            source = read_hello(opening)
            if identity is None:
                self._joiners[source] = writer
            while (data := await read_frame(reader, limit)) is not None:
                message = _decode(data)
                reason = self.authorize(identity, message)
                if reason is not None:
                    self.stats["refused"] += 1
                    log.warning("refused a message from %s: %s", source, reason)
                    continue
                self.stats["delivered"] += 1
                self.on_message(source, message)
        except (FrameError, MessageDecodeError) as error:
            self.stats["bad_frame"] += 1
            log.warning("closing the connection from %s: %s", source or "a peer", error)
        except (OSError, ssl.SSLError, TimeoutError) as error:
            log.info("the connection from %s ended: %s", source or "a peer", error)
        finally:
            if identity is None and self._joiners.get(source) is writer:
                del self._joiners[source]


def _decode(data: bytes) -> ClusterMessage:
    """``core.messages.decode`` of bytes from the network, any failure a
    :class:`MessageDecodeError`: the codec lets some through as they come (a missing
    field is a ``TypeError``, a bad model an ``InvalidSpec``), and bytes from a peer
    must not end the server."""
    try:
        return decode_message(data)
    except MessageDecodeError:
        raise
    except Exception as error:
        raise MessageDecodeError(f"not a cluster message: {error}") from None


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _peek_record(connection: socket.socket) -> bytes:
    """The connection's first TLS record, read without taking it off the socket, so
    that the handshake still sees it."""
    loop = asyncio.get_running_loop()
    need = 5
    while True:
        ready: asyncio.Future[None] = loop.create_future()
        fd = connection.fileno()
        loop.add_reader(fd, _settle, ready)
        try:
            await ready
        finally:
            loop.remove_reader(fd)
        data = connection.recv(need, socket.MSG_PEEK)
        if not data:
            raise ConnectionError("closed before its ClientHello")
        if len(data) >= 5:
            need = client_hello_length(data)
            if need > _HELLO_LIMIT:
                raise ValueError("a TLS record over the size limit")
        if len(data) >= need:
            return data
        await asyncio.sleep(0.01)  # part of it: the socket stays readable, do not spin
