"""The real transport on loopback: mutual TLS with certificates the cluster CA (core/ca)
makes, frames of the cluster codec, the role policy, joins, and recovery from broken
peers."""

from __future__ import annotations

import asyncio
import errno
import random
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import msgpack
import pytest

from core.ca import policy
from core.ca.issue import new_csr, sign_node_certificate
from core.ca.root import RootCA, create_root_ca
from core.messages import (
    ClusterMessage,
    ForwardedRequest,
    Heartbeat,
    HeartbeatAck,
    JoinAccepted,
    JoinRefused,
    JoinRequest,
    LogReply,
    Proxied,
    Register,
    RenewCertificate,
    StatusReport,
    decode,
    encode,
)
from core.model.node import NodeDescription
from real.tls import (
    MANAGER_ROLE,
    WORKER_ROLE,
    Credentials,
    TLSIdentityError,
    client_hello_server_name,
    identity_of_der,
    root_digest,
)
from real.transport import (
    JoinError,
    LinkConfig,
    Transport,
    TransportConfig,
    fetch_root,
    request_join,
)
from real.transport.frames import JOIN_FRAME, frame, hello, read_frame, read_root
from real.transport.transport import JOIN_IN_PROGRESS

CLUSTER = "cluster-a"
LIMIT = 64 * 1024  # the frame limit of the servers under test
FAST = TransportConfig(
    max_frame=LIMIT,
    handshake_timeout=3.0,
    link=LinkConfig(queue=64, connect_timeout=2.0, backoff_base=0.02, backoff_max=0.2),
)
DAY = 24 * policy.HOUR


# -- certificates ------------------------------------------------------------------------


@dataclass
class CA:
    """A cluster root made by core/ca, from a seeded stream and the real clock (OpenSSL
    checks validity against it); the same stream gives each node its key and serial."""

    root: RootCA
    rng: random.Random = field(repr=False)

    @classmethod
    def make(cls, seed: int = 1) -> CA:
        rng = random.Random(seed)
        return cls(create_root_ca(rng.randbytes, time.time()), rng)

    @property
    def pem(self) -> bytes:
        return self.root.cert_pem

    def issue(
        self,
        node_id: str,
        role: str = MANAGER_ROLE,
        cluster: str = CLUSTER,
        *,
        expired: bool = False,
        trust: CA | None = None,
    ) -> Credentials:
        """A node certificate as the cluster CA signs it (real-backend.md §5), valid for a
        day (an expired one ended a day ago); ``trust`` is the root the node trusts (this
        CA unless told)."""
        now = time.time()
        pair = new_csr(self.rng.randbytes)
        cert = sign_node_certificate(
            self.root,
            pair.csr_pem,
            node_id=node_id,
            role=policy.OU_ROLE[role],
            cluster_id=cluster,
            wall=now - 2 * DAY if expired else now,
            entropy=self.rng.randbytes,
            expiry=DAY,
        )
        return Credentials((trust or self).pem, cert, pair.key_pem)


@pytest.fixture(scope="module")
def ca() -> CA:
    return CA.make(seed=1)


# -- harness -------------------------------------------------------------------------------


def run(body: Callable[[], Awaitable[None]], timeout: float = 20.0) -> None:
    """Every test bounded in time."""

    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await body()

    asyncio.run(bounded())


class Node:
    """A transport and what it has received."""

    def __init__(
        self, credentials: Credentials, seed: int = 1, config: TransportConfig = FAST
    ) -> None:
        self.inbox: asyncio.Queue[tuple[str, ClusterMessage]] = asyncio.Queue()
        self.transport = Transport(
            "127.0.0.1:0",
            credentials,
            lambda source, message: self.inbox.put_nowait((source, message)),
            random.Random(seed),
            config=config,
        )

    @property
    def host(self) -> str:
        return self.transport.host

    async def next(self, timeout: float = 5.0) -> tuple[str, ClusterMessage]:
        return await asyncio.wait_for(self.inbox.get(), timeout)


