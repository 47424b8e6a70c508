"""A shoal swarm on test hosts: one ``shoal daemon`` per host, inside the host's network
namespace (and a UTS namespace of its own, so each node has its own hostname, as VMs
do), against the host's dockerd, driven with the ``shoal`` CLI.

::

    with TestHosts(3, docker=True) as hosts:
        swarm = ShoalSwarm(hosts)
        swarm.start()
        swarm.form(managers=["h1", "h2"], workers=["h3"])
        swarm.shoal("h1", "service", "create", "--replicas", "6", IMAGE)
        swarm.kill("h2")          # kill -9 of the daemon alone (its containers run on)
        swarm.start_daemon("h2")  # the same command again: it recovers from its WAL

The daemons' data directories are under each host's directory, so the test hosts'
clean-up removes them with everything else.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from real.agent.images import ensure_busybox_image
from real.control import SOCKET_NAME, ControlClient, ControlError
from real.testfaults import FLAG, TEST_FAULT
from real.testhosts.hosts import TestHost, TestHosts
from real.testhosts.procs import Proc

ROOT = Path(__file__).resolve().parents[2]
#: The swarm port every test host's daemon listens on (each host has its own address).
SWARM_PORT = 2377
DAEMON = "shoal"
#: Seconds a daemon may take to open its control socket, or a wait to come true.
PATIENCE = 90.0
POLL_SECONDS = 0.2


class SwarmError(AssertionError):
    """A step of forming or driving the swarm did not do what it must (with the logs)."""


def with_hostname(name: str, argv: Sequence[str]) -> list[str]:
    """``argv`` in a UTS namespace of its own whose hostname is ``name``."""
    return ["unshare", "--uts", "--", "sh", "-c", 'hostname "$0" && exec "$@"', name, *argv]


class ShoalSwarm:
    """The shoal daemons of a run of test hosts (which must have dockerds)."""

    def __init__(
        self,
        hosts: TestHosts,
        python: str = sys.executable,
        hostnames: Mapping[str, str] | None = None,
    ) -> None:
        self.hosts = hosts
        self.python = python
        #: The UTS hostname of each test host's daemon (``node ls``'s HOSTNAME), by
        #: test host name; a host not named here is called after the test host.
        self.hostnames = dict(hostnames or {})

    # -- daemons ------------------------------------------------------------------------

    def host(self, name: str | TestHost) -> TestHost:
        return name if isinstance(name, TestHost) else self.hosts[name]

    def data_dir(self, host: str | TestHost) -> Path:
        return self.host(host).dir / "shoal"

    def socket(self, host: str | TestHost) -> Path:
        return self.data_dir(host) / SOCKET_NAME

    def address(self, host: str | TestHost) -> str:
        """The host's swarm address, ``ADDRESS:2377``."""
        return f"{self.host(host).address}:{SWARM_PORT}"

    def start(self, names: Iterable[str] | None = None) -> None:
        """Import the busybox image into each host's dockerd and start its daemon."""
        chosen = [self.host(n) for n in names] if names is not None else list(self.hosts)
        for host in chosen:
            if host.dockerd is None:
                raise SwarmError(f"{host.name} has no dockerd (TestHosts(docker=True))")
            client = host.dockerd.client()
            try:
                ensure_busybox_image(client)
            finally:
                client.close()
            self.start_daemon(host)

    def start_daemon(self, name: str | TestHost) -> Proc:
        """Start (or restart, after :meth:`kill`) the host's daemon; returns once its
        control socket answers."""
        host = self.host(name)
        proc = host.procs.get(DAEMON)
        if proc is None:
            argv = [
                self.python,
                "-m",
                "cli.main",
                "daemon",
                "--data-dir",
                str(self.data_dir(host)),
                "--listen-addr",
                self.address(host),
                "--docker-host",
                host.docker_url,
                "--netns-prefix",
                f"{host.netns}-",
                FLAG,  # the scenario's delay, skew and stall-disk (real/testfaults.py)
            ]
            env = {"PYTHONPATH": str(ROOT)}
            hostname = self.hostnames.get(host.name, host.name)
            proc = self.hosts.spawn(host, with_hostname(hostname, argv), DAEMON, env)
        elif not proc.alive():
            proc.start()
        self.wait(lambda: self._answers(host, proc), f"{host.name}'s control socket", host)
        return proc

    def kill(self, name: str | TestHost) -> None:
        """kill -9 the host's daemon alone: its dockerd and containers run on."""
        proc = self.host(name).procs.get(DAEMON)
        if proc is not None and proc.alive():
            proc.kill()

    def _answers(self, host: TestHost, proc: Proc) -> bool:
        if not proc.alive():
            raise SwarmError(f"{host.name}'s daemon exited\n{self.log(host)}")
        path = self.socket(host)
        if not path.exists():
            return False
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(str(path))
            except OSError:
                return False
        return True

    def log(self, name: str | TestHost, tail: int = 6000) -> str:
        """The end of the host's daemon log."""
        host = self.host(name)
        proc = host.procs.get(DAEMON)
        if proc is None or not proc.stderr_path.exists():
            return ""
        text = proc.stderr_path.read_text(errors="replace")[-tail:]
        return f"--- {host.name} daemon log ---\n{text}"

    def logs(self) -> str:
        return "\n".join(self.log(host) for host in self.hosts)

    # -- commands -----------------------------------------------------------------------

    def shoal(
        self, name: str | TestHost, *words: str, timeout: float = PATIENCE + 150
    ) -> subprocess.CompletedProcess[str]:
        """``shoal -H unix://<host's socket> words...`` (never raises on exit code)."""
        argv = [self.python, "-m", "cli.main", "--host", f"unix://{self.socket(name)}", *words]
        return subprocess.run(
            argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )

    def docker(
        self,
        name: str | TestHost,
        *words: str,
        timeout: float = PATIENCE + 150,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """The stock ``docker`` CLI against the host's daemon (its Engine API socket),
        with a configuration directory of its own (no contexts or credentials of the
        machine's user leak in), ``stdin`` its input. Never raises on exit code."""
        config = self.host(name).dir / "docker-cli"
        config.mkdir(exist_ok=True)
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(config),
            "DOCKER_HOST": f"unix://{self.socket(name)}",
            "DOCKER_CONFIG": str(config),
        }
        return subprocess.run(
            ["docker", *words], env=env, capture_output=True, text=True, timeout=timeout,
            check=False, input=stdin if stdin is not None else "",
        )  # fmt: skip

    def must(self, name: str | TestHost, *words: str) -> str:
        """``shoal words...`` that must succeed: its stdout."""
        done = self.shoal(name, *words)
        if done.returncode != 0:
            raise SwarmError(
                f"shoal {' '.join(words)} on {self.host(name).name} exited {done.returncode}:\n"
                f"{done.stdout}{done.stderr}\n{self.logs()}"
            )
        return done.stdout

    def control(self, name: str | TestHost, timeout: float = 60.0) -> ControlClient:
        """A connection to the host's control socket, for many requests in one process."""
        return ControlClient(str(self.socket(name)), timeout)

    def info(self, name: str | TestHost) -> dict[str, object]:
        """The daemon's ``Info``: host, hostname, node_id, manager."""
        client = self.control(name)
        try:
            reply = client.call("Info", {})
        finally:
            client.close()
        return dict(reply.value) if reply.ok and isinstance(reply.value, dict) else {}

    def test_fault(self, name: str | TestHost, fault: str, amount: float) -> dict[str, Any]:
        """A test-only fault on the host's daemon (real/testfaults.py; ``amount`` 0
        ends it): its fault state and wall clock afterwards. A refusal raises
        :class:`ControlError`."""
        client = self.control(name, 10.0)
        try:
            reply = client.call(TEST_FAULT, {"fault": fault, "amount": amount})
        finally:
            client.close()
        if not reply.ok:
            raise ControlError(reply.error)
        return dict(reply.value)

    def token(self, manager: str | TestHost, role: str) -> str:
        return self.must(manager, "swarm", "join-token", "-q", role).strip()

    def form(self, managers: Sequence[str], workers: Sequence[str] = ()) -> None:
        """``swarm init`` on the first manager, the others joined as managers, then the
        workers; returns once every node is Ready in ``node ls``."""
        first, *others = managers
        self.must(first, "swarm", "init", "--advertise-addr", self.host(first).address)
        for role, names in (("manager", others), ("worker", workers)):
            if not names:
                continue
            token = self.token(first, role)
            for name in names:
                self.must(name, "swarm", "join", "--token", token, self.address(first))
        count = len(managers) + len(workers)
        self.until(first, ("node", "ls"), lambda out: ready_nodes(out) == count)

    # -- waiting ------------------------------------------------------------------------

    def until(self, name: str | TestHost, words: Sequence[str], done: Callable[[str], bool]) -> str:
        """Run ``shoal words`` on the host until ``done(stdout)``; its last stdout."""
        last = [""]

        def check() -> bool:
            try:
                result = self.shoal(name, *words, timeout=60)
            except subprocess.TimeoutExpired:
                return False
            last[0] = result.stdout + result.stderr
            return result.returncode == 0 and done(result.stdout)

        self.wait(check, lambda: f"shoal {' '.join(words)} to show what is wanted:\n{last[0]}")
        return last[0]

    def wait(
        self,
        done: Callable[[], bool],
        what: str | Callable[[], str],
        host: TestHost | None = None,
    ) -> None:
        """Poll ``done`` until it holds; give up after PATIENCE saying ``what`` (a
        callable is asked only then, so it can tell what was last seen)."""
        deadline = time.monotonic() + PATIENCE
        while not done():
            if time.monotonic() > deadline:
                logs = self.log(host) if host is not None else self.logs()
                said = what() if callable(what) else what
                raise SwarmError(f"gave up waiting for {said}\n{logs}")
            time.sleep(POLL_SECONDS)


def rows(table: str) -> list[str]:
    """A listing's rows, without its header."""
    return [line for line in table.splitlines()[1:] if line.strip()]


def ready_nodes(table: str) -> int:
    """How many rows of ``node ls`` are Ready."""
    return sum(1 for row in rows(table) if " Ready " in row)


__all__ = ["DAEMON", "SWARM_PORT", "ControlError", "ShoalSwarm", "SwarmError", "rows"]
