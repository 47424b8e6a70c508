"""The embedded DNS server: what answers at 127.0.0.11:53 inside every task container.

Docker's resolver (libnetwork ``resolver.go``, real-backend.md §1.4) opens a UDP and a TCP
socket on 127.0.0.11, port 0, *inside* the container's network namespace but serves them
from the daemon; nat rules in the container send 127.0.0.11:53 to those ports and give the
replies their source port 53 back. Answers come from :mod:`core.dataplane.names`:

- A: a swarm name's addresses, TTL ``DNS_TTL``, shuffled when there are several;
- AAAA for a swarm name: no records (NOERROR), as overlays are IPv4 here;
- PTR: the swarm name holding an address;
- anything else (and a service with no running task, as Docker has no record for it) is
  forwarded to the host's servers from the daemon's own namespace; when none answers,
  SERVFAIL. A packet that is no DNS query never stops the server.

:func:`answer` is the pure part (a request and the states in, a reply out), :func:`respond`
adds the wire (bytes in, bytes out), :class:`EmbeddedDns` the sockets: one asyncio loop in
one thread serves every container's sockets; forwarding, which blocks on the upstream
servers, runs in a small pool so that a slow upstream stalls no other query.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dnslib import (  # type: ignore[import-untyped]
    CLASS,
    OPCODE,
    PTR,
    QTYPE,
    RCODE,
    RR,
    A,
    DNSBuffer,
    DNSHeader,
    DNSRecord,
)
from pyroute2 import netns as pyroute2_netns

from core.dataplane.names import resolve, reverse
from core.dataplane.state import DNS_TTL, RESOLVER_ADDRESS, NetworkState
from real.agent import nft

log = logging.getLogger(__name__)

#: Docker forwards to at most this many external servers (libnetwork ``maxExtDNS``).
MAX_UPSTREAMS = 3
#: How long one upstream server gets to answer (libnetwork ``extIOTimeout``).
UPSTREAM_TIMEOUT = 4.0
#: A TCP client silent this long is disconnected.
TCP_IDLE_TIMEOUT = 10.0
#: The nft table the resolver owns in each container's namespace.
NFT_TABLE = "shoal-dns"
#: Queries answered at once (forwarding blocks a worker for up to 3 timeouts).
WORKERS = 16
#: The largest UDP reply to a client that advertises no EDNS buffer size (RFC 1035).
UDP_LIMIT = 512

Forward = Callable[[DNSRecord], DNSRecord | None]


# --- the answers ------------------------------------------------------------------------


def answer(
    request: DNSRecord,
    states: Iterable[NetworkState],
    forward: Forward,
    rng: random.Random | None = None,
) -> DNSRecord:
    """The reply to ``request`` for a container on ``states``: a swarm name's records,
    else what ``forward`` gets from the upstream servers, else SERVFAIL."""
    if request.header.opcode != OPCODE.QUERY:
        return _error(request, RCODE.NOTIMP)
    if len(request.questions) != 1:
        return _error(request, RCODE.FORMERR)
    local = _swarm_answer(request, tuple(states), rng or random.Random())
    if local is not None:
        return local
    forwarded = forward(request)
    return forwarded if forwarded is not None else _error(request, RCODE.SERVFAIL)


def _swarm_answer(
    request: DNSRecord, states: Sequence[NetworkState], rng: random.Random
) -> DNSRecord | None:
    """The reply for a swarm name; None when the question is for the outside world."""
    question = request.q
    if question.qclass != CLASS.IN:
        return None
    reply = _reply(request)
    if question.qtype == QTYPE.PTR:
        address = _ptr_address(str(question.qname))
        name = reverse(address, states) if address is not None else None
        if name is None:
            return None
        reply.add_answer(RR(question.qname, QTYPE.PTR, rdata=PTR(f"{name}."), ttl=DNS_TTL))
        return reply
    if question.qtype not in (QTYPE.A, QTYPE.AAAA):
        return None
    addresses = list(resolve(str(question.qname), states) or ())
    if not addresses:
        return None
    if question.qtype == QTYPE.A:
        if len(addresses) > 1:
            rng.shuffle(addresses)
        for address in addresses:
            reply.add_answer(RR(question.qname, QTYPE.A, rdata=A(address), ttl=DNS_TTL))
    return reply


def _ptr_address(name: str) -> str | None:
    """``5.1.0.10.in-addr.arpa.`` -> ``10.0.1.5``; None for any other name."""
    labels = name.rstrip(".").lower().split(".")
    if len(labels) != 6 or labels[4:] != ["in-addr", "arpa"]:
        return None
    try:
        return str(ipaddress.IPv4Address(".".join(reversed(labels[:4]))))
    except ValueError:
        return None


def _reply(request: DNSRecord, rcode: int = 0) -> DNSRecord:
    """An empty reply to ``request``: recursion available, not authoritative (as
    Docker's resolver answers), with the request's questions."""
    header = DNSHeader(
        id=request.header.id,
        qr=1,
        opcode=request.header.opcode,
        rd=request.header.rd,
        ra=1,
        rcode=rcode,
    )
    return DNSRecord(header, questions=list(request.questions))


def _error(request: DNSRecord, rcode: int) -> DNSRecord:
    return _reply(request, rcode)


def respond(
    data: bytes,
    states: Callable[[], Iterable[NetworkState]],
    forward: Forward,
    rng: random.Random | None = None,
    tcp: bool = False,
) -> bytes | None:
    """The packet that answers the packet ``data`` (None: send nothing). Garbage with a
    readable header gets FORMERR, anything shorter or a response gets nothing; a UDP
    reply larger than the client can take is truncated (TC set) so that it asks over TCP.
    ``states`` is called only for a well-formed query."""
    try:
        request = DNSRecord.parse(data)
    except Exception:  # dnslib raises more than DNSError on garbage
        return _formerr(data)
    if request.header.qr:
        return None
    try:
        reply = answer(request, states(), forward, rng)
    except Exception:
        log.exception("embedded DNS: cannot answer %s", request.q.qname)
        reply = _error(request, RCODE.SERVFAIL)
    packed: bytes = reply.pack()
    if not tcp and len(packed) > _udp_limit(request):
        packed = reply.truncate().pack()
    return packed


def _formerr(data: bytes) -> bytes | None:
    if len(data) < 12:
        return None
    try:
        header = DNSHeader.parse(DNSBuffer(data[:12]))
    except Exception:
        return None
    if header.qr:
        return None
    return bytes(DNSRecord(DNSHeader(id=header.id, qr=1, ra=1, rcode=RCODE.FORMERR)).pack())


def _udp_limit(request: DNSRecord) -> int:
    """The client's EDNS buffer size, at least 512 bytes."""
    for record in request.ar:
        if record.rtype == QTYPE.OPT:
            return max(UDP_LIMIT, int(record.rclass))
    return UDP_LIMIT


# --- forwarding ---------------------------------------------------------------------------


def host_upstreams(resolv_conf: str | Path = "/etc/resolv.conf") -> tuple[str, ...]:
    """The host's name servers, loopback ones left out (a container cannot reach the
    host's loopback), at most ``MAX_UPSTREAMS``."""
    try:
        text = Path(resolv_conf).read_text()
    except OSError:
        return ()
    found: list[str] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2 or fields[0] != "nameserver":
            continue
        try:
            if ipaddress.ip_address(fields[1]).is_loopback:
                continue
        except ValueError:
            continue
        found.append(fields[1])
    return tuple(found[:MAX_UPSTREAMS])


def parse_upstream(spec: str) -> tuple[str, int]:
    """``"10.0.0.2"``, ``"10.0.0.2:5353"``, ``"2001:db8::1"`` or ``"[2001:db8::1]:5353"``
    -> (address, port)."""
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(spec)), 53
    host, sep, port = spec.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    try:
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(spec)
        return str(ipaddress.ip_address(host)), int(port)
    except ValueError:
        raise ValueError(f"invalid DNS server address {spec!r}") from None


