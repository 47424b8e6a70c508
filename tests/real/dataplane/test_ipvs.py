"""The IPVS balancer against recorded netlink messages (this kernel has no IP_VS).

pyroute2's real ``IPVS`` socket is opened in a scratch namespace; only the two places
where it would talk to the kernel's IPVS family are replaced: the generic-netlink
family lookup, and the request path (``nlm_request``), where a fake kernel records each
message after a round trip through its wire encoding, keeps the IPVS state the
messages build, and answers dumps from it. The marking table is loaded into the
namespace by the real nft.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pyroute2.ipvs import AsyncIPVS
from pyroute2.netlink.generic import ctrlmsg
from pyroute2.netlink.generic.ipvs import ipvsmsg

from core.dataplane.balance import BalancerTable, Destination, VirtualService
from real.agent import ipvs as ipvs_module
from real.agent import nft
from real.agent.ipvs import IpvsBalancer, render_marks
from real.testhosts.naming import RunId
from real.testhosts.network import create_namespace, netns_path

FAMILY_ID = 0x42
SOURCE = "10.0.9.2"
VIP = "10.0.9.100"
B1, B2, B3 = "10.0.9.11", "10.0.9.12", "10.0.9.13"

COMMANDS = {
    1: "NEW_SERVICE",
    2: "SET_SERVICE",
    3: "DEL_SERVICE",
    4: "GET_SERVICE",
    5: "NEW_DEST",
    6: "SET_DEST",
    7: "DEL_DEST",
    8: "GET_DEST",
}
#: netlink header flags: REQUEST|ACK (+CREATE|EXCL, +REPLACE), REQUEST|DUMP
FLAGS = {0x605: "create", 0x105: "change", 0x5: "req", 0x301: "dump"}

Dests = dict[tuple[str, int], tuple[int, int]]  # (address, port) -> (weight, fwd method)


@dataclass
class FakeKernel:
    """IPVS state built from the messages sent, and the messages, summarised."""

    services: dict[int, tuple[str, Dests]] = field(default_factory=dict)
    sent: list[tuple[Any, ...]] = field(default_factory=list)
    namespaces: set[str] = field(default_factory=set)

    def handle(self, msg: Any) -> list[Any]:
        cmd = COMMANDS[msg["cmd"]]
        flags = FLAGS[msg["header"]["flags"]]
        svc = msg.get_attr("IPVS_CMD_ATTR_SERVICE")
        dest = msg.get_attr("IPVS_CMD_ATTR_DEST")
        if svc is None:
            self.sent.append((cmd, flags))
            assert cmd == "GET_SERVICE"
            return [_reply(1, _service_attrs(m, s)) for m, (s, _) in sorted(self.services.items())]
        mark = svc.get_attr("IPVS_SVC_ATTR_FWMARK")
        assert svc.get_attr("IPVS_SVC_ATTR_AF") == socket.AF_INET
        if cmd in ("NEW_SERVICE", "SET_SERVICE"):
            sched = svc.get_attr("IPVS_SVC_ATTR_SCHED_NAME")
            assert svc.get_attr("IPVS_SVC_ATTR_NETMASK") == "255.255.255.255"  # the kernel wants it
            self.sent.append((cmd, flags, hex(mark), sched))
            dests = self.services.get(mark, ("", {}))[1]
            self.services[mark] = (sched, dests)
            return []
        if cmd == "DEL_SERVICE":
            self.sent.append((cmd, flags, hex(mark)))
            del self.services[mark]
            return []
        dests = self.services[mark][1]
        if cmd == "GET_DEST":
            self.sent.append((cmd, flags, hex(mark)))
            return [_reply(5, _dest_attrs(a, p, w, f)) for (a, p), (w, f) in sorted(dests.items())]
        address = dest.get_attr("IPVS_DEST_ATTR_ADDR")
        port = dest.get_attr("IPVS_DEST_ATTR_PORT")
        weight = dest.get_attr("IPVS_DEST_ATTR_WEIGHT")
        method = dest.get_attr("IPVS_DEST_ATTR_FWD_METHOD")
        self.sent.append((cmd, flags, hex(mark), address, port, method, weight))
        if cmd == "DEL_DEST":
            del dests[(address, port)]
        else:
            assert (cmd == "NEW_DEST") == ((address, port) not in dests)
            dests[(address, port)] = (weight, method)
        return []

    def take(self) -> list[tuple[Any, ...]]:
        sent, self.sent = self.sent, []
        return sent

    def state(self) -> dict[str, tuple[str, Dests]]:
        return {hex(m): (s, dict(d)) for m, (s, d) in self.services.items()}


def _wire(msg: Any) -> Any:
    """``msg`` encoded as it would go on the wire and decoded back."""
    msg.encode()
    back = ipvsmsg(msg.data)
    back.decode()
    return back


def _reply(cmd: int, attrs: list[Any]) -> Any:
    msg = ipvsmsg()
    msg["cmd"] = cmd
    msg["version"] = 1
    msg["attrs"] = attrs
    msg["header"]["type"] = FAMILY_ID
    return _wire(msg)


def _service_attrs(mark: int, sched: str) -> list[Any]:
    return [
        (
            "IPVS_CMD_ATTR_SERVICE",
            {
                "attrs": [
                    ("IPVS_SVC_ATTR_AF", socket.AF_INET),
                    ("IPVS_SVC_ATTR_FWMARK", mark),
                    ("IPVS_SVC_ATTR_SCHED_NAME", sched),
                    ("IPVS_SVC_ATTR_FLAGS", {"flags": 0, "mask": 0xFFFF}),
                    ("IPVS_SVC_ATTR_TIMEOUT", 0),
                    ("IPVS_SVC_ATTR_NETMASK", "255.255.255.255"),
                ]
            },
        )
    ]


def _dest_attrs(address: str, port: int, weight: int, method: int) -> list[Any]:
    return [
        (
            "IPVS_CMD_ATTR_DEST",
            {
                "attrs": [
                    ("IPVS_DEST_ATTR_ADDR_FAMILY", socket.AF_INET),
                    ("IPVS_DEST_ATTR_ADDR", address),
                    ("IPVS_DEST_ATTR_PORT", port),
                    ("IPVS_DEST_ATTR_FWD_METHOD", method),
                    ("IPVS_DEST_ATTR_WEIGHT", weight),
                ]
            },
        )
    ]


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> FakeKernel:
    fake = FakeKernel()

    async def discovery(self: Any, proto: str) -> Any:
        assert proto == "IPVS"
        msg = ctrlmsg()
        msg["attrs"] = [("CTRL_ATTR_FAMILY_ID", FAMILY_ID)]
        return msg

    async def nlm_request(
        self: Any, msg: Any, msg_type: int, msg_flags: int = 0, **_: Any
    ) -> AsyncIterator[Any]:
        assert msg_type == FAMILY_ID
        fake.namespaces.add(self.spec["netns"])
        msg["header"]["type"] = msg_type
        msg["header"]["flags"] = msg_flags
        replies = fake.handle(_wire(msg))

        async def answer() -> AsyncIterator[Any]:
            for reply in replies:
                yield reply

        return answer()

    monkeypatch.setattr(AsyncIPVS, "discovery", discovery, raising=False)
    monkeypatch.setattr(AsyncIPVS, "nlm_request", nlm_request, raising=False)
    return fake


@pytest.fixture
def lb(run_id: RunId) -> Iterator[str]:
    """A scratch namespace for the IPVS socket and the marking table."""
    create_namespace(run_id.name("lb"))
    yield netns_path(run_id.name("lb"))
    # run_id's teardown removes the namespace, and its nft table with it


def _vip(*addresses: str) -> VirtualService:
    dests = tuple(Destination(a, 0, f"task-{a}") for a in addresses)
    return VirtualService("svc-web", "web", VIP, "", 0, dests)


def _port(port: int, *addresses: str) -> VirtualService:
    dests = tuple(Destination(a, 8080, f"task-{a}") for a in addresses)
    return VirtualService("svc-web", "web", "", "tcp", port, dests)


def _table(*services: VirtualService) -> BalancerTable:
    return BalancerTable(
        "n1", "ingress", True, SOURCE, tuple(sorted(services, key=lambda s: s.key))
    )


def _balancer(tuned: list[str]) -> IpvsBalancer:
    return IpvsBalancer(tune=tuned.append)


def test_create_change_and_remove_services(kernel: FakeKernel, lb: str) -> None:
    tuned: list[str] = []
    balancer = _balancer(tuned)

    # create: the published port sorts first and gets Docker's first mark
    balancer.program(lb, _table(_vip(B1, B2), _port(30080, B1)))
    assert kernel.take() == [
        ("GET_SERVICE", "dump"),
        ("NEW_SERVICE", "create", "0x100", "rr"),
        ("NEW_DEST", "create", "0x100", B1, 8080, 0, 1),
        ("NEW_SERVICE", "create", "0x101", "rr"),
        ("NEW_DEST", "create", "0x101", B1, 0, 0, 1),
        ("NEW_DEST", "create", "0x101", B2, 0, 0, 1),
    ]
    assert kernel.namespaces == {lb}
    assert tuned == [lb]

    # a destination added, one removed: weight 0 first, then deleted
    balancer.program(lb, _table(_vip(B2, B3), _port(30080, B1)))
    assert kernel.take() == [
        ("GET_SERVICE", "dump"),
        ("GET_DEST", "dump", "0x100"),
        ("GET_DEST", "dump", "0x101"),
        ("NEW_DEST", "create", "0x101", B3, 0, 0, 1),
        ("SET_DEST", "change", "0x101", B1, 0, 0, 0),
        ("DEL_DEST", "req", "0x101", B1, 0, 0, 0),
    ]
    assert kernel.state() == {
        "0x100": ("rr", {(B1, 8080): (1, 0)}),
        "0x101": ("rr", {(B2, 0): (1, 0), (B3, 0): (1, 0)}),
    }

    # the same table again changes nothing
    balancer.program(lb, _table(_vip(B2, B3), _port(30080, B1)))
    assert [m[0] for m in kernel.take()] == ["GET_SERVICE", "GET_DEST", "GET_DEST"]

    # a service removed; the VIP keeps its mark
    balancer.program(lb, _table(_vip(B2, B3)))
    assert kernel.take() == [
        ("GET_SERVICE", "dump"),
        ("GET_DEST", "dump", "0x101"),
        ("DEL_SERVICE", "req", "0x100"),
    ]
    assert "meta mark set 0x00000101" in nft.listing(lb, ipvs_module.TABLE)

    # back again, it gets a new mark: a mark never changes hands under live connections
    balancer.program(lb, _table(_vip(B2, B3), _port(30080, B3)))
    assert kernel.take()[-2:] == [
        ("NEW_SERVICE", "create", "0x102", "rr"),
        ("NEW_DEST", "create", "0x102", B3, 8080, 0, 1),
    ]

    balancer.clear(lb)
    assert kernel.take() == [
        ("GET_SERVICE", "dump"),
        ("DEL_SERVICE", "req", "0x101"),
        ("DEL_SERVICE", "req", "0x102"),
    ]
    assert kernel.state() == {}
    assert nft.tables(lb) == []


def test_reconciles_with_what_the_kernel_holds(kernel: FakeKernel, lb: str) -> None:
    kernel.services = {
        0x100: ("wlc", {(B1, 0): (1, 3), (B3, 0): (0, 0)}),  # direct routing; a drained one
        0x1FF: ("rr", {(B2, 0): (1, 0)}),  # nothing wants it any more
    }
    _balancer([]).program(lb, _table(_vip(B1, B2)))
    assert kernel.take() == [
        ("GET_SERVICE", "dump"),
        ("SET_SERVICE", "change", "0x100", "rr"),
        ("GET_DEST", "dump", "0x100"),
        ("SET_DEST", "change", "0x100", B1, 0, 0, 1),
        ("NEW_DEST", "create", "0x100", B2, 0, 0, 1),
        ("DEL_DEST", "req", "0x100", B3, 0, 0, 0),
        ("DEL_SERVICE", "req", "0x1ff"),
    ]
    assert kernel.state() == {"0x100": ("rr", {(B1, 0): (1, 0), (B2, 0): (1, 0)})}


def test_marks_are_stable_per_key_and_per_namespace() -> None:
    balancer = IpvsBalancer()
    web, api = (VIP, "", 0), ("10.0.9.101", "", 0)
    port = ("", "tcp", 30080)
    assert balancer.marks("/a", [web, port]) == {port: 0x100, web: 0x101}
    assert balancer.marks("/b", [api]) == {api: 0x100}
    assert balancer.marks("/a", [web, api]) == {web: 0x101, api: 0x102}
    assert balancer.marks("/a", [api, web, port]) == {web: 0x101, api: 0x102, port: 0x103}


def test_marking_table(lb: str) -> None:
    table = _table(_vip(B1, B2), _port(30080, B1), _port(30081))
    script = render_marks(table, IpvsBalancer().marks(lb, (s.key for s in table.services)))
    assert script == render_marks(
        table, {s.key: m for s, m in zip(table.services, (0x100, 0x101, 0x102), strict=True)}
    )
    nft.apply(lb, script)  # nft takes it
    listing = nft.listing(lb, ipvs_module.TABLE)
    assert "tcp dport 30080 meta mark set 0x00000100" in listing
    assert "tcp dport 30081 meta mark set 0x00000101" in listing
    assert f"ip daddr {VIP} meta l4proto {{ tcp, udp, sctp }} meta mark set 0x00000102" in listing
    assert f"meta mark {{ 0x00000100, 0x00000101, 0x00000102 }} snat to {SOURCE}" in listing
    assert "type route hook output" in listing
    nft.apply(lb, nft.remove(ipvs_module.TABLE))
    assert nft.tables(lb) == []