@asynccontextmanager
async def nodes(
    *credentials: Credentials, config: TransportConfig = FAST
) -> AsyncIterator[list[Node]]:
    started: list[Node] = []
    try:
        for c in credentials:
            node = Node(c, config=config)
            await node.transport.start()
            started.append(node)
        yield started
    finally:
        for node in started:
            await node.transport.close()


def _description() -> NodeDescription:
    return NodeDescription(hostname="w1")


def _register() -> Register:
    return Register("w1", _description())


async def _raw(
    host: str, context: ssl.SSLContext, server_name: str = "swarm-manager"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    address, port = host.rsplit(":", 1)
    return await asyncio.open_connection(
        address, int(port), ssl=context, server_hostname=server_name
    )


async def _closed_by_peer(reader: asyncio.StreamReader) -> bool:
    """The server ended the connection (EOF, a reset, or a TLS alert) within a few
    seconds; what it sent before (a welcome, a root) is read and dropped."""
    try:
        await asyncio.wait_for(reader.read(), 5.0)
    except (ssl.SSLError, ConnectionError):
        pass
    except TimeoutError:
        return False
    return True


async def until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Wait, bounded, for ``condition``: counters move when the loop gets to them,
    later on a loaded machine, so tests wait for them rather than sleep and look."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


# -- exchange ------------------------------------------------------------------------------


def test_two_peers_exchange_messages_both_ways(ca: CA) -> None:
    async def body() -> None:
        async with nodes(ca.issue("m1"), ca.issue("w1", WORKER_ROLE)) as (manager, worker):
            worker.transport.send(manager.host, _register())
            source, message = await manager.next()
            assert (source, message) == (worker.host, _register())
            manager.transport.send(worker.host, HeartbeatAck("s1", 5.0, 3, (manager.host,)))
            source, answer = await worker.next()
            assert (source, answer) == (manager.host, HeartbeatAck("s1", 5.0, 3, (manager.host,)))
            for i in range(20):  # one connection each way carries many, in order
                worker.transport.send(manager.host, Heartbeat("w1", f"s{i}"))
            got = [await manager.next() for _ in range(20)]
            assert got == [(worker.host, Heartbeat("w1", f"s{i}")) for i in range(20)]
            assert manager.transport.stats["connected"] == worker.transport.stats["connected"] == 1

    run(body)


def test_a_link_is_dropped_once_its_data_goes_unacknowledged(ca: CA) -> None:
    """A cut peer stops acknowledging: the link fails after ``unacked_timeout`` and
    reconnects with its own backoff, not the kernel's retransmission backoff (which
    held links shut for up to 25 s after a 40 s partition healed)."""

    async def body() -> None:
        async with nodes(ca.issue("m1"), ca.issue("m2")) as (client, server):
            client.transport.send(server.host, Heartbeat("m1", "s"))
            await server.next()
            writer = client.transport._links[server.host]._writer
            assert writer is not None
            sock = writer.get_extra_info("socket")
            option = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)
            assert option == int(FAST.link.unacked_timeout * 1000)

    run(body)


def test_a_tls_1_2_member_is_served(ca: CA) -> None:
    async def body() -> None:
        async with nodes(ca.issue("m1")) as (server,):
            context = ca.issue("m2").client_context()
            context.maximum_version = ssl.TLSVersion.TLSv1_2
            _reader, writer = await _raw(server.host, context)
            try:
                assert writer.get_extra_info("ssl_object").version() == "TLSv1.2"
                writer.write(frame(hello("127.0.0.1:2")) + frame(encode(Heartbeat("m2", "s"))))
                assert await server.next() == ("127.0.0.1:2", Heartbeat("m2", "s"))
            finally:
                writer.close()

    run(body)


def test_a_full_peer_queue_drops_without_blocking(ca: CA) -> None:
    async def body() -> None:
        node = Node(ca.issue("m1"))
        node.transport.config = TransportConfig(link=LinkConfig(queue=2, backoff_max=0.05))
        await node.transport.start()
        try:
            for i in range(5):  # nobody listens there; send returns at once every time
                node.transport.send("127.0.0.1:9", Heartbeat("m1", str(i)))
            assert node.transport.stats["dropped"] == 3
        finally:
            await node.transport.close()

    run(body)


