"""The embedded DNS server (real/agent/dns.py).

The first half checks the answers without any namespace (:func:`answer` and
:func:`respond` are pure); the second half (root) serves a scratch namespace standing in
for a container and queries 127.0.0.11:53 from inside it, over UDP and TCP, with unknown
names forwarded to a fake upstream server on the host namespace's loopback.
"""

from __future__ import annotations

import contextlib
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from dnslib import EDNS0, QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSServer
from pyroute2 import netns as pyroute2_netns

from core.dataplane.state import DNS_TTL, Endpoint, NetworkState, ServiceBinding
from real.agent.dns import (
    NFT_TABLE,
    EmbeddedDns,
    Forwarder,
    answer,
    host_upstreams,
    nat_rules,
    parse_upstream,
    respond,
)
from real.testhosts import network
from real.testhosts.firewall import tables
from real.testhosts.naming import RunId
from real.testhosts.procs import nsenter

VIP = "10.0.1.2"
WEB = ("10.0.1.5", "10.0.1.6", "10.0.1.7")
DB = ("10.0.1.8", "10.0.1.9")
OUTSIDE = "192.0.2.7"


def _endpoint(address: str, task: str, name: str) -> Endpoint:
    return Endpoint(address, "node1", "10.231.0.1", task, name)


def _states(web: tuple[str, ...] = WEB) -> list[NetworkState]:
    web_binding = ServiceBinding(
        "svc-web",
        "web",
        VIP,
        tuple(_endpoint(a, f"t{i}", f"web.{i}.t{i}") for i, a in enumerate(web, 1)),
        aliases=("frontend",),
    )
    db_binding = ServiceBinding(
        "svc-db", "db", "", tuple(_endpoint(a, f"d{i}", f"db.{i}.d{i}") for i, a in enumerate(DB))
    )
    idle = ServiceBinding("svc-idle", "idle", "", ())  # dnsrr, no running task
    return [
        NetworkState(
            "net1",
            "appnet",
            4097,
            "10.0.1.0/24",
            "10.0.1.1",
            services=(db_binding, idle, web_binding),
        )
    ]


class _Upstream:
    """A fake forwarder target: records what it is asked, answers a fixed reply."""

    def __init__(self, reply: DNSRecord | None = None) -> None:
        self.asked: list[DNSRecord] = []
        self.reply = reply

    def __call__(self, request: DNSRecord) -> DNSRecord | None:
        self.asked.append(request)
        if self.reply is not None:
            return self.reply
        reply = request.reply(ra=1, aa=0)
        reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(OUTSIDE), ttl=30))
        return reply


def _ask(name: str, qtype: str = "A", **kwargs: Any) -> tuple[DNSRecord, _Upstream]:
    upstream = _Upstream()
    reply = answer(DNSRecord.question(name, qtype), _states(), upstream, **kwargs)
    return reply, upstream


def _addresses(reply: DNSRecord) -> list[str]:
    return [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]


# --- answers -----------------------------------------------------------------------------


def test_a_service_name_answers_its_vip() -> None:
    reply, upstream = _ask("web")
    assert reply.header.rcode == RCODE.NOERROR
    assert reply.header.qr == 1 and reply.header.ra == 1
    assert _addresses(reply) == [VIP]
    assert [rr.ttl for rr in reply.rr] == [DNS_TTL]
    assert upstream.asked == []


def test_tasks_name_answers_every_running_task() -> None:
    reply, upstream = _ask("tasks.web")
    assert sorted(_addresses(reply)) == sorted(WEB)
    assert all(rr.ttl == DNS_TTL for rr in reply.rr)
    assert upstream.asked == []


def test_a_dnsrr_service_name_answers_every_task() -> None:
    reply, _ = _ask("db")
    assert sorted(_addresses(reply)) == sorted(DB)
    reply, _ = _ask("tasks.db")
    assert sorted(_addresses(reply)) == sorted(DB)


def test_container_names_and_aliases() -> None:
    assert _addresses(_ask("web.2.t2")[0]) == [WEB[1]]
    assert _addresses(_ask("frontend")[0]) == [VIP]


