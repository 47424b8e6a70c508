"""Reachability probes between test hosts, run inside their namespaces.

Traffic goes only to the test hosts' own addresses. ``ping`` uses busybox (its ``wget``
segfaults here, real-backend.md §0); the UDP probe tells directions apart, which a ping
or a TCP handshake cannot (both need the reply path), so one-way cuts are checked with it.
"""

from __future__ import annotations

import subprocess
import sys

from real.testhosts.hosts import TestHost
from real.testhosts.packages import BUSYBOX

_RECEIVE = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(float(sys.argv[3]))
print("ready", flush=True)
try:
    data, peer = s.recvfrom(512)
except TimeoutError:
    sys.exit(1)
print(peer[0], data.decode(), flush=True)
"""

# argv: address, port, how many, seconds between two sends
_SEND = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[3])):
    try:
        s.sendto(b"probe", (sys.argv[1], int(sys.argv[2])))
    except OSError:
        pass  # a packet dropped in output may surface as EPERM: that is the fault
    time.sleep(float(sys.argv[4]))
"""


_COUNT = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(float(sys.argv[3]))
print("ready", flush=True)
count = 0
try:
    while True:
        s.recvfrom(512)
        count += 1
except TimeoutError:
    pass
print(count, flush=True)
"""


def ping(src: TestHost, address: str, count: int = 1, wait: int = 1) -> bool:
    """Whether ``src`` gets an ICMP echo reply from ``address`` (both directions work)."""
    done = src.run([BUSYBOX, "ping", "-c", str(count), "-W", str(wait), address], timeout=30)
    return done.returncode == 0


def udp_delivers(
    src: TestHost, dst: TestHost, port: int = 47999, window: float = 1.0, sends: int = 5
) -> bool:
    """Whether a UDP datagram from ``src`` arrives at ``dst`` (one direction only): ``sends``
    datagrams 50 ms apart, and ``window`` seconds for the first to arrive."""
    receiver = subprocess.Popen(
        dst.command([sys.executable, "-c", _RECEIVE, dst.address, str(port), str(window)]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdout is not None
        if receiver.stdout.readline().strip() != "ready":
            raise RuntimeError(f"UDP receiver on {dst.name} failed: {receiver.communicate()[1]}")
        argv = [sys.executable, "-c", _SEND, dst.address, str(port), str(sends), "0.05"]
        src.run(argv, timeout=30)
        out, _ = receiver.communicate(timeout=window + 10)
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()
    return receiver.returncode == 0 and out.split()[:1] == [src.address]


def udp_arrivals(src: TestHost, dst: TestHost, address: str, sends: int, port: int = 47998) -> int:
    """How many of ``sends`` UDP datagrams from ``src`` to ``address`` (``dst``'s own,
    or its loopback) ``dst`` receives: fewer under loss, more under duplication. The
    receiver stops once nothing has come for a second."""
    receiver = subprocess.Popen(
        dst.command([sys.executable, "-c", _COUNT, address, str(port), "1.0"]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdout is not None
        if receiver.stdout.readline().strip() != "ready":
            raise RuntimeError(f"UDP counter on {dst.name} failed: {receiver.communicate()[1]}")
        src.run([sys.executable, "-c", _SEND, address, str(port), str(sends), "0.001"], timeout=60)
        out, err = receiver.communicate(timeout=30)
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()
    if receiver.returncode != 0:
        raise RuntimeError(f"UDP counter on {dst.name} failed: {err}")
    return int(out.strip())
