"""Real clients of a swarm's services, for scenario expectations and tests: HTTP
requests and DNS queries sent from inside a network namespace (a test host's, or a
task's sandbox), by a short Python run there with ``nsenter --net``.

A request's answer is the body the server sent (the scenarios' web servers answer
their hostname, which a task's sandbox sets to the task id's first 12 characters,
real/agent/sandbox.py); a request that fails answers "". Traffic goes only to the
addresses given: the test hosts' own, their services' VIPs and tasks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from core.dataplane.state import RESOLVER_ADDRESS
from real.agent.sandbox import SANDBOX_TASK

#: Seconds one request may take (a connection to a task cut off by a partition hangs).
REQUEST_SECONDS = 2.0

_GET = r"""
import ipaddress, json, socket, sys
target, port, count, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])


def address_of(target):
    try:
        return str(ipaddress.ip_address(target))
    except ValueError:  # a name: the embedded DNS, asked afresh for every request
        from dnslib import QTYPE, DNSRecord
        asked = DNSRecord.question(target, "A")
        reply = DNSRecord.parse(asked.send("127.0.0.11", 53, timeout=timeout))
        found = [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]
        if not found:
            raise OSError("bad address " + target)
        return found[0]


answers = []
for _ in range(count):
    try:
        with socket.create_connection((address_of(target), port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            conn.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            data = b""
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        ok = head.split(b" ")[1:2] == [b"200"]
        answers.append(body.decode(errors="replace").strip() if ok else "")
    except Exception:  # refused, timed out, no such name: no answer
        answers.append("")
print(json.dumps(answers))
"""

_RESOLVE = r"""
import json, sys
from dnslib import QTYPE, RCODE, DNSRecord
name, server = sys.argv[1], sys.argv[2]
try:
    reply = DNSRecord.parse(DNSRecord.question(name, "A").send(server, 53, timeout=2))
except Exception:
    print("null")
else:
    found = [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]
    print(json.dumps(found if reply.header.rcode == RCODE.NOERROR and found else None))
"""


def _run_in(netns_path: str, script: str, *args: object, timeout: float) -> Any:
    argv = ["nsenter", f"--net={netns_path}", "--", sys.executable, "-c", script]
    done = subprocess.run(
        [*argv, *(str(a) for a in args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"a client in {netns_path} failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


def http_get(netns_path: str, address: str, port: int, count: int) -> list[str]:
    """``count`` HTTP requests, one after the other, to ``address:port`` from the
    namespace: each one's body, or "" where it failed. ``address`` may be a name, which
    the namespace's embedded DNS resolves before each request (the first answer is
    taken, as a client's resolver takes it: the server shuffles them)."""
    timeout = count * (REQUEST_SECONDS * 2) + 30
    answers: list[str] = _run_in(
        netns_path, _GET, address, port, count, REQUEST_SECONDS, timeout=timeout
    )
    return answers


def resolve(netns_path: str, name: str, server: str = RESOLVER_ADDRESS) -> tuple[str, ...] | None:
    """The A records the namespace's resolver (the embedded DNS by default) answers
    for ``name``; None when the name does not resolve."""
    found = _run_in(netns_path, _RESOLVE, name, server, timeout=30)
    return None if found is None else tuple(found)


def sandbox_netns(api: Any, task_id: str) -> str | None:
    """The network namespace of a task's running sandbox on a host (``api`` is its
    dockerd's ``docker.APIClient``); None when it has none running."""
    listed = api.containers(filters={"label": f"{SANDBOX_TASK}={task_id}"})
    if not listed:
        return None
    pid = int(api.inspect_container(listed[0]["Id"])["State"]["Pid"])
    return f"/proc/{pid}/ns/net" if pid else None