def test_reconnects_after_the_server_restarts(ca: CA) -> None:
    async def body() -> None:
        server_credentials = ca.issue("m2")
        async with nodes(ca.issue("m1"), server_credentials) as (client, server):
            client.transport.send(server.host, Heartbeat("m1", "before"))
            assert (await server.next())[1] == Heartbeat("m1", "before")
            host = server.host
            await server.transport.close()
            restarted = Node(server_credentials)
            restarted.transport.host = host
            await restarted.transport.start()
            try:
                for i in range(200):  # until the link has noticed, backed off and reconnected
                    client.transport.send(host, Heartbeat("m1", f"after-{i}"))
                    try:
                        source, message = await restarted.next(timeout=0.05)
                        break
                    except TimeoutError:
                        continue
                else:
                    pytest.fail("no message reached the restarted server")
                assert source == client.host and isinstance(message, Heartbeat)
                assert client.transport.stats["connected"] == 2
            finally:
                await restarted.transport.close()

    run(body)


def test_the_listener_survives_a_failed_accept(ca: CA) -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        accept = loop.sock_accept
        failed: list[int] = []

        async def failing_once(listener: socket.socket) -> tuple[socket.socket, Any]:
            if not failed:
                failed.append(listener.getsockname()[1])
                raise OSError(errno.EMFILE, "Too many open files")
            return await accept(listener)

        loop.sock_accept = failing_once  # type: ignore[method-assign,assignment]
        async with nodes(ca.issue("m1"), ca.issue("m2")) as (a, b):
            a.transport.send(b.host, Heartbeat("m1", "to b"))
            b.transport.send(a.host, Heartbeat("m2", "to a"))
            assert (await a.next())[1] == Heartbeat("m2", "to a")
            assert (await b.next())[1] == Heartbeat("m1", "to b")
            assert a.transport.stats["accept_failed"] + b.transport.stats["accept_failed"] == 1
            assert failed in ([a.transport.port], [b.transport.port])

    run(body)


# -- refused at the TLS layer ----------------------------------------------------------------


def _bare_client(trust: bytes) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(cadata=trust.decode())
    return context


@pytest.mark.parametrize("who", ["no certificate", "another CA", "expired", "another cluster"])
def test_an_untrusted_client_is_refused(ca: CA, who: str) -> None:
    other = CA.make(seed=2)

    async def body() -> None:
        async with nodes(ca.issue("m1")) as (server,):
            if who == "no certificate":
                context = _bare_client(ca.pem)
            elif who == "another CA":
                context = other.issue("m9", trust=ca).client_context()
            elif who == "expired":
                context = ca.issue("m9", expired=True).client_context()
            else:
                context = ca.issue("m9", cluster="cluster-b").client_context()
            try:
                reader, writer = await _raw(server.host, context)
            except (ssl.SSLError, ConnectionError):
                pass  # refused during the handshake itself (TLS 1.2 does it so)
            else:
                writer.write(frame(hello("127.0.0.1:1")) + frame(encode(Heartbeat("m9", "s"))))
                assert await _closed_by_peer(reader)
                writer.close()
            stats = server.transport.stats
            await until(lambda: stats["refused_tls"] >= 1, "the server to refuse")
            assert stats["delivered"] == 0 and server.inbox.empty()
            if who == "another cluster":  # the chain is good: refused right after
                assert stats["refused_cluster"] == 1
            assert stats["refused_tls"] == 1

    run(body)


def test_a_transport_with_an_expired_certificate_reaches_nobody(ca: CA) -> None:
    async def body() -> None:
        async with nodes(ca.issue("m1"), ca.issue("m2", expired=True)) as (server, expired):
            for i in range(5):
                expired.transport.send(server.host, Heartbeat("m2", str(i)))
            await until(lambda: expired.transport.stats["connect_failed"] >= 2, "retries")
            assert server.inbox.empty() and server.transport.stats["refused_tls"] >= 1
            assert expired.transport.stats["sent"] == expired.transport.stats["connected"] == 0

    run(body)