def test_names_match_whatever_the_case_and_trailing_dot() -> None:
    for name in ("WEB", "Web.", "web.", "TASKS.Web."):
        reply, upstream = _ask(name)
        assert _addresses(reply), name
        assert upstream.asked == []
        assert str(reply.rr[0].rname) == str(DNSRecord.question(name).q.qname)


def test_aaaa_for_a_swarm_name_is_empty_not_forwarded() -> None:
    reply, upstream = _ask("web", "AAAA")
    assert reply.header.rcode == RCODE.NOERROR
    assert reply.rr == []
    assert upstream.asked == []


def test_ptr_answers_the_task_or_service_name() -> None:
    reply, upstream = _ask("6.1.0.10.in-addr.arpa", "PTR")
    assert [str(rr.rdata) for rr in reply.rr] == ["web.2.t2.appnet."]
    assert reply.rr[0].rtype == QTYPE.PTR and reply.rr[0].ttl == DNS_TTL
    reply, _ = _ask("2.1.0.10.in-addr.arpa.", "PTR")
    assert [str(rr.rdata) for rr in reply.rr] == ["web.appnet."]
    assert upstream.asked == []


def test_ptr_of_another_address_is_forwarded() -> None:
    _, upstream = _ask("7.2.0.192.in-addr.arpa", "PTR")
    assert len(upstream.asked) == 1


def test_unknown_name_is_forwarded_and_the_upstream_reply_returned() -> None:
    reply, upstream = _ask("example.test")
    assert [str(r.q.qname) for r in upstream.asked] == ["example.test."]
    assert _addresses(reply) == [OUTSIDE]


def test_other_types_of_swarm_names_are_forwarded() -> None:
    _, upstream = _ask("web", "MX")
    assert len(upstream.asked) == 1


def test_a_service_without_running_task_is_forwarded() -> None:
    """A dnsrr service with no running task has no record, so the name is asked outside
    (which says NXDOMAIN), as Docker does."""
    nx = DNSRecord.question("idle").reply()
    nx.header.rcode = RCODE.NXDOMAIN
    upstream = _Upstream(nx)
    reply = answer(DNSRecord.question("idle"), _states(), upstream)
    assert len(upstream.asked) == 1
    assert reply.header.rcode == RCODE.NXDOMAIN


def test_no_upstream_answer_is_servfail() -> None:
    request = DNSRecord.question("example.test")
    reply = answer(request, _states(), lambda _: None)
    assert reply.header.rcode == RCODE.SERVFAIL
    assert reply.header.id == request.header.id
    assert reply.rr == []
    # the real forwarder with no servers at all, too
    reply = answer(request, _states(), Forwarder(()))
    assert reply.header.rcode == RCODE.SERVFAIL


def test_multiple_addresses_are_shuffled_from_the_rng() -> None:
    def orders(seed: int) -> list[list[str]]:
        rng = random.Random(seed)
        return [_addresses(_ask("tasks.web", rng=rng)[0]) for _ in range(20)]

    first = orders(7)
    assert len({tuple(order) for order in first}) > 1  # not always the same order
    assert all(sorted(order) == sorted(WEB) for order in first)
    assert orders(7) == first  # the rng handed in decides


def test_answers_follow_the_states() -> None:
    request = DNSRecord.question("tasks.web")
    reply = answer(request, _states(web=WEB[:1]), _Upstream())
    assert _addresses(reply) == [WEB[0]]


def test_a_name_on_no_network_is_forwarded() -> None:
    upstream = _Upstream()
    answer(DNSRecord.question("web"), [], upstream)
    assert len(upstream.asked) == 1


# --- the wire ----------------------------------------------------------------------------


