"""N test hosts on one machine: the real-mode mirror of the simulator's hosts.

::

    with TestHosts(3, docker=True) as hosts:
        h1, h2, h3 = hosts
        daemon = hosts.spawn(h1, ["shoal", "daemon", ...], name="shoal")
        hosts.cut(h1, h2)        # h1 cannot reach h2; h2 still reaches h1
        hosts.isolate(h3)        # h3 cut off both ways
        hosts.lose(h2, 0.2)      # a fifth of h2's packets lost, in and out
        hosts.duplicate(h2, 0.1) # a tenth of what h2 sends arrives twice
        hosts.heal()             # every network fault gone
        hosts.crash(h2)          # kill -9 everything h2 runs (daemon, dockerd, containers)
        hosts.restart(h2)        # dockerd and the spawned commands again

Each host is a network namespace on a shared bridge (network.py) with its own address, an
nft table for faults (firewall.py), optionally its own dockerd (real/dockerd.py) and any
processes spawned in it (procs.py). Leaving the ``with`` block, even by an exception or a
^C, removes every process, namespace, device, rule, cgroup and directory the run made.
"""

from __future__ import annotations

import contextlib
import ipaddress
import signal
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from real.dockerd import Dockerd, Scoped, check_root
from real.testhosts import network, procs, sweep
from real.testhosts.firewall import Firewall
from real.testhosts.naming import RunId
from real.testhosts.procs import Proc