def test_a_client_refuses_a_server_of_another_cluster(ca: CA) -> None:
    async def body() -> None:
        async with nodes(ca.issue("m1"), ca.issue("m2", cluster="cluster-b")) as (client, alien):
            client.transport.send(alien.host, Heartbeat("m1", "s"))
            await until(lambda: client.transport.stats["connect_failed"] >= 1, "the refusal")
            assert alien.inbox.empty()
            assert client.transport.stats["sent"] == 0

    run(body)


def test_a_refused_client_backs_off_and_counts_nothing_as_sent(ca: CA) -> None:
    """With TLS 1.3 a client's handshake ends before the server has checked the
    client's certificate: only the server's welcome says it was let in."""

    async def body() -> None:
        async with nodes(ca.issue("m1"), CA.make(seed=3).issue("m9", trust=ca)) as (
            server,
            refused,
        ):
            for i in range(200):
                refused.transport.send(server.host, Heartbeat("m9", str(i)))
            handshakes, stats = server.transport.stats, refused.transport.stats
            await until(
                lambda: handshakes["refused_tls"] >= 4 or stats["connected"] > 0,
                "four refused handshakes",
            )
            assert stats["connected"] == stats["sent"] == stats["lost"] == 0
            # every handshake a failed attempt, each followed by a longer backoff
            assert stats["connect_failed"] >= handshakes["refused_tls"] - 1
            assert handshakes["delivered"] == 0 and server.inbox.empty()

    run(body)


# -- roles -------------------------------------------------------------------------------------


def test_a_worker_certificate_is_refused_on_manager_only_messages(ca: CA) -> None:
    async def body() -> None:
        async with nodes(ca.issue("m1"), ca.issue("w1", WORKER_ROLE)) as (manager, worker):
            forged = ForwardedRequest(worker.host, "r1", "service_create", ())
            worker.transport.send(manager.host, forged)
            worker.transport.send(manager.host, Proxied(worker.host, Heartbeat("w1", "x")))
            worker.transport.send(manager.host, Heartbeat("w1", "s"))
            source, message = await manager.next()  # the connection was kept
            assert (source, message) == (worker.host, Heartbeat("w1", "s"))
            assert manager.transport.stats["refused"] == 2
            assert manager.inbox.empty()

    run(body)


def test_a_worker_speaks_only_for_itself(ca: CA) -> None:
    async def body() -> None:
        members = ca.issue("m1"), ca.issue("w1", WORKER_ROLE), ca.issue("m2")
        async with nodes(*members) as (manager, worker, relay):
            spoofs: list[ClusterMessage] = [
                Register("w2", _description()),
                Heartbeat("w2", "s"),
                StatusReport("w2", "s", 1, ()),
                LogReply("r1", "w2", ()),
                RenewCertificate("w2", b"csr"),
            ]
            for spoof in spoofs:
                worker.transport.send(manager.host, spoof)
            worker.transport.send(manager.host, RenewCertificate("w1", b"csr"))  # may renew
            assert await manager.next() == (worker.host, RenewCertificate("w1", b"csr"))
            worker.transport.send(manager.host, Heartbeat("w1", "own"))
            assert await manager.next() == (worker.host, Heartbeat("w1", "own"))
            assert manager.transport.stats["refused"] == len(spoofs)
            relayed = Proxied(worker.host, Heartbeat("w1", "relayed"))  # a manager relays
            relay.transport.send(manager.host, relayed)
            relay.transport.send(manager.host, Heartbeat("w1", "for its agent"))
            assert await manager.next() == (relay.host, relayed)
            assert await manager.next() == (relay.host, Heartbeat("w1", "for its agent"))
            assert manager.transport.stats["refused"] == len(spoofs)

    run(body)