class Forwarder:
    """Asks the upstream servers in turn, from the calling thread's namespace; the first
    reply that is not SERVFAIL or REFUSED wins, None if there is none."""

    def __init__(self, upstreams: Sequence[str], timeout: float = UPSTREAM_TIMEOUT) -> None:
        self.upstreams = tuple(parse_upstream(u) for u in upstreams[:MAX_UPSTREAMS])
        self.timeout = timeout

    def __call__(self, request: DNSRecord, tcp: bool = False) -> DNSRecord | None:
        packet: bytes = request.pack()
        for host, port in self.upstreams:
            try:
                data = (_ask_tcp if tcp else _ask_udp)(packet, host, port, self.timeout)
                reply = DNSRecord.parse(data)
            except Exception as error:
                log.debug("embedded DNS: upstream %s:%d failed: %s", host, port, error)
                continue
            if reply.header.rcode in (RCODE.SERVFAIL, RCODE.REFUSED):
                continue
            return reply
        return None


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET


def _ask_udp(packet: bytes, host: str, port: int, timeout: float) -> bytes:
    """One UDP exchange; only a reply from the server with the query's id counts."""
    deadline = time.monotonic() + timeout
    with socket.socket(_family(host), socket.SOCK_DGRAM) as sock:
        sock.connect((host, port))
        sock.send(packet)
        while True:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            data = sock.recv(65535)
            if data[:2] == packet[:2]:
                return data