class TestHost:
    """One host: its namespace, address, directory, firewall, dockerd and processes."""

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, run: RunId, index: int, address: str, base: Path) -> None:
        self.run_id = run
        self.index = index
        self.name = f"h{index}"
        self.netns = run.name(self.name)
        self.address = address
        #: Logs of spawned processes, and the dockerd root: ``<base>/<run id>-h<index>``
        #: (run-tagged, as dockerd names its cgroup after it; short, for socket paths).
        self.dir = base / self.netns
        self.procs: dict[str, Proc] = {}
        self.dockerd: Dockerd | None = None
        self.firewall: Firewall | None = None

    def __repr__(self) -> str:
        return f"TestHost({self.name}, {self.address}, netns={self.netns})"

    @property
    def netns_path(self) -> str:
        return network.netns_path(self.netns)

    @property
    def docker_url(self) -> str:
        """The ``DOCKER_HOST`` of this host's dockerd."""
        if self.dockerd is None:
            raise RuntimeError(f"{self.name} has no dockerd (TestHosts(docker=True))")
        return self.dockerd.url

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` as it runs inside this host."""
        return procs.nsenter(self.netns_path, argv)

    def run(
        self, argv: Sequence[str], timeout: float = 30.0, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a short command inside this host and wait for it (never raises on exit code)."""
        return subprocess.run(
            self.command(argv),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def spawn(
        self, argv: Sequence[str], name: str | None = None, env: Mapping[str, str] | None = None
    ) -> Proc:
        """Launch a long-running process inside this host; logs go to ``<dir>/<name>.out|err``."""
        name = name or Path(argv[0]).name
        if name in self.procs:
            raise ValueError(f"{self.name} already has a process named {name!r}")
        proc = Proc(self.netns_path, argv, self.dir, name, str(self.run_id), env)
        self.procs[name] = proc
        return proc

    def pids(self) -> set[int]:
        """Every process this host runs: in its namespace, spawned, and their children."""
        spawned = {p.pid for p in self.procs.values() if p.alive()}
        if self.dockerd is not None and self.dockerd.process is not None:
            spawned.add(self.dockerd.process.pid)
        return procs.host_pids(self.netns_path, spawned)


class TestHosts(Scoped):
    """A run of ``n`` test hosts; a context manager that always cleans up."""

    __test__ = False

    def __init__(
        self,
        n: int,
        *,
        subnet: str = network.DEFAULT_SUBNET,
        docker: bool = False,
        base: Path | None = None,
    ) -> None:
        if n < 1:
            raise ValueError("at least one host")
        self.n = n
        self.subnet = ipaddress.ip_network(subnet)
        self.docker = docker
        self.base = sweep.default_base() if base is None else base
        self.run_id = RunId.new()
        self.bridge_ns = self.run_id.name("br")
        self.hosts: list[TestHost] = []
        self._open = False
        if docker:  # fail before building anything: the longest host dir is the last
            check_root(self.base / self.run_id.name(f"h{n}"))

    # -- life ---------------------------------------------------------------------------

    def _bring_up(self) -> None:
        self.open()

    def _tear_down(self) -> None:
        self.close()

    def open(self) -> None:
        """Build the network, then start each host's dockerd (in parallel) if asked."""
        self._open = True
        try:
            network.create_bridge(self.bridge_ns)
            for index in range(1, self.n + 1):
                address = network.host_address(str(self.subnet), index)
                host = TestHost(self.run_id, index, address, self.base)
                host.dir.mkdir(parents=True)
                self.hosts.append(host)
                network.create_namespace(host.netns)
                network.attach_host(
                    self.bridge_ns, host.netns, f"v{index}", address, self.subnet.prefixlen
                )
                host.firewall = Firewall(host.netns_path, str(self.run_id))
            if self.docker:
                for host in self.hosts:
                    host.dockerd = Dockerd(host.dir, netns=host.netns)
                self._each(self.start_docker)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop and remove everything; safe to call twice and after a failed open."""
        if not self._open:
            return
        self._open = False
        for host in self.hosts:
            with contextlib.suppress(Exception):  # remove_run below gets what this misses
                self.crash(host)
        sweep.remove_run(self.run_id, self.base)

    def _each(self, action: Callable[[TestHost], None]) -> None:
        with ThreadPoolExecutor(max_workers=len(self.hosts)) as pool:
            for result in [pool.submit(action, host) for host in self.hosts]:
                result.result()

    # -- access -------------------------------------------------------------------------

    def __iter__(self) -> Iterator[TestHost]:
        return iter(self.hosts)

    def __len__(self) -> int:
        return len(self.hosts)

    def __getitem__(self, key: int | str) -> TestHost:
        """By position (0-based) or by name (``"h1"``)."""
        if isinstance(key, int):
            return self.hosts[key]
        for host in self.hosts:
            if host.name == key:
                return host
        raise KeyError(key)

    # -- processes ----------------------------------------------------------------------

    def spawn(
        self,
        host: TestHost,
        argv: Sequence[str],
        name: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Proc:
        return host.spawn(argv, name, env)

    def start_docker(self, host: TestHost) -> None:
        if host.dockerd is None:
            raise RuntimeError(f"{host.name} has no dockerd (TestHosts(docker=True))")
        host.dockerd.start()

    def crash(self, host: TestHost) -> None:
        """kill -9 everything the host runs, then clear what a reboot would (dockerd's
        mounts and cgroups): a power cut. Disk contents survive."""
        procs.kill_all(host.pids())
        for proc in host.procs.values():
            proc.wait(10.0)
        if host.dockerd is not None:
            host.dockerd.stop()  # the daemon is dead already: this reaps and unmounts

    def restart(self, host: TestHost) -> None:
        """Boot the host again: its dockerd, then every spawned command (same argv)."""
        if host.dockerd is not None:
            host.dockerd.start()
        for proc in host.procs.values():
            if not proc.alive():
                proc.start()

    def pause(self, host: TestHost) -> None:
        """SIGSTOP everything the host runs (a hung machine)."""
        procs.signal_all(host.pids(), signal.SIGSTOP)

    def resume(self, host: TestHost) -> None:
        procs.signal_all(host.pids(), signal.SIGCONT)

    # -- network faults -----------------------------------------------------------------

    def isolate(self, host: TestHost) -> None:
        """Cut ``host`` off from every other host, both ways."""
        self._firewall(host).isolate()

    def cut(self, src: TestHost, dst: TestHost) -> None:
        """One way: ``src`` can no longer reach ``dst``; ``dst``'s packets still reach ``src``."""
        self._firewall(src).block(dst.address)

    def partition(self, a: TestHost, b: TestHost) -> None:
        """Both ways between two hosts."""
        self.cut(a, b)
        self.cut(b, a)

    def shape(self, host: TestHost, isolated: bool, unreachable: Sequence[TestHost]) -> None:
        """Exactly this much of the network for ``host``: cut off from everyone, or
        unable to send to ``unreachable`` (its loss and duplication stay as they are)."""
        self._firewall(host).shape(isolated, [peer.address for peer in unreachable])

    def lose(self, host: TestHost, share: float) -> None:
        """Drop ``share`` (0 to 1) of the packets in and out of ``host`` (0: none)."""
        self._firewall(host).lose(share)

    def duplicate(self, host: TestHost, share: float) -> None:
        """Send ``share`` (0 to 1) of ``host``'s outgoing packets twice (0: none)."""
        self._firewall(host).duplicate_sent(share)

    def heal(self, host: TestHost | None = None) -> None:
        """Remove the network faults of ``host`` (of every host if None)."""
        for each in self.hosts if host is None else [host]:
            self._firewall(each).heal()

    @staticmethod
    def _firewall(host: TestHost) -> Firewall:
        assert host.firewall is not None, "host not built"
        return host.firewall