def test_disconnect_closes_every_connection_of_a_node(ca: CA) -> None:
    async def body() -> None:
        members = ca.issue("m1"), ca.issue("w1", WORKER_ROLE), ca.issue("m2")
        async with nodes(*members) as (manager, worker, other):
            worker.transport.send(manager.host, Heartbeat("w1", "s"))
            other.transport.send(manager.host, Heartbeat("m2", "s"))
            manager.transport.send(worker.host, HeartbeatAck("s", 5.0))
            manager.transport.send(other.host, HeartbeatAck("s", 5.0))
            for node in (manager, manager, worker, other):
                await node.next()
            assert await manager.transport.disconnect("w1") == 2  # its link and ours to it
            stats = worker.transport.stats
            await until(lambda: stats["disconnected"] == 1, "the worker's link to close")
            assert await manager.transport.disconnect("w1") == 0
            other.transport.send(manager.host, Heartbeat("m2", "after"))
            manager.transport.send(other.host, HeartbeatAck("after", 5.0))
            assert (await manager.next())[1] == Heartbeat("m2", "after")
            assert (await other.next())[1] == HeartbeatAck("after", 5.0)
            assert other.transport.stats["connected"] == 1  # the others' lived on
            assert manager.transport.stats["connected"] == 2

    run(body)


def test_a_promoted_worker_renews_its_certificate_and_may_then_forward(ca: CA) -> None:
    async def body() -> None:
        async with nodes(ca.issue("m1"), ca.issue("w1", WORKER_ROLE)) as (manager, worker):
            request = ForwardedRequest(worker.host, "r1", "service_create", ())
            worker.transport.send(manager.host, request)
            worker.transport.send(manager.host, Heartbeat("w1", "marker"))
            assert (await manager.next())[1] == Heartbeat("w1", "marker")
            assert manager.transport.stats["refused"] == 1
            await worker.transport.renew(ca.issue("w1", MANAGER_ROLE))
            worker.transport.send(manager.host, request)
            assert await manager.next() == (worker.host, request)
            assert worker.transport.identity.manager

    run(body)


def test_a_forgotten_host_is_no_longer_connected(ca: CA) -> None:
    async def body() -> None:
        async with nodes(ca.issue("m1"), ca.issue("m2")) as (a, b):
            a.transport.send(b.host, Heartbeat("m1", "s"))
            await b.next()
            await a.transport.forget(b.host)
            a.transport.send(b.host, Heartbeat("m1", "again"))
            assert (await b.next())[1] == Heartbeat("m1", "again")
            assert a.transport.stats["connected"] == 2

    run(body)


def test_manager_only_messages_are_not_sent_to_a_worker(ca: CA) -> None:
    async def body() -> None:
        async with nodes(ca.issue("m1"), ca.issue("w1", WORKER_ROLE)) as (manager, worker):
            manager.transport.send(worker.host, ForwardedRequest(manager.host, "r1", "x", ()))
            manager.transport.send(worker.host, HeartbeatAck("s", 5.0))
            assert (await worker.next())[1] == HeartbeatAck("s", 5.0)
            assert worker.inbox.empty()
            assert manager.transport.stats["refused_to_send"] == 1

    run(body)


# -- broken frames -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        (LIMIT + 1).to_bytes(4, "big") + b"x" * 16,  # over the limit: refused unread
        frame(b"\xc1 not msgpack"),  # undecodable
        frame(b"\x93\x01\xa7Nothing\x90"),  # msgpack, not a cluster message
        frame(msgpack.packb([1, "Heartbeat", ["w1"]])),  # a field missing
        frame(msgpack.packb([1, "Register", ["w1", {"$model": "NodeDescription", "v": 5}]])),
        frame(msgpack.packb([1, "RaftEnvelope", [{"$raft": b"\x00"}]])),
    ],
    ids=["oversize", "garbage", "unknown message", "missing field", "bad model", "bad raft"],
)
def test_a_bad_frame_closes_only_its_connection(ca: CA, bad: bytes) -> None:
    async def body() -> None:
        async with nodes(ca.issue("m1"), ca.issue("m2")) as (server, peer):
            peer.transport.send(server.host, Heartbeat("m2", "before"))
            assert (await server.next())[1] == Heartbeat("m2", "before")
            reader, writer = await _raw(server.host, ca.issue("m3").client_context())
            try:
                writer.write(frame(hello("127.0.0.1:3")) + bad)
                assert await _closed_by_peer(reader)
            finally:
                writer.close()
            assert server.transport.stats["bad_frame"] == 1
            peer.transport.send(server.host, Heartbeat("m2", "after"))
            assert (await server.next())[1] == Heartbeat("m2", "after")
            assert peer.transport.stats["connected"] == 1  # the good connection lived on

    run(body)


