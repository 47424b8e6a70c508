"""A lab of scratch namespaces for the data-plane tests, and the tiny TCP servers and
clients they run inside them.

``SERVER_SCRIPT NAME PORT...`` answers each connection with ``NAME PORT PEER`` (the peer as
the server sees it: NAT shows there); ``CLIENT_SCRIPT ADDRESS PORT COUNT`` connects COUNT
times and prints the answers as JSON ("refused", or "error ..." and stop)."""

import contextlib
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from real.agent import nft
from real.testhosts import sweep
from real.testhosts.naming import RunId
from real.testhosts.network import netns_path

SERVER_SCRIPT = """
import socket, sys, threading
name, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
def serve(listener, port):
    while True:
        conn, peer = listener.accept()
        conn.sendall(f"{name} {port} {peer[0]}\\n".encode())
        conn.close()
for port in ports:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(128)
    threading.Thread(target=serve, args=(listener, port), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"""

CLIENT_SCRIPT = """
import json, socket, sys
address, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = []
for _ in range(count):
    try:
        with socket.create_connection((address, port), timeout=3) as conn:
            out.append(conn.makefile().readline().strip())
    except ConnectionRefusedError:
        out.append("refused")
    except OSError as why:
        out.append(f"error {why}")
        break  # a timeout: the rest would wait as long
print(json.dumps(out))
"""


def client_argv(address: str, port: int, count: int) -> list[str]:
    """The client, to run in a namespace: ``count`` connections to ``address:port``."""
    return [sys.executable, "-c", CLIENT_SCRIPT, address, str(port), str(count)]


@dataclass
class Lab:
    """Namespaces named from one run id, and the servers running in them."""

    run: RunId
    servers: list[subprocess.Popen[str]]

    def path(self, name: str) -> str:
        return netns_path(self.run.name(name))

    def ask(self, where: str, address: str, port: int, count: int = 1) -> list[str]:
        """``count`` connections from namespace ``where``: each answer."""
        done = subprocess.run(
            nft.nsenter(self.path(where), client_argv(address, port, count)),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        answers: list[str] = json.loads(done.stdout)
        return answers

    def serve(self, name: str, *ports: str) -> None:
        """A server in namespace ``name`` answering on ``ports``, once it listens."""
        server = subprocess.Popen(
            nft.nsenter(self.path(name), [sys.executable, "-c", SERVER_SCRIPT, name, *ports]),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.servers.append(server)
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "ready", server.communicate()[1]


@contextlib.contextmanager
def built_lab(build: Callable[[Lab], None]) -> Iterator[Lab]:
    """A lab ``build`` sets up; afterwards every server, namespace and device of its
    run is gone (checked), even when the test failed."""
    built = Lab(RunId.new(), [])
    try:
        build(built)
        yield built
    finally:
        for server in built.servers:
            server.kill()
            server.communicate()
        sweep.remove_run(built.run)
        assert sweep.remains(built.run) == []
