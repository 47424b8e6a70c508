"""Test hosts for a scenario: one netns host per scenario host, each with its own
dockerd and shoal daemon (real/testhosts/swarm.py), named as the scenario names
them (``node ls`` shows manager-1, worker-2 ...), the swarm formed as in the
simulator: ``swarm init`` on the first manager, the others joined, every node Ready.

Faults: ``crash`` (kill -9 of everything the host runs, a power cut), ``boot``
(dockerd and the daemon again, which recovers from its WAL), ``restart`` (both),
``isolate``/``partition``/``heal`` (nftables rules in the host's namespace: drops on
its interface, or of what it sends to some hosts' addresses), ``loss``/``duplicate``
(nftables ``numgen`` drops both ways, ``dup`` of what it sends), ``pause``/``resume``
(SIGSTOP/SIGCONT of everything the host runs), ``kill`` (SIGKILL of a task's
container through the host's dockerd, found by its task label), and through the
daemon's test-only requests (real/testfaults.py) ``delay`` (its transport holds what
it sends), ``skew`` (its wall clock steps) and ``stall-disk`` (its WAL hangs). The
daemon forgets those three when it dies: they are asked again when it boots, and a
paused daemon is asked when it resumes (it could not answer before).
"""

from __future__ import annotations

import contextlib
from typing import Any

from cli.scenario.schema import Scenario
from real.agent import labels
from real.control import ControlError
from real.scenario import traffic
from real.scenario.carrier import REAL_FAULTS, FaultFailed
from real.scenario.daemonfaults import DaemonFaults
from real.scenario.shape import HostShape
from real.testhosts.firewall import NftError
from real.testhosts.hosts import TestHost, TestHosts
from real.testhosts.swarm import ShoalSwarm, SwarmError

#: Seconds a look waits for a host's dockerd to list its containers.
DOCKER_SECONDS = 2