def _ask_tcp(packet: bytes, host: str, port: int, timeout: float) -> bytes:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(len(packet).to_bytes(2, "big") + packet)
        size = int.from_bytes(_read_exactly(sock, 2), "big")
        return _read_exactly(sock, size)


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("upstream closed the connection")
        data += chunk
    return data


# --- the container side: sockets in its namespace, nat rules -----------------------------


def nat_rules(udp_port: int, tcp_port: int) -> str:
    """The nft script that sends 127.0.0.11:53 to the resolver's ports (and gives its
    replies source port 53), replacing any table of a previous resolver atomically."""
    address = RESOLVER_ADDRESS
    output = [
        f"ip daddr {address} udp dport 53 dnat to {address}:{udp_port}",
        f"ip daddr {address} tcp dport 53 dnat to {address}:{tcp_port}",
    ]
    postrouting = [
        f"ip saddr {address} udp sport {udp_port} snat to :53",
        f"ip saddr {address} tcp sport {tcp_port} snat to :53",
    ]
    return nft.replace(
        NFT_TABLE,
        [
            nft.chain("output", output, f"type nat hook output priority {nft.DSTNAT}"),
            nft.chain(
                "postrouting", postrouting, f"type nat hook postrouting priority {nft.SRCNAT}"
            ),
        ],
    )


def _delete_rules(netns_path: str) -> None:
    """Drop the resolver's table; nothing to do when it or the namespace is gone."""
    if not Path(netns_path).exists():
        return
    try:
        nft.apply(netns_path, nft.remove(NFT_TABLE))
    except nft.NftError as error:
        log.warning("embedded DNS: %s", error)


def open_sockets(netns_path: str) -> tuple[socket.socket, socket.socket]:
    """A UDP and a listening TCP socket on 127.0.0.11, random ports, made inside the
    namespace at ``netns_path``: a throwaway thread enters it (``setns`` moves only the
    calling thread), so the sockets stay there while this process serves them."""
    made: list[socket.socket] = []
    failure: list[BaseException] = []

    def enter_and_bind() -> None:
        try:
            pyroute2_netns.setns(netns_path, flags=0)
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                sock = socket.socket(socket.AF_INET, kind)
                made.append(sock)
                sock.setblocking(False)
                sock.bind((RESOLVER_ADDRESS, 0))
            made[1].listen(64)
        except BaseException as error:
            failure.append(error)

    worker = threading.Thread(target=enter_and_bind, name="shoal-dns-setns")
    worker.start()
    worker.join()
    if failure:
        for sock in made:
            sock.close()
        raise OSError(f"cannot open the resolver's sockets in {netns_path}: {failure[0]}")
    return made[0], made[1]


# --- the server -------------------------------------------------------------------------


@dataclass(eq=False)
class _Container:
    key: str
    netns_path: str
    networks: Callable[[], Sequence[NetworkState]]
    udp_port: int
    tcp_port: int
    udp: asyncio.DatagramTransport | None = None
    tcp: asyncio.Server | None = None
    clients: set[asyncio.StreamWriter] = field(default_factory=set)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, server: EmbeddedDns, container: _Container) -> None:
        self.server = server
        self.container = container

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.server._spawn(self.server._udp_query(self.container, data, addr))