# -- joining -----------------------------------------------------------------------------------


def _pinned(ca_pem: bytes) -> Callable[[bytes], str | None]:
    digest = root_digest(ca_pem)

    def check(presented: bytes) -> str | None:
        if root_digest(presented) == digest:
            return None
        return f"remote CA does not match fingerprint. Expected: {digest}"

    return check


def _join_request(token: str = "SWMTKN-1-x") -> JoinRequest:
    return JoinRequest("127.0.0.1:7", token, _description())


def test_a_node_without_a_certificate_joins_on_the_same_port(ca: CA) -> None:
    async def body() -> None:
        async with nodes(ca.issue("m1")) as (manager,):

            async def answer() -> None:
                source, message = await manager.next()
                assert isinstance(message, JoinRequest) and source == "127.0.0.1:7"
                manager.transport.send(source, JoinAccepted("w7", False, 0, ((1, manager.host),)))

            answering = asyncio.create_task(answer())
            root, reply = await request_join(
                manager.host, _join_request(), _pinned(ca.pem), root=ca.pem
            )
            await answering
            assert root == ca.pem
            assert reply == JoinAccepted("w7", False, 0, ((1, manager.host),))

    run(body)


def test_fetching_the_root_sends_nothing(ca: CA) -> None:
    """A joining node's first step: the manager's root, to check against its token
    before the token goes on the wire."""

    async def body() -> None:
        async with nodes(ca.issue("m1")) as (manager,):
            assert await fetch_root(manager.host, timeout=5) == ca.pem
            await until(lambda: manager.transport.stats["join_closed"] == 1, "the probe to end")
            assert manager.inbox.empty() and manager.transport.stats["delivered"] == 0

    run(body)


def test_a_join_to_a_manager_of_another_root_is_refused_before_the_token_is_sent(ca: CA) -> None:
    async def body() -> None:
        other = CA.make(seed=4)
        async with nodes(other.issue("m1")) as (impostor,):
            for root, refusal in (
                (ca.pem, "not from the swarm's root CA"),  # its chain, in the handshake
                (other.pem, "remote CA does not match fingerprint"),  # the root it opens with
            ):
                with pytest.raises(JoinError, match=refusal):
                    await request_join(
                        impostor.host, _join_request(), _pinned(ca.pem), root=root, timeout=5
                    )
            await until(lambda: impostor.transport.stats["join_closed"] == 2, "the joins to end")
            assert impostor.inbox.empty() and impostor.transport.stats["delivered"] == 0

    run(body)


def test_a_join_through_a_worker_is_refused(ca: CA) -> None:
    async def body() -> None:
        async with nodes(ca.issue("w1", WORKER_ROLE)) as (worker,):
            with pytest.raises(JoinError, match="not a manager"):
                await request_join(
                    worker.host, _join_request(), _pinned(ca.pem), root=ca.pem, timeout=5
                )

    run(body)


def test_a_join_connection_carries_nothing_but_a_join(ca: CA) -> None:
    async def body() -> None:
        async with nodes(ca.issue("m1")) as (manager,):
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            reader, writer = await _raw(manager.host, context, server_name="swarm-ca")
            try:
                writer.write(frame(hello("127.0.0.1:8")) + frame(encode(Heartbeat("x", "s"))))
                writer.write(frame(encode(_join_request())))
                source, message = await manager.next()
                assert (source, message) == ("127.0.0.1:8", _join_request())
                assert manager.transport.stats["refused"] == 1
                assert read_root((await read_frame(reader, LIMIT)) or b"") == ca.pem
            finally:
                writer.close()

    run(body)