def test_garbage_gets_formerr_or_nothing() -> None:
    forward = _Upstream()
    garbage = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff\xff"
    reply = respond(garbage, _states, forward)
    assert reply is not None
    parsed = DNSRecord.parse(reply)
    assert parsed.header.id == 0x1234 and parsed.header.rcode == RCODE.FORMERR
    assert respond(b"\x00\x01", _states, forward) is None  # no header at all
    assert respond(b"", _states, forward) is None
    response = DNSRecord.question("web").reply().pack()  # a response is never answered
    assert respond(response, _states, forward) is None
    assert forward.asked == []


def test_a_failing_state_source_gives_servfail() -> None:
    def broken() -> list[NetworkState]:
        raise RuntimeError("no state")

    reply = respond(DNSRecord.question("web").pack(), broken, _Upstream())
    assert reply is not None and DNSRecord.parse(reply).header.rcode == RCODE.SERVFAIL


def test_too_many_questions_or_opcode_are_refused() -> None:
    request = DNSRecord.question("web")
    request.add_question(DNSRecord.question("db").q)
    assert answer(request, _states(), _Upstream()).header.rcode == RCODE.FORMERR
    notify = DNSRecord.question("web")
    notify.header.opcode = 4
    assert answer(notify, _states(), _Upstream()).header.rcode == RCODE.NOTIMP


def test_large_udp_answers_are_truncated_not_over_tcp() -> None:
    many = tuple(f"10.0.1.{i}" for i in range(10, 60))
    request = DNSRecord.question("tasks.web").pack()
    udp = respond(request, lambda: _states(web=many), _Upstream())
    assert udp is not None and len(udp) <= 512
    assert DNSRecord.parse(udp).header.tc == 1
    tcp = respond(request, lambda: _states(web=many), _Upstream(), tcp=True)
    assert tcp is not None and sorted(_addresses(DNSRecord.parse(tcp))) == sorted(many)
    edns = DNSRecord.question("tasks.web")
    edns.add_ar(EDNS0(udp_len=4096))
    big = respond(edns.pack(), lambda: _states(web=many), _Upstream())
    assert big is not None and len(_addresses(DNSRecord.parse(big))) == len(many)


def test_host_upstreams_skip_loopback_and_keep_three(tmp_path: Any) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "# comment\nsearch example\nnameserver 127.0.0.53\nnameserver ::1\n"
        "nameserver 10.0.0.2\nnameserver bogus\nnameserver 2001:db8::1\n"
        "nameserver 10.0.0.3\nnameserver 10.0.0.4\noptions ndots:0\n"
    )
    assert host_upstreams(conf) == ("10.0.0.2", "2001:db8::1", "10.0.0.3")
    assert host_upstreams(tmp_path / "missing") == ()


def test_upstream_addresses() -> None:
    assert parse_upstream("10.0.0.2") == ("10.0.0.2", 53)
    assert parse_upstream("10.0.0.2:5353") == ("10.0.0.2", 5353)
    assert parse_upstream("2001:db8::1") == ("2001:db8::1", 53)
    assert parse_upstream("[2001:db8::1]:5353") == ("2001:db8::1", 5353)
    for bad in ("dns.example", "10.0.0.2:x", "10.0.0.2:70000", ""):
        with pytest.raises(ValueError, match="invalid DNS server address"):
            parse_upstream(bad)


def test_nat_rules_send_port_53_to_the_resolver() -> None:
    script = nat_rules(40000, 40001)
    assert "udp dport 53 dnat to 127.0.0.11:40000" in script
    assert "tcp dport 53 dnat to 127.0.0.11:40001" in script
    assert "udp sport 40000 snat to :53" in script
    assert "tcp sport 40001 snat to :53" in script


def test_forwarder_skips_failing_and_unreachable_servers(
    upstream: tuple[str, _FakeResolver],
) -> None:
    address, good = upstream
    with _fake_server(failing=True) as (bad_address, bad):
        forwarder = Forwarder(["127.0.0.1:9", bad_address, address], timeout=2.0)
        for tcp in (False, True):
            reply = forwarder(DNSRecord.question("example.test"), tcp=tcp)
            assert reply is not None and _addresses(reply) == [OUTSIDE]
        assert bad.asked == good.asked == ["example.test."] * 2
        only_bad = Forwarder([bad_address], timeout=2.0)
        reply = answer(DNSRecord.question("example.test"), _states(), only_bad)
        assert reply.header.rcode == RCODE.SERVFAIL