class Testbed:
    """A context manager: the hosts built and the swarm formed on entry, everything
    removed on exit (even after a failure)."""

    def __init__(self, scenario: Scenario) -> None:
        self.hosts: tuple[tuple[str, bool], ...] = scenario.hosts
        self.names = [name for name, _ in scenario.hosts]
        self.test_hosts: TestHosts | None = None
        self.swarm: ShoalSwarm | None = None
        self.down: set[str] = set()  # crashed by a fault, not booted since
        self.paused: set[str] = set()
        #: The daemon faults each host should have: (delay, wall offset, stalled).
        self.daemon_faults: dict[str, DaemonFaults] = {}
        self._docker: dict[str, Any] = {}

    # -- life ------------------------------------------------------------------------------

    def __enter__(self) -> Testbed:
        test_hosts = TestHosts(len(self.names), docker=True)
        self.test_hosts = test_hosts
        try:
            test_hosts.open()
            by_test_name = {test_hosts[i].name: n for i, n in enumerate(self.names)}
            swarm = ShoalSwarm(test_hosts, hostnames=by_test_name)
            self.swarm = swarm
            swarm.start()
            managers = [self._host(n).name for n, manager in self.hosts if manager]
            workers = [self._host(n).name for n, manager in self.hosts if not manager]
            swarm.form(managers, workers)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        for client in self._docker.values():
            with contextlib.suppress(Exception):
                client.close()
        self._docker.clear()
        if self.test_hosts is not None:
            self.test_hosts.close()

    def _host(self, name: str) -> TestHost:
        assert self.test_hosts is not None
        return self.test_hosts[self.names.index(name)]

    # -- the carrier -----------------------------------------------------------------------

    def refusal(self, verb: str, host: str) -> str:
        return "" if verb in REAL_FAULTS else f"test hosts cannot {verb}"

    def socket(self, host: str) -> str:
        assert self.swarm is not None
        return str(self.swarm.socket(self._host(host)))

    def strike(self, verb: str, host: str, task_id: str = "") -> None:
        test_hosts = self.test_hosts
        assert test_hosts is not None
        target = self._host(host)
        if verb == "kill":
            self._kill(host, task_id)
        elif verb in ("crash", "restart"):
            self._drop_docker(host)
            test_hosts.crash(target)
            self.down.add(host)
            self.paused.discard(host)
            if verb == "restart":
                self._boot(host)
        elif verb == "boot":
            if host in self.down:
                self._boot(host)
        elif verb == "pause":
            test_hosts.pause(target)
            self.paused.add(host)
        elif verb == "resume":
            test_hosts.resume(target)
            self.paused.discard(host)
            self._ask_daemon(host)
        else:
            raise FaultFailed(f"test hosts cannot {verb}")

    def shape(self, host: str, held: HostShape, wanted: HostShape) -> None:
        assert self.test_hosts is not None
        unreachable = [self._host(name) for name in wanted.unreachable]
        try:
            self.test_hosts.shape(self._host(host), wanted.isolated, unreachable)
        except NftError as error:
            raise FaultFailed(f"nftables on {host}: {error}") from None

    def fault(self, verb: str, host: str, amount: float) -> None:
        test_hosts = self.test_hosts
        assert test_hosts is not None
        if verb in ("loss", "duplicate"):
            rules = test_hosts.lose if verb == "loss" else test_hosts.duplicate
            try:
                rules(self._host(host), amount)
            except NftError as error:
                raise FaultFailed(f"{verb} on {host}: {error}") from None
            return
        self.daemon_faults[host] = self.daemon_faults.get(host, DaemonFaults()).with_fault(
            verb, amount
        )
        self._ask_daemon(host, verb)

    def _ask_daemon(self, host: str, only: str = "") -> None:
        """Ask ``host``'s daemon for the faults it should have (``only`` that one),
        unless it cannot answer now (down or paused: it is asked when it can)."""
        faults = self.daemon_faults.get(host)
        if faults is None or host in self.down or host in self.paused:
            return
        assert self.swarm is not None
        for verb, amount in faults.requests(only):
            try:
                self.swarm.test_fault(self._host(host), verb, amount)
            except ControlError as error:
                raise FaultFailed(f"{verb} on {host}: {error}") from None

    def _boot(self, host: str) -> None:
        assert self.test_hosts is not None
        self.test_hosts.restart(self._host(host))
        self.down.discard(host)
        if host in self.daemon_faults:  # a new process has none of them yet
            assert self.swarm is not None
            try:
                self.swarm.start_daemon(self._host(host))  # (running: waits for its socket)
            except SwarmError as error:
                raise FaultFailed(f"{host}'s daemon did not come back: {error}") from None
            self._ask_daemon(host)

    def containers_on(self, host: str) -> int | None:
        if host in self.down:
            return 0
        if host in self.paused:
            return None
        try:
            listed = self._client(host).api.containers(
                filters={"label": labels.TASK_ID, "status": "running"}
            )
        except Exception:  # a dockerd that does not answer: not seen
            self._drop_docker(host)
            return None
        return len(listed)

    def request(self, host: str, task_id: str, target: str, port: int, count: int) -> list[str]:
        netns = self._netns(host, task_id)
        if netns is None:
            return [""] * count
        return traffic.http_get(netns, target or self._host(host).address, port, count)

    def resolve(self, host: str, task_id: str, name: str) -> tuple[str, ...] | None:
        netns = self._netns(host, task_id) if task_id else None
        return traffic.resolve(netns, name) if netns is not None else None

    def _netns(self, host: str, task_id: str) -> str | None:
        """Where traffic from ``host`` (its task's sandbox, if a task is named)
        starts; None when nothing can send from there now."""
        if host in self.down or host in self.paused:
            return None
        if not task_id:
            return self._host(host).netns_path
        try:
            return traffic.sandbox_netns(self._client(host).api, task_id)
        except Exception:  # a dockerd that does not answer: no sandbox to send from
            self._drop_docker(host)
            return None

    def _kill(self, host: str, task_id: str) -> None:
        if host in self.down or host in self.paused:
            raise FaultFailed(f"{host} is {'down' if host in self.down else 'paused'}")
        try:
            api = self._client(host).api
            listed = api.containers(
                filters={"label": f"{labels.TASK_ID}={task_id}", "status": "running"}
            )
            for container in listed:
                api.kill(container["Id"])
        except Exception as error:  # the SDK raises many kinds
            self._drop_docker(host)
            raise FaultFailed(f"docker kill on {host}: {error}") from None
        if not listed:
            raise FaultFailed(f"no container of task {task_id} runs on {host}")

    def _client(self, host: str) -> Any:
        client = self._docker.get(host)
        if client is None:
            dockerd = self._host(host).dockerd
            assert dockerd is not None
            client = self._docker[host] = dockerd.client(timeout=DOCKER_SECONDS)
        return client

    def _drop_docker(self, host: str) -> None:
        client = self._docker.pop(host, None)
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
