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
connection, which then closes. Being unauthenticated, join connections are held
short: small frames, a deadline for the request and one for the answer, and only
``max_joiners`` of them at once. Everything else that arrives is checked against the
sender's certificate by the ``authorize`` hook (:func:`real.transport.policy.refusal`
by default): a refused message is dropped and counted, the connection kept, as
SwarmKit answers a refused RPC and keeps the stream. A connection that breaks the
protocol (a frame over the size limit, bytes that do not decode) is closed; the
others are served on.

The hello is the sender's word, bounded by its certificate: a member could name
another member's address as its own (misdirecting answers), never send more than its
role allows. The receiving driver may compare it with the peer's node ID if it knows
both (``authorize`` gets the certificate's identity with every message). A joining
node's hello names where its answer goes: while a join under that name waits for its
answer, another join under it is refused, so that it cannot take that answer.
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

from core.ca.chain import split_pems
from core.messages import (
    ClusterMessage,
    JoinAccepted,
    JoinRefused,
    JoinRequest,
    MessageDecodeError,
)
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
from real.transport.delay import DelayLine
from real.transport.frames import (
    JOIN_FRAME,
    MAX_FRAME,
    FrameError,
    frame,
    read_frame,
    read_hello,
    root,
    split_host,
    welcome,
)
from real.transport.link import Link, LinkConfig
from real.transport.policy import refusal

log = logging.getLogger(__name__)

Receiver = Callable[[str, ClusterMessage], None]
Authorize = Callable[[PeerIdentity | None, ClusterMessage], str | None]
_HELLO_LIMIT = 18 * 1024  # a TLS record's most: 2^14 bytes plus header and expansion
_ACCEPT_BACKOFF, _ACCEPT_BACKOFF_MAX = 0.1, 2.0  # seconds, after a failed accept
JOIN_IN_PROGRESS = "a join from this address is already in progress"


@dataclass(frozen=True)
class TransportConfig:
    max_frame: int = MAX_FRAME
    handshake_timeout: float = 10.0  # ClientHello, TLS handshake, hello (and JoinRequest)
    join_timeout: float = 30.0  # a JoinRequest's answer (the leader commits the node first)
    max_joiners: int = 32  # join connections at once; more are refused until one ends
    link: LinkConfig = field(default_factory=LinkConfig)


class Transport:
    """One node's end of the network: a listener on ``host`` and a link per peer.

    ``stats`` counts, like the simulated network's: ``queued``, ``sent``, ``dropped``
    (a full peer queue), ``lost`` (written to a connection that broke, or a join
    answer with no join waiting for it), ``refused_to_send`` (manager-only, to a
    worker), ``connected`` (welcomed by the server), ``disconnected``,
    ``connect_failed``; and on the receiving side ``delivered``, ``refused`` (by
    ``authorize``, or a second join under one name), ``refused_tls`` (handshake or
    identity), ``refused_cluster`` (of those, another cluster's certificate),
    ``bad_frame``, ``refused_join`` (over ``max_joiners``), ``join_closed`` (join
    connections ended) and ``accept_failed``.
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
        served_root: Callable[[], bytes] | None = None,
    ) -> None:
        self.host = host
        self.served_root = served_root
        self.on_message = on_message
        self.authorize = authorize
        self.config = config or TransportConfig()
        self.rng = rng
        self.stats: Counter[str] = Counter()
        self._use(credentials)
        self._links: dict[str, Link] = {}
        # host -> the join connection waiting for its answer, and whether it came
        self._joiners: dict[str, tuple[asyncio.StreamWriter, asyncio.Future[None]]] = {}
        self._joins = 0  # join connections open
        self._members: dict[asyncio.StreamWriter, PeerIdentity] = {}  # incoming, by peer
        self._listener: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        #: What is sent waits this long first (``delay HOST 50ms`` on test hosts).
        self.delay = DelayLine()

    def _use(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self.identity = credentials.identity
        self._server_context = credentials.server_context()
        self._join_context = credentials.join_server_context()
        self._client_context = credentials.client_context()

    async def renew(self, credentials: Credentials) -> None:
        """Use a new certificate or new roots from now on. A certificate of another
        identity (a promotion or a demotion: a new role) reopens the outgoing
        connections, so that peers read the new role at once; messages still queued
        on them are lost. Anything else (a renewal, a root rotation's roots or
        intermediate) only changes what new connections use: the links and their
        queues stay, as SwarmKit's connections outlive a renewal. Incoming
        connections keep the identity their peer had when it connected, as
        SwarmKit's long-lived streams do."""
        same = credentials.identity == self.identity
        self._use(credentials)
        if same:
            for target in sorted(self._links):
                self._links[target].use(self._client_context)
            return
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
        self.delay.close()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        links, self._links = list(self._links.values()), {}
        for link in links:
            await link.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for writer in [*self._writers, *self._members]:
            writer.close()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- sending ---------------------------------------------------------------------------

    def send(self, target: str, message: ClusterMessage) -> None:
        """Queue ``message`` for ``target`` (after :attr:`delay`, if a test set one);
        never waits. Dropped and counted when the peer's queue is full."""
        data = encode_message(message)
        self.stats["queued"] += 1
        if isinstance(message, (JoinAccepted, JoinRefused)):
            self._answer_join(target, data)
            return
        self.delay.put(lambda: self._enqueue(target, message, data))

    def _enqueue(self, target: str, message: ClusterMessage, data: bytes) -> None:
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

    def _answer_join(self, target: str, data: bytes) -> None:
        """A joining node has no server of its own yet: its answer goes on the
        connection its request came on, or nowhere."""
        joiner = self._joiners.get(target)
        if joiner is None or joiner[1].done():
            self.stats["lost"] += 1
            log.info("no join from %s is waiting for an answer", target)
            return
        writer, answered = joiner
        writer.write(frame(data))
        answered.set_result(None)
        self.stats["sent"] += 1

    # -- receiving -------------------------------------------------------------------------

    async def _accept(self, listener: socket.socket) -> None:
        """Accept until closed. A failed accept (no file descriptors left, a
        connection reset before it was taken) is logged and retried after a pause
        that grows while they last: the listener must outlive them."""
        loop = asyncio.get_running_loop()
        backoff = 0.0
        while True:
            try:
                connection, _ = await loop.sock_accept(listener)
            except OSError as error:
                if listener.fileno() < 0:
                    return  # closed
                self.stats["accept_failed"] += 1
                backoff = min(_ACCEPT_BACKOFF + 2 * backoff, _ACCEPT_BACKOFF_MAX)
                log.warning("cannot accept a connection on %s: %s", self.host, error)
                await asyncio.sleep(backoff)
                continue
            backoff = 0.0
            self._spawn(self._incoming(connection), "incoming")

    async def _incoming(self, connection: socket.socket) -> None:
        try:
            async with asyncio.timeout(self.config.handshake_timeout):
                record = await _peek_record(connection)
            joining = client_hello_server_name(record) == JOIN_SERVER_NAME
        except (OSError, TimeoutError, ValueError) as error:
            self._refuse(connection, error)
            return
        if not joining:
            await self._member(connection)
            return
        if self._joins >= self.config.max_joiners:
            self.stats["refused_join"] += 1
            log.warning("refused a joining node: %d joins already in progress", self._joins)
            connection.close()
            return
        self._joins += 1
        try:
            await self._join(connection)
        finally:
            self._joins -= 1
            self.stats["join_closed"] += 1

    def _refuse(self, connection: socket.socket, error: BaseException) -> None:
        self.stats["refused_tls"] += 1
        log.info("refused a connection: %s", error)
        connection.close()

    async def _tls(
        self, connection: socket.socket, context: ssl.SSLContext
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=2**16, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        transport, _ = await loop.connect_accepted_socket(
            lambda: protocol,
            connection,
            ssl=context,
            ssl_handshake_timeout=self.config.handshake_timeout,
            ssl_shutdown_timeout=self.config.handshake_timeout,
        )
        return reader, asyncio.StreamWriter(transport, protocol, reader, loop)

    # -- members -----------------------------------------------------------------------------

    async def _member(self, connection: socket.socket) -> None:
        try:
            async with asyncio.timeout(self.config.handshake_timeout):
                reader, writer, identity = await self._handshake(connection)
        except (OSError, ssl.SSLError, TimeoutError, TLSIdentityError) as error:
            self._refuse(connection, error)
            return
        self._members[writer] = identity
        try:
            await self._serve(reader, writer, identity)
        finally:
            self._members.pop(writer, None)
            writer.close()

    async def _handshake(
        self, connection: socket.socket
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, PeerIdentity]:
        """Mutual TLS; the member's identity, refused when it belongs to another
        cluster, welcomed otherwise (its link counts itself connected only then)."""
        reader, writer = await self._tls(connection, self._server_context)
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
        writer.write(frame(welcome(identity.node_id)))
        return reader, writer, identity

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        identity: PeerIdentity,
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
            while (data := await read_frame(reader, limit)) is not None:
                message = _decode(data)
                if self._refused(identity, source, message):
                    continue
                self.stats["delivered"] += 1
                self.on_message(source, message)
        except (FrameError, MessageDecodeError) as error:
            self._bad_frame(source, error)
        except (OSError, ssl.SSLError, TimeoutError) as error:
            log.info("the connection from %s ended: %s", source or "a peer", error)

    def _refused(self, sender: PeerIdentity | None, source: str, message: ClusterMessage) -> bool:
        reason = self.authorize(sender, message)
        if reason is not None:
            self.stats["refused"] += 1
            log.warning("refused a message from %s: %s", source, reason)
        return reason is not None

    def _bad_frame(self, source: str, error: Exception) -> None:
        self.stats["bad_frame"] += 1
        log.warning("closing the connection from %s: %s", source or "a peer", error)

    async def disconnect(self, node_id: str) -> int:
        """Close every connection to and from node ``node_id`` (removed from the
        cluster, or demoted: its links reopen, reading its new certificate); how many
        were closed. Its certificate stays valid: refusing it from now on is the
        ``authorize`` hook's business."""
        closed = 0
        for writer, identity in list(self._members.items()):
            if identity.node_id == node_id:
                writer.transport.abort()
                closed += 1
        for target in sorted(self._links):
            link = self._links[target]
            if link.peer is not None and link.peer.node_id == node_id:
                del self._links[target]
                await link.close()
                closed += 1
        return closed

    # -- joining nodes -----------------------------------------------------------------------

    async def _join(self, connection: socket.socket) -> None:
        """A node without a certificate: the root, its hello and one ``JoinRequest``
        within the handshake timeout, in frames of at most ``JOIN_FRAME`` bytes; then
        the answer on this connection (:meth:`send`), which closes it."""
        try:
            async with asyncio.timeout(self.config.handshake_timeout):
                reader, writer = await self._tls(connection, self._join_context)
        except (OSError, ssl.SSLError, TimeoutError) as error:
            self._refuse(connection, error)
            return
        writer.write(frame(root(self._cluster_root())))
        self._writers.add(writer)
        source = ""
        try:
            async with asyncio.timeout(self.config.handshake_timeout):
                opening = await read_frame(reader, JOIN_FRAME)
                if opening is None:
                    return
                source = read_hello(opening)
                request = await self._join_request(reader, source)
            await self._answer(source, request, writer)
            writer.close()  # after the answer, which closing sends first
            await writer.wait_closed()
        except (FrameError, MessageDecodeError) as error:
            self._bad_frame(source, error)
        except (OSError, ssl.SSLError, TimeoutError) as error:
            log.info("the join from %s ended: %s", source or "a node", error)
        finally:
            self._writers.discard(writer)
            if not writer.transport.is_closing():
                writer.transport.abort()

    def _cluster_root(self) -> bytes:
        """The root a joining node's token must name: the store's (``served_root``),
        which moves to the new root as soon as a rotation finishes, whatever this
        node trusts yet; else the first of the roots trusted (a second is the one a
        rotation moves to)."""
        served = self.served_root() if self.served_root is not None else b""
        return served or cluster_root_pem(self.credentials.ca_pem)

    async def _join_request(self, reader: asyncio.StreamReader, source: str) -> JoinRequest:
        while True:
            data = await read_frame(reader, JOIN_FRAME)
            if data is None:
                raise ConnectionError("closed before its JoinRequest")
            message = _decode(data)
            if not self._refused(None, source, message) and isinstance(message, JoinRequest):
                return message

    async def _answer(
        self, source: str, request: JoinRequest, writer: asyncio.StreamWriter
    ) -> None:
        """Deliver ``request``; its answer goes back on this connection. The answer is
        sent to ``source``, the name the joining node chose: a second join claiming
        the same name while this one waits is refused, or it would take this
        answer."""
        if source in self._joiners:
            self.stats["refused"] += 1
            log.warning("refused a join from %s: another is in progress", source)
            writer.write(frame(encode_message(JoinRefused(JOIN_IN_PROGRESS))))
            await writer.drain()
            return
        answered = asyncio.get_running_loop().create_future()
        self._joiners[source] = (writer, answered)
        try:
            self.stats["delivered"] += 1
            self.on_message(source, request)
            await asyncio.wait_for(answered, self.config.join_timeout)
            await writer.drain()
        finally:
            del self._joiners[source]


def cluster_root_pem(ca_pem: bytes) -> bytes:
    """The first root of a trust bundle (the whole bytes when none parses)."""
    blocks = split_pems(ca_pem)
    return blocks[0] if blocks else ca_pem


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