def test_forwarder_uses_at_most_three_servers() -> None:
    forwarder = Forwarder(["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"])
    assert [host for host, _ in forwarder.upstreams] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]


def test_other_classes_are_forwarded() -> None:
    request = DNSRecord.question("web", "A", "CH")
    upstream = _Upstream()
    answer(request, _states(), upstream)
    assert len(upstream.asked) == 1


# --- served in a namespace (root) ----------------------------------------------------------

_CLIENT = """
import sys
from dnslib import DNSRecord
name, qtype, proto = sys.argv[1:4]
query = DNSRecord.question(name, qtype)
sys.stdout.write(query.send("127.0.0.11", 53, tcp=proto == "tcp", timeout=5).hex())
"""

_RAW = """
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(2)
sock.sendto(bytes.fromhex(sys.argv[1]), ("127.0.0.11", 53))
try:
    sys.stdout.write(sock.recv(65535).hex())
except TimeoutError:
    sys.stdout.write("timeout")
"""


def _query(netns_path: str, name: str, qtype: str = "A", tcp: bool = False) -> DNSRecord:
    """Ask 127.0.0.11:53 from inside the namespace, as a container's libc would."""
    argv = [sys.executable, "-c", _CLIENT, name, qtype, "tcp" if tcp else "udp"]
    done = subprocess.run(
        nsenter(netns_path, argv), capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    return DNSRecord.parse(bytes.fromhex(done.stdout))


def _raw(netns_path: str, packet: bytes) -> str:
    argv = [sys.executable, "-c", _RAW, packet.hex()]
    done = subprocess.run(
        nsenter(netns_path, argv), capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _sockets(netns_path: str) -> str:
    """The UDP and TCP sockets bound in the namespace, as ``ss`` lists them."""
    done = subprocess.run(
        nsenter(netns_path, ["ss", "-Htuan"]), capture_output=True, text=True, check=True
    )
    return done.stdout


class _FakeResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, failing: bool = False) -> None:
        self.asked: list[str] = []
        self.failing = failing

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        self.asked.append(str(request.q.qname))
        reply = request.reply()
        if self.failing:
            reply.header.rcode = RCODE.SERVFAIL
        elif str(request.q.qname) == "example.test.":
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(OUTSIDE), ttl=30))
        else:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


@contextlib.contextmanager
def _fake_server(failing: bool = False) -> Iterator[tuple[str, _FakeResolver]]:
    """A fake upstream DNS server (UDP and TCP, one port) on this namespace's loopback."""
    resolver = _FakeResolver(failing)
    udp = DNSServer(resolver, address="127.0.0.1", port=0, logger=_Quiet())
    port = udp.server.server_address[1]
    tcp = DNSServer(resolver, address="127.0.0.1", port=port, tcp=True, logger=_Quiet())
    udp.start_thread()
    tcp.start_thread()
    try:
        yield f"127.0.0.1:{port}", resolver
    finally:
        udp.stop()
        tcp.stop()
        udp.server.server_close()
        tcp.server.server_close()


@pytest.fixture
def upstream() -> Iterator[tuple[str, _FakeResolver]]:
    with _fake_server() as server:
        yield server


class _Quiet:
    def __getattr__(self, _: str) -> Any:
        return lambda *args, **kwargs: None


def _make_namespace(run: RunId, suffix: str) -> str:
    name = run.name(suffix)
    network.create_namespace(name)
    return name


@pytest.fixture
def containers(run_id: RunId) -> Iterator[list[str]]:
    """Two scratch namespaces standing in for containers (removed even on failure)."""
    names = [_make_namespace(run_id, "dns-c1"), _make_namespace(run_id, "dns-c2")]
    try:
        yield [network.netns_path(name) for name in names]
    finally:
        for name in names:
            network.remove_namespace(name)
        assert not [n for n in network.namespaces() if n in names]