def _join_client() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


async def _joining(host: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw join connection, its root read."""
    reader, writer = await _raw(host, _join_client(), server_name="swarm-ca")
    assert (await asyncio.wait_for(read_frame(reader, LIMIT), 5.0)) is not None
    return reader, writer


def test_an_oversize_join_frame_closes_the_join(ca: CA) -> None:
    async def body() -> None:
        async with nodes(ca.issue("m1"), config=replace(FAST, max_frame=1 << 20)) as (manager,):
            reader, writer = await _joining(manager.host)
            try:
                writer.write(frame(hello("127.0.0.1:8")))
                writer.write((JOIN_FRAME + 1).to_bytes(4, "big") + b"x" * 16)
                assert await _closed_by_peer(reader)
            finally:
                writer.close()
            assert manager.transport.stats["bad_frame"] == 1

    run(body)


def test_an_idle_joiner_is_closed(ca: CA) -> None:
    async def body() -> None:
        config = replace(FAST, handshake_timeout=1.5)
        async with nodes(ca.issue("m1"), config=config) as (manager,):
            reader, writer = await _joining(manager.host)
            try:
                writer.write(frame(hello("127.0.0.1:8")))  # and no JoinRequest
                assert await _closed_by_peer(reader)
            finally:
                writer.close()
            await until(lambda: manager.transport.stats["join_closed"] == 1, "the join to end")
            assert manager.inbox.empty()

    run(body)


def test_joins_at_once_are_capped(ca: CA) -> None:
    async def body() -> None:
        async with nodes(ca.issue("m1"), config=replace(FAST, max_joiners=2)) as (manager,):
            first, second = await _joining(manager.host), await _joining(manager.host)
            try:
                with pytest.raises((ssl.SSLError, ConnectionError)):
                    await _joining(manager.host)
                assert manager.transport.stats["refused_join"] == 1
                first[1].close()
                stats = manager.transport.stats
                await until(lambda: stats["join_closed"] == 1, "a join to end")
                _reader, again = await _joining(manager.host)  # room again
                again.close()
            finally:
                first[1].close()
                second[1].close()

    run(body)


def test_a_second_join_under_the_same_name_cannot_take_the_answer(ca: CA) -> None:
    async def body() -> None:
        async with nodes(ca.issue("m1")) as (manager,):
            joining = asyncio.create_task(
                request_join(
                    manager.host, _join_request(), _pinned(ca.pem), root=ca.pem, timeout=10
                )
            )
            source, _ = await manager.next()
            reader, writer = await _joining(manager.host)
            try:  # the same name, a token of its own
                writer.write(frame(hello(source)) + frame(encode(_join_request("guess"))))
                answer = await asyncio.wait_for(read_frame(reader, LIMIT), 5.0)
                assert decode(answer or b"") == JoinRefused(JOIN_IN_PROGRESS)
                assert await _closed_by_peer(reader)
            finally:
                writer.close()
            accepted = JoinAccepted("w7", False, 0, ((1, manager.host),))
            manager.transport.send(source, accepted)
            assert (await joining)[1] == accepted
            assert manager.inbox.empty()

    run(body)


# -- the ClientHello reader ------------------------------------------------------------------


def _client_hello(server_name: str | None) -> bytes:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


@pytest.mark.parametrize("name", ["swarm-ca", "swarm-manager", None])
def test_the_server_name_is_read_from_the_client_hello(name: str | None) -> None:
    record = _client_hello(name)
    assert client_hello_server_name(record) == name
    for cut in (3, 10, len(record) // 2, len(record) - 1):
        with pytest.raises(ValueError):
            client_hello_server_name(record[:cut])


def test_a_peer_without_a_certificate_has_no_identity() -> None:
    """Were the server ever to stop requiring client certificates, the connection is
    refused as any unusable certificate is, not left to kill its task with a TypeError."""
    with pytest.raises(TLSIdentityError, match="no certificate"):
        identity_of_der(None)