class EmbeddedDns:
    """The host daemon's resolver for all its containers. ``upstreams`` are the servers
    unknown names go to (default: the host's, :func:`host_upstreams`); ``rng`` shuffles
    the answers. Thread-safe; ``add`` and ``remove`` block (an ``nft`` run each).

    Build it in a thread of the daemon's own namespace: its threads, which forward the
    unknown names, inherit that thread's namespace. ``networks`` callables are called
    from worker threads, so they should read state that is replaced, not mutated."""

    def __init__(
        self,
        upstreams: Sequence[str] | None = None,
        rng: random.Random | None = None,
        *,
        timeout: float = UPSTREAM_TIMEOUT,
    ) -> None:
        self.forwarder = Forwarder(host_upstreams() if upstreams is None else upstreams, timeout)
        self._rng = rng or random.Random()
        self._containers: dict[str, _Container] = {}
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="shoal-dns-query")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="shoal-dns", daemon=True
        )
        self._thread.start()
        self._closed = False

    # public API

    def add(
        self,
        container_key: str,
        netns_path: str,
        networks: Callable[[], Sequence[NetworkState]],
    ) -> None:
        """Serve the container whose namespace is at ``netns_path``; ``networks`` is
        called for every query, so answers follow the latest state. Adding a key again
        replaces its resolver."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the embedded DNS server is closed")
            self._remove_locked(container_key)
            udp, tcp = open_sockets(netns_path)
            container = _Container(
                container_key,
                netns_path,
                networks,
                udp_port=udp.getsockname()[1],
                tcp_port=tcp.getsockname()[1],
            )
            try:
                self._call(self._serve(container, udp, tcp))
                nft.apply(netns_path, nat_rules(container.udp_port, container.tcp_port))
            except BaseException:
                udp.close()
                tcp.close()
                self._call(self._unserve(container))
                _delete_rules(netns_path)
                raise
            self._containers[container_key] = container

    def remove(self, container_key: str) -> None:
        """Stop serving a container: close its sockets, delete its nat table. A key
        not served (any more) is fine."""
        with self._lock:
            self._remove_locked(container_key)

    def close(self) -> None:
        """Remove every container and stop the server's thread."""
        with self._lock:
            if self._closed:
                return
            for key in sorted(self._containers):
                self._remove_locked(key)
            self._closed = True
        self._call(self._cancel_all())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
        # a worker still waiting on an upstream ends at its timeout; no need to wait
        self._pool.shutdown(wait=False, cancel_futures=True)

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self._containers)

    def ports(self, container_key: str) -> tuple[int, int]:
        """The (UDP, TCP) ports a container's resolver really listens on."""
        with self._lock:
            container = self._containers[container_key]
            return container.udp_port, container.tcp_port

    def __enter__(self) -> EmbeddedDns:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # internals (the loop thread runs the coroutines)

    def _remove_locked(self, key: str) -> None:
        container = self._containers.pop(key, None)
        if container is None:
            return
        try:
            self._call(self._unserve(container))
        finally:
            _delete_rules(container.netns_path)

    def _call(self, coroutine: Any) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _spawn(self, coroutine: Any) -> None:
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, container: _Container, udp: socket.socket, tcp: socket.socket) -> None:
        transport, _ = await self._loop.create_datagram_endpoint(
            lambda: _Datagrams(self, container), sock=udp
        )
        container.udp = transport
        container.tcp = await asyncio.start_server(
            lambda r, w: self._tcp_client(container, r, w), sock=tcp
        )

    async def _unserve(self, container: _Container) -> None:
        if container.udp is not None:
            container.udp.close()
        if container.tcp is not None:
            container.tcp.close()
        for writer in list(container.clients):
            writer.close()
        if container.tcp is not None:
            await container.tcp.wait_closed()

    async def _cancel_all(self) -> None:
        """Cancel the queries still in flight, so that no task outlives the loop."""
        tasks = [t for t in asyncio.all_tasks(self._loop) if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _answer(self, container: _Container, data: bytes, tcp: bool) -> bytes | None:
        def forward(request: DNSRecord) -> DNSRecord | None:
            return self.forwarder(request, tcp=tcp)

        return await self._loop.run_in_executor(
            self._pool, respond, data, container.networks, forward, self._rng, tcp
        )

    async def _udp_query(self, container: _Container, data: bytes, addr: Any) -> None:
        reply = await self._answer(container, data, tcp=False)
        transport = container.udp
        if reply is not None and transport is not None and not transport.is_closing():
            transport.sendto(reply, addr)

    async def _tcp_client(
        self, container: _Container, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """DNS over TCP: two-byte length, message; several queries per connection."""
        container.clients.add(writer)
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_TIMEOUT)
                size = int.from_bytes(head, "big")
                data = await asyncio.wait_for(reader.readexactly(size), TCP_IDLE_TIMEOUT)
                reply = await self._answer(container, data, tcp=True)
                if reply is None:
                    break
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            container.clients.discard(writer)
            writer.close()