@pytest.fixture
def dns(upstream: tuple[str, _FakeResolver], real_packages: None) -> Iterator[EmbeddedDns]:
    server = EmbeddedDns(upstreams=[upstream[0]], rng=random.Random(1), timeout=2.0)
    try:
        yield server
    finally:
        server.close()


def test_served_in_the_namespace_over_udp_and_tcp(dns: EmbeddedDns, containers: list[str]) -> None:
    path = containers[0]
    dns.add("c1", path, _states)
    for tcp in (False, True):
        assert _addresses(_query(path, "web", tcp=tcp)) == [VIP]
        assert sorted(_addresses(_query(path, "tasks.web", tcp=tcp))) == sorted(WEB)
        assert sorted(_addresses(_query(path, "db", tcp=tcp))) == sorted(DB)
        reply = _query(path, "web", "AAAA", tcp=tcp)
        assert reply.header.rcode == RCODE.NOERROR and reply.rr == []
        ptr = _query(path, "5.1.0.10.in-addr.arpa", "PTR", tcp=tcp)
        assert [str(rr.rdata) for rr in ptr.rr] == ["web.1.t1.appnet."]


def test_answers_follow_the_latest_state(dns: EmbeddedDns, containers: list[str]) -> None:
    path = containers[0]
    current = {"states": _states()}
    dns.add("c1", path, lambda: current["states"])
    assert sorted(_addresses(_query(path, "tasks.web"))) == sorted(WEB)
    current["states"] = _states(web=WEB[:2])
    assert sorted(_addresses(_query(path, "tasks.web"))) == sorted(WEB[:2])
    assert sorted(_addresses(_query(path, "tasks.web", tcp=True))) == sorted(WEB[:2])


def test_unknown_names_are_forwarded_from_the_daemons_namespace(
    dns: EmbeddedDns, containers: list[str], upstream: tuple[str, _FakeResolver]
) -> None:
    """The fake upstream listens on the host namespace's loopback, which the container's
    namespace cannot reach: an answer proves the daemon forwarded it."""
    path = containers[0]
    dns.add("c1", path, _states)
    for tcp in (False, True):
        assert _addresses(_query(path, "example.test", tcp=tcp)) == [OUTSIDE]
        assert _query(path, "nothing.test", tcp=tcp).header.rcode == RCODE.NXDOMAIN
    assert upstream[1].asked == ["example.test.", "nothing.test."] * 2


def test_no_upstream_gives_servfail(containers: list[str], real_packages: None) -> None:
    with EmbeddedDns(upstreams=[]) as dns:
        dns.add("c1", containers[0], _states)
        assert _query(containers[0], "example.test").header.rcode == RCODE.SERVFAIL
        assert _addresses(_query(containers[0], "web")) == [VIP]


def test_garbage_does_not_stop_the_server(dns: EmbeddedDns, containers: list[str]) -> None:
    path = containers[0]
    dns.add("c1", path, _states)
    for packet in (b"\x00", b"\xab\xcd" + b"\xff" * 30, b"\x00" * 12):
        out = _raw(path, packet)
        if out != "timeout":
            assert DNSRecord.parse(bytes.fromhex(out)).header.rcode in (
                RCODE.FORMERR,
                RCODE.NOERROR,
            )
    assert _addresses(_query(path, "web")) == [VIP]


def test_each_container_gets_its_own_answers(dns: EmbeddedDns, containers: list[str]) -> None:
    one, two = containers
    dns.add("c1", one, _states)
    dns.add("c2", two, lambda: _states(web=WEB[2:]))
    assert sorted(_addresses(_query(one, "tasks.web"))) == sorted(WEB)
    assert _addresses(_query(two, "tasks.web", tcp=True)) == [WEB[2]]
    assert dns.keys() == ["c1", "c2"]
    # one thread serves every container's sockets
    assert [t.name for t in threading.enumerate()].count("shoal-dns") == 1


def test_remove_leaves_no_table_and_no_socket(dns: EmbeddedDns, containers: list[str]) -> None:
    one, two = containers
    dns.add("c1", one, _states)
    dns.add("c2", two, _states)
    udp_port, tcp_port = dns.ports("c1")
    assert f"ip {NFT_TABLE}" in tables(one)
    listed = _sockets(one)
    assert f"127.0.0.11:{udp_port}" in listed and f"127.0.0.11:{tcp_port}" in listed
    dns.remove("c1")
    dns.remove("c1")  # idempotent
    assert f"ip {NFT_TABLE}" not in tables(one)
    assert "127.0.0.11" not in _sockets(one)
    assert _raw(one, DNSRecord.question("web").pack()) == "timeout"
    assert _addresses(_query(two, "web")) == [VIP]  # the other container is still served
    dns.close()
    assert f"ip {NFT_TABLE}" not in tables(two)
    assert "127.0.0.11" not in _sockets(two)
    assert dns.keys() == []
    assert "shoal-dns" not in [t.name for t in threading.enumerate()]  # the loop's thread


def test_adding_again_replaces_the_resolver(dns: EmbeddedDns, containers: list[str]) -> None:
    path = containers[0]
    dns.add("c1", path, _states)
    first = dns.ports("c1")
    dns.add("c1", path, lambda: _states(web=WEB[:1]))
    assert dns.ports("c1") != first
    assert _addresses(_query(path, "tasks.web")) == [WEB[0]]
    for port in first:
        assert f"127.0.0.11:{port} " not in _sockets(path)


def test_a_missing_namespace_is_an_error_and_leaves_nothing(
    dns: EmbeddedDns, run_id: RunId
) -> None:
    with pytest.raises(OSError, match="cannot open the resolver's sockets"):
        dns.add("c1", network.netns_path(run_id.name("absent")), _states)
    assert dns.keys() == []


def test_a_daemon_in_a_test_hosts_namespace_forwards_from_there(
    run_id: RunId, containers: list[str]
) -> None:
    """The shoal daemon runs inside a test host's namespace: the resolver is built there
    and forwards from there (the upstream listens on that namespace's loopback only)."""
    host = _make_namespace(run_id, "dns-h")
    made: dict[str, Any] = {}

    def build() -> None:  # a thread that enters the host, as the daemon's process would
        pyroute2_netns.setns(network.netns_path(host), flags=0)
        made["upstream"] = _fake_server()
        made["address"], _ = made["upstream"].__enter__()
        made["dns"] = EmbeddedDns(upstreams=[made["address"]], timeout=2.0)

    builder = threading.Thread(target=build)
    builder.start()
    builder.join()
    try:
        dns: EmbeddedDns = made["dns"]
        unreachable = Forwarder([made["address"]], timeout=1.0)
        assert unreachable(DNSRecord.question("example.test")) is None  # not from here
        dns.add("c1", containers[0], _states)
        assert _addresses(_query(containers[0], "example.test")) == [OUTSIDE]
        assert _addresses(_query(containers[0], "web", tcp=True)) == [VIP]
    finally:
        if "dns" in made:
            made["dns"].close()
        if "upstream" in made:
            made["upstream"].__exit__(None, None, None)
        network.remove_namespace(host)
    assert f"ip {NFT_TABLE}" not in tables(containers[0])


def test_a_silent_upstream_stalls_no_other_query(
    containers: list[str], real_packages: None
) -> None:
    """While one query waits on an upstream that never answers, swarm names still are."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        with EmbeddedDns(upstreams=[f"127.0.0.1:{port}"], timeout=5.0) as dns:
            path = containers[0]
            dns.add("c1", path, _states)
            argv = [sys.executable, "-c", _CLIENT, "example.test", "A", "udp"]
            waiting = subprocess.Popen(nsenter(path, argv), stdout=subprocess.DEVNULL)
            try:
                silent.settimeout(5)
                silent.recv(512)  # the forwarded query reached the silent upstream
                assert _addresses(_query(path, "web")) == [VIP]
                assert waiting.poll() is None  # and is still waiting for it
            finally:
                waiting.kill()
                waiting.wait()
