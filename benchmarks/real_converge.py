"""60 busybox replicas converging under shoal, under Docker's own swarm mode and with no
orchestrator at all (the floor), and kill -9 of a worker host until every task is back;
as JSON (issue 16, acceptance point 6).

One run, over the same three test hosts (real/testhosts: a network namespace each, with
its own dockerd holding the locally imported ``local/busybox:1``):

- **shoal**: a shoal daemon per host, h1 the manager, h2 and h3 workers. The service is
  created as ``shoal service create --replicas N -d --stop-grace-period 1s`` would create
  it (the same parser, in this process: no CLI start-up is timed), on the leader's
  control socket. Timed from sending the create until N tasks are Running in the
  leader's store (its task list, polled every ``--poll`` seconds);
  ``containers_started_s`` is when the last of their containers started, by dockerd's
  own ``State.StartedAt``.
- **docker**: the same hosts' dockerds joined into a Docker swarm (h1 the manager; port
  2378, as shoal holds 2377 in each host), ``docker service create`` of the same service
  through the Engine API (the SDK does not resolve the image digest, so the local-only
  image is used as is). Timed until N tasks are Running in the Docker manager's task
  list, polled the same way.
- **floor**: N containers created and started through the SDK (create + start, as
  ``docker run -d`` does; with networking disabled, as Docker's swarm makes a task's
  container when the task has no networks), N/3 per host, ``--floor-threads`` client
  threads per host at once, no orchestrator: timed until the last start returned.
  The default, 4 threads per host, is as fast as any: a dockerd here starts
  containers one after another whatever the concurrency (1, 4 and 20 threads per
  host measured within noise of each other), and a few threads keep it always busy
  while keeping the client's own load small.

Modes alternate round by round (the order rotates each round); between rounds what a
round made is removed and every dockerd must be empty of containers before the next one.
Each round (and each crash) starts once the machine is quiet (at most 15% of its CPUs
busy over half a second), so that the kernel releasing the previous round's containers
is not timed in the next. First, ``--warmup`` untimed rounds of each mode: the first
containers fresh dockerds make cost them far more (containerd prepares the image's
snapshot), and the mode that happened to go first would pay for it.

- **recovery**: with N tasks running, the test host h3 is crashed (kill -9 of its shoal
  daemon, its dockerd and its containers: TestHosts.crash); timed until N tasks are
  Running on the other hosts by the orchestrator's task list, and until h3 is marked
  Down. Only one orchestrator has a service during a crash round; the two alternate.
  Then h3 is restarted (TestHosts.restart: its dockerd and shoal daemon) and the run
  waits until h3 is Ready again in both swarms.

The figures are per mode samples, median, min and max; the ratios and the issue's bars
(shoal <= 1.0x Docker and <= 1.1x the floor to converge; recovery <= Docker's), the
shoal / Docker ratio round by round (``paired_shoal_vs_docker``: the machine's pace
drifts over a run, and cancels within a round), and the environment. A round that
fails (does not converge, recover or clean up within PATIENCE) ends the run: the JSON
then holds the rounds that finished, ``"complete": false`` and the error, and the exit
status is 1. Needs root. Every namespace, process and directory it made is removed at
the end, also on failure, ^C or SIGTERM.

Usage: python benchmarks/real_converge.py [--rounds 5] [--recovery-rounds 5] [--warmup 1]
[--replicas 60] [--floor-threads 4] [--poll 0.1] [--quick] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from cli.commands.language import parse
from cli.commands.run import execute
from core.manager.requests import ClientReply
from core.model.enums import NodeState
from core.model.node import Node
from core.model.task import Task
from core.tasks.states import TaskState
from real.agent.images import IMAGE
from real.agent.labels import SERVICE_ID
from real.control import ControlClient, ControlError
from real.testhosts import packages, sweep
from real.testhosts.hosts import TestHost, TestHosts
from real.testhosts.swarm import ShoalSwarm, SwarmError

MODES = ("shoal", "docker", "floor")
ORCHESTRATORS = ("shoal", "docker")
#: Docker's swarm port in each host: shoal's daemon holds 2377 there.
DOCKER_SWARM_PORT = 2378
#: The test host crashed in the recovery rounds (a worker of both swarms).
VICTIM = "h3"
#: Seconds a round may take to converge, recover or clean up before the run fails.
PATIENCE = 180.0
#: Seconds the service runs steadily before the crash.
STEADY_SECONDS = 2.0
#: Labels the floor's containers carry (not Docker's task labels: no agent claims them).
FLOOR_LABEL = "shoal.bench.floor"
#: A round starts once the machine's CPUs were this busy at most over QUIET_WINDOW.
QUIET_BUSY = 0.15
QUIET_WINDOW = 0.5
#: Seconds a round waits at most for the machine to be quiet (then it starts anyway).
QUIET_PATIENCE = 20.0
#: The bars of issue 16: shoal / Docker and shoal / floor to converge, shoal / Docker to recover.
BARS = {"shoal_vs_docker": 1.0, "shoal_vs_floor": 1.1, "recovery_shoal_vs_docker": 1.0}


class BenchError(Exception):
    """A round did not converge or clean up in time (with what was seen)."""


#: This process: pyroute2 forks helpers that inherit our SIGTERM handler.
OWNER = os.getpid()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM as a ^C in this process (so the test hosts are removed); a forked
    child that inherited the handler dies of it as it would have."""
    if os.getpid() != OWNER:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise KeyboardInterrupt(f"signal {signum}")


def summary(samples: Sequence[float]) -> dict[str, Any]:
    return {
        "samples": [round(s, 3) for s in samples],
        "median": round(statistics.median(samples), 3),
        "min": round(min(samples), 3),
        "max": round(max(samples), 3),
    }


def started_at(text: str) -> float:
    """dockerd's ``State.StartedAt`` (RFC 3339 with nanoseconds) as a Unix time."""
    head, _, frac = text.rstrip("Z").partition(".")
    whole = datetime.fromisoformat(head + "+00:00").timestamp()
    return whole + (float(f"0.{frac}") if frac else 0.0)


def wait_for(
    done: Callable[[], bool], what: str, timeout: float = PATIENCE, interval: float = 0.1
) -> float:
    """Poll ``done`` until it is true; the monotonic time it first was."""
    deadline = time.monotonic() + timeout
    while True:
        if done():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise BenchError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def busy_seconds() -> tuple[float, float]:
    """CPU seconds spent busy and in all, over every CPU, since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / ticks, sum(fields[:8]) / ticks


def settle() -> float:
    """Wait until the machine is quiet (at most QUIET_BUSY of its CPUs busy over
    QUIET_WINDOW, or QUIET_PATIENCE passed); the seconds it took.

    Every round starts from the same quiet machine: the kernel and containerd go
    on releasing what the previous round's containers held (cgroups, namespaces,
    shims) after dockerd lists none, and a round that starts meanwhile pays for it."""
    start = time.monotonic()
    while True:
        busy0, all0 = busy_seconds()
        time.sleep(QUIET_WINDOW)
        busy1, all1 = busy_seconds()
        waited = time.monotonic() - start
        if all1 <= all0 or (busy1 - busy0) / (all1 - all0) <= QUIET_BUSY or waited > QUIET_PATIENCE:
            return waited


# -- the bench: hosts, both swarms, the dockerds' clients ---------------------------------


@dataclass
class Bench:
    hosts: TestHosts
    swarm: ShoalSwarm
    replicas: int
    poll: float
    floor_threads: int
    #: The floor by 60 ``docker run -d`` processes (the docker CLI) instead of the SDK.
    floor_cli: bool = False
    #: One SDK client per test host, by host name.
    docker: dict[str, Any] = field(default_factory=dict)
    leader: ControlClient | None = None
    shoal_ids: dict[str, str] = field(default_factory=dict)
    docker_ids: dict[str, str] = field(default_factory=dict)
    forced_cleanups: int = 0
    rounds: int = 0

    # -- set-up -------------------------------------------------------------------------

    def open(self) -> None:
        import docker

        for host in self.hosts:
            self.docker[host.name] = docker.DockerClient(
                base_url=host.docker_url, timeout=120, max_pool_size=max(10, self.floor_threads + 4)
            )
        self.swarm.start()
        self.swarm.form(["h1"], ["h2", "h3"])
        self.shoal_ids = {h.name: str(self.swarm.info(h)["node_id"]) for h in self.hosts}
        self._docker_swarm()

    def _docker_swarm(self) -> None:
        """h1's dockerd inits a Docker swarm, h2's and h3's join it as workers."""
        first = self.hosts["h1"]
        manager = self.docker["h1"]
        address = f"{first.address}:{DOCKER_SWARM_PORT}"
        manager.swarm.init(advertise_addr=address, listen_addr=address)
        manager.swarm.reload()
        token = manager.swarm.attrs["JoinTokens"]["Worker"]
        for host in self.hosts:
            if host.name == "h1":
                continue
            own = f"{host.address}:{DOCKER_SWARM_PORT}"
            self.docker[host.name].swarm.join(
                remote_addrs=[address], join_token=token, listen_addr=own, advertise_addr=own
            )
        for host in self.hosts:
            self.docker_ids[host.name] = self.docker[host.name].info()["Swarm"]["NodeID"]
        wait_for(lambda: self._docker_ready() == len(self.hosts), "3 Ready Docker nodes")

    def close(self) -> None:
        if self.leader is not None:
            self.leader.close()
        for client in self.docker.values():
            with contextlib.suppress(Exception):
                client.close()

    # -- shoal --------------------------------------------------------------------------

    def call(self, method: str, params: dict[str, Any]) -> ClientReply:
        """A request to the shoal leader (h1), reconnecting once if the connection broke."""
        for attempt in (1, 2):
            if self.leader is None:
                self.leader = self.swarm.control("h1")
            try:
                return self.leader.call(method, params)
            except ControlError:
                self.leader.close()
                self.leader = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def shoal_create(self, name: str) -> str:
        """``shoal service create --replicas N -d --stop-grace-period 1s IMAGE``."""
        words = ["service", "create", "--name", name, "--replicas", str(self.replicas)]
        words += ["-d", "--stop-grace-period", "1s", IMAGE]
        (command,) = parse(words, random.Random(os.urandom(16)))
        outcome = execute(command, self.call, "")
        if not outcome.ok:
            raise BenchError(f"shoal service create was refused: {outcome.error}")
        return str(outcome.value)

    def shoal_running(self, service: str, away_from: str = "") -> int:
        """Tasks of ``service`` Running (and wanted so) in the leader's store, on nodes
        other than ``away_from``."""
        reply = self.call("TaskList", {"service": service})
        if not reply.ok:
            return 0
        return sum(
            1
            for t in reply.value or ()
            if isinstance(t, Task)
            and t.desired_state == TaskState.RUNNING
            and t.status.state == TaskState.RUNNING
            and t.node_id != away_from
        )

    def shoal_node_state(self, name: str) -> NodeState | None:
        reply = self.call("NodeList", {})
        for node in reply.value or () if reply.ok else ():
            if isinstance(node, Node) and node.id == self.shoal_ids[name]:
                return node.status.state
        return None

    def shoal_remove(self, service: str) -> None:
        reply = self.call("ServiceRemove", {"service": service})
        if not reply.ok:
            raise BenchError(f"shoal service rm was refused: {reply.error}")

    # -- Docker's swarm -----------------------------------------------------------------

    def docker_create(self, name: str) -> str:
        import docker

        service = self.docker["h1"].services.create(
            IMAGE,
            name=name,
            mode=docker.types.ServiceMode("replicated", replicas=self.replicas),
            stop_grace_period=1_000_000_000,
        )
        return str(service.id)

    def docker_running(self, service: str, away_from: str = "") -> int:
        tasks = self.docker["h1"].api.tasks(filters={"service": service})
        return sum(
            1
            for t in tasks
            if t.get("DesiredState") == "running"
            and t.get("Status", {}).get("State") == "running"
            and t.get("NodeID") != away_from
        )

    def docker_node_state(self, name: str) -> str:
        for node in self.docker["h1"].api.nodes():
            if node["ID"] == self.docker_ids[name]:
                return str(node.get("Status", {}).get("State", ""))
        return ""

    def _docker_ready(self) -> int:
        return sum(1 for n in self.docker["h1"].api.nodes() if n["Status"]["State"] == "ready")

    def docker_remove(self, service: str) -> None:
        self.docker["h1"].api.remove_service(service)

    # -- the dockerds ---------------------------------------------------------------------

    def containers(self, host: TestHost, label: str) -> list[dict[str, Any]]:
        """Inspect data of the host's running containers carrying ``label``."""
        api = self.docker[host.name].api
        listed = api.containers(filters={"label": label, "status": "running"})
        return [api.inspect_container(c["Id"]) for c in listed]

    def placement(self, label: str) -> tuple[dict[str, int], float]:
        """Running containers per host carrying ``label``, and the latest start among
        them (Unix time)."""
        spread, last = {}, 0.0
        for host in self.hosts:
            found = self.containers(host, label)
            spread[host.name] = len(found)
            for attrs in found:
                last = max(last, started_at(attrs["State"]["StartedAt"]))
        return spread, last

    def empty(self) -> bool:
        return all(not self.docker[h.name].api.containers(all=True) for h in self.hosts)

    def clear(self) -> None:
        """Wait until no dockerd has a container left; after PATIENCE, remove what
        remains by force (counted in the output: it means an orchestrator left some)."""
        try:
            wait_for(self.empty, "every dockerd to have no container", interval=0.2)
        except BenchError:
            self.forced_cleanups += 1
            for host in self.hosts:
                api = self.docker[host.name].api
                for c in api.containers(all=True):
                    with contextlib.suppress(Exception):
                        api.remove_container(c["Id"], force=True, v=True)
            wait_for(self.empty, "every dockerd to have no container after forced removal")


# -- convergence rounds -------------------------------------------------------------------


def converge_orchestrated(bench: Bench, mode: str) -> dict[str, Any]:
    """Create the service, time it to N Running tasks, then remove it and wait until
    every dockerd is empty."""
    bench.rounds += 1
    name = f"bench-{mode}-{bench.rounds}"
    create = bench.shoal_create if mode == "shoal" else bench.docker_create
    running = bench.shoal_running if mode == "shoal" else bench.docker_running
    remove = bench.shoal_remove if mode == "shoal" else bench.docker_remove
    wall0, t0 = time.time(), time.monotonic()
    service = create(name)
    created = time.monotonic() - t0
    done = wait_for(
        lambda: running(service) >= bench.replicas,
        f"{bench.replicas} Running tasks of {mode}'s {name}",
        interval=bench.poll,
    )
    spread, last_start = bench.placement(f"{SERVICE_ID}={service}")
    remove(service)
    bench.clear()
    return {
        "converged_s": done - t0,
        "create_call_s": created,
        "containers_started_s": last_start - wall0,
        "per_host": spread,
    }


def converge_floor(bench: Bench) -> dict[str, Any]:
    """N containers, N/3 per host, created and started by ``floor_threads`` client
    threads per host at once; timed until the last start returned.

    Each container is the one Docker's swarm executor makes for a task without
    networks: ``NetworkDisabled`` (no network namespace is set up). With
    ``--network none`` instead each start costs about twice as much here (dockerd
    sets up a sandbox and runs its libnetwork prestart hook), and the floor would
    be slower than Docker's swarm itself."""
    bench.rounds += 1
    tag = f"floor-{bench.rounds}"
    hosts = list(bench.hosts)
    jobs: dict[str, list[str]] = {h.name: [] for h in hosts}
    for i in range(bench.replicas):
        jobs[hosts[i % len(hosts)].name].append(f"{tag}-{i}")
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(host: TestHost, queue: list[str]) -> None:
        api = bench.docker[host.name].api
        host_config = api.create_host_config()
        while True:
            with lock:
                if not queue or errors:
                    return
                name = queue.pop()
            try:
                if bench.floor_cli:
                    docker_run(host, name, tag)
                    continue
                created = api.create_container(
                    IMAGE,
                    name=name,
                    labels={FLOOR_LABEL: tag},
                    host_config=host_config,
                    network_disabled=True,
                )
                api.start(created["Id"])
            except BaseException as error:  # reported once all threads are done
                with lock:
                    errors.append(error)
                return

    threads = [
        threading.Thread(target=worker, args=(host, jobs[host.name]), daemon=True)
        for host in hosts
        for _ in range(bench.floor_threads)
    ]
    wall0, t0 = time.time(), time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done = time.monotonic()
    if errors:
        raise BenchError(f"the floor's docker run failed: {errors[0]!r}")
    spread, last_start = bench.placement(f"{FLOOR_LABEL}={tag}")
    remove_floor(bench, tag)
    bench.clear()
    return {
        "converged_s": done - t0,
        "containers_started_s": last_start - wall0,
        "per_host": spread,
    }


def docker_run(host: TestHost, name: str, tag: str) -> None:
    """``docker run -d`` of the image, by the docker CLI (the same container: on these
    dockerds it gets NetworkDisabled, as the SDK floor's does)."""
    argv = ["docker", "-H", host.docker_url, "run", "-d", "--name", name]
    done = subprocess.run(
        [*argv, "--label", f"{FLOOR_LABEL}={tag}", IMAGE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"docker run on {host.name} failed: {done.stderr.strip()}")


def remove_floor(bench: Bench, tag: str) -> None:
    def clean(host: TestHost) -> None:
        api = bench.docker[host.name].api
        for c in api.containers(all=True, filters={"label": f"{FLOOR_LABEL}={tag}"}):
            with contextlib.suppress(Exception):
                api.remove_container(c["Id"], force=True, v=True)

    threads = [threading.Thread(target=clean, args=(h,), daemon=True) for h in bench.hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# -- recovery rounds ----------------------------------------------------------------------


def recover(bench: Bench, mode: str) -> dict[str, Any]:
    """N tasks running, crash h3, time until N run elsewhere and until h3 is Down;
    then restart h3, wait until it is Ready in both swarms, remove the service."""
    bench.rounds += 1
    name = f"bench-crash-{mode}-{bench.rounds}"
    victim = bench.hosts[VICTIM]
    if mode == "shoal":
        create, running, remove = bench.shoal_create, bench.shoal_running, bench.shoal_remove
        node_id = bench.shoal_ids[VICTIM]

        def down() -> bool:
            return bench.shoal_node_state(VICTIM) == NodeState.DOWN
    else:
        create, running, remove = bench.docker_create, bench.docker_running, bench.docker_remove
        node_id = bench.docker_ids[VICTIM]

        def down() -> bool:
            return bench.docker_node_state(VICTIM) == "down"

    service = create(name)
    wait_for(lambda: running(service) >= bench.replicas, f"{mode}'s {name} to converge")
    time.sleep(STEADY_SECONDS)
    settle()
    on_victim = bench.placement(f"{SERVICE_ID}={service}")[0][VICTIM]
    t0 = time.monotonic()
    bench.hosts.crash(victim)
    crashed = time.monotonic() - t0
    marked: list[float] = []

    def back() -> bool:
        if not marked and down():
            marked.append(time.monotonic())
        return running(service, away_from=node_id) >= bench.replicas

    done = wait_for(back, f"{mode}'s tasks back on the other hosts", interval=bench.poll)
    if not marked:  # back before Down (e.g. tasks rescheduled first): wait for Down too
        marked.append(wait_for(down, f"{mode} to mark {VICTIM} Down", interval=bench.poll))
    restart_victim(bench)
    remove(service)
    bench.clear()
    return {
        "recovered_s": done - t0,
        "marked_down_s": marked[0] - t0,
        "crash_call_s": crashed,
        "tasks_on_victim": on_victim,
    }


def restart_victim(bench: Bench) -> None:
    """Boot h3 again if it is down, and wait until both swarms have it Ready."""
    victim = bench.hosts[VICTIM]
    if victim.dockerd is not None and not victim.dockerd.running:
        bench.hosts.restart(victim)
    bench.swarm.start_daemon(victim)  # waits for its control socket
    wait_for(
        lambda: bench.shoal_node_state(VICTIM) == NodeState.READY,
        f"shoal to see {VICTIM} Ready again",
    )
    wait_for(lambda: bench.docker_node_state(VICTIM) == "ready", f"Docker to see {VICTIM} Ready")


# -- the run --------------------------------------------------------------------------------


def rotated(items: Sequence[str], by: int) -> list[str]:
    by %= len(items)
    return [*items[by:], *items[:by]]


def environment(bench: Bench) -> dict[str, Any]:
    version = bench.docker["h1"].version()
    return {
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "docker": {"version": version.get("Version"), "api": version.get("ApiVersion")},
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("inf")


def verdict(value: float, bar: float) -> dict[str, Any]:
    return {"ratio": value, "bar": bar, "pass": value <= bar}


def converge(bench: Bench, mode: str) -> dict[str, Any]:
    """One convergence round of ``mode``, from a quiet machine."""
    settled = settle()
    sample = converge_floor(bench) if mode == "floor" else converge_orchestrated(bench, mode)
    return {**sample, "settled_s": round(settled, 2)}


def measure(
    bench: Bench, args: argparse.Namespace, results: dict[str, Any], log: Callable[[str], None]
) -> None:
    """Run every round, filling ``results``; should a round fail, ``results`` still
    gets the figures of the rounds that finished (and the error is raised on)."""
    results["environment"] = environment(bench)
    log("both swarms formed over 3 test hosts")
    samples: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    crashes: dict[str, list[dict[str, Any]]] = {mode: [] for mode in ORCHESTRATORS}
    try:
        for r in range(args.warmup):
            for mode in MODES:
                sample = converge(bench, mode)
                log(f"warm-up {r + 1} {mode} (not counted): {sample['converged_s']:.2f} s")
        for r in range(args.rounds):
            for mode in rotated(MODES, r):
                sample = converge(bench, mode)
                samples[mode].append(sample)
                log(f"round {r + 1} {mode}: {sample['converged_s']:.2f} s")
        for r in range(args.recovery_rounds):
            for mode in rotated(ORCHESTRATORS, r):
                sample = recover(bench, mode)
                crashes[mode].append(sample)
                log(f"recovery {r + 1} {mode}: {sample['recovered_s']:.2f} s")
    finally:
        summarize(results, samples, crashes)
        results["forced_cleanups"] = bench.forced_cleanups
        results["environment"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]


def summarize(
    results: dict[str, Any],
    samples: dict[str, list[dict[str, Any]]],
    crashes: dict[str, list[dict[str, Any]]],
) -> None:
    """Per mode summaries, the ratios and the bars, of the modes that have samples."""
    convergence: dict[str, Any] = {}
    for mode, runs in samples.items():
        if not runs:
            continue
        convergence[mode] = summary([s["converged_s"] for s in runs])
        convergence[mode]["containers_started"] = summary([s["containers_started_s"] for s in runs])
        convergence[mode]["per_host"] = [s["per_host"] for s in runs]
        if mode != "floor":
            convergence[mode]["create_call"] = summary([s["create_call_s"] for s in runs])
    recovery: dict[str, Any] = {}
    for mode, runs in crashes.items():
        if not runs:
            continue
        recovery[mode] = summary([s["recovered_s"] for s in runs])
        recovery[mode]["marked_down"] = summary([s["marked_down_s"] for s in runs])
        recovery[mode]["tasks_on_victim"] = [s["tasks_on_victim"] for s in runs]
    results["convergence"] = convergence
    results["recovery"] = recovery
    # The same ratio round by round (the modes of one round ran one after another):
    # what the machine's pace drifting over the run does to the medians cancels here.
    paired = [
        a["converged_s"] / b["converged_s"]
        for a, b in zip(samples.get("shoal", ()), samples.get("docker", ()), strict=False)
    ]
    if paired:
        results["paired_shoal_vs_docker"] = summary(paired)
    pairs = {
        "shoal_vs_docker": (convergence, "shoal", "docker"),
        "shoal_vs_floor": (convergence, "shoal", "floor"),
        "docker_vs_floor": (convergence, "docker", "floor"),
        "recovery_shoal_vs_docker": (recovery, "shoal", "docker"),
    }
    ratios = {
        name: ratio(table[a]["median"], table[b]["median"])
        for name, (table, a, b) in pairs.items()
        if a in table and b in table
    }
    results["ratios"] = ratios
    results["bars"] = {
        name: verdict(ratios[name], bar) for name, bar in BARS.items() if name in ratios
    }


@contextlib.contextmanager
def bench_on_hosts(args: argparse.Namespace) -> Iterator[Bench]:
    """Three test hosts with dockerds, a shoal swarm and a Docker swarm over them; all
    removed on the way out, whatever happened (TestHosts kills every process it runs)."""
    packages.ensure_root()
    packages.ensure()
    sweep.sweep()  # what killed runs left behind
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with TestHosts(3, docker=True) as hosts:
            bench = Bench(
                hosts,
                ShoalSwarm(hosts),
                args.replicas,
                args.poll,
                args.floor_threads,
                floor_cli=args.floor == "cli",
            )
            try:
                bench.open()
                yield bench
            except (BenchError, SwarmError) as error:
                raise BenchError(f"{error}\n{bench.swarm.logs()}") from None
            finally:
                bench.close()
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="convergence rounds per mode")
    parser.add_argument(
        "--recovery-rounds", type=int, default=None, help="crash rounds per orchestrator (5)"
    )
    parser.add_argument("--replicas", type=int, default=60)
    parser.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed rounds of each mode first: what fresh dockerds (and orchestrators) "
        "do once, for the first containers they make, is timed in no mode",
    )
    parser.add_argument(
        "--floor-threads", type=int, default=4, help="client threads per host for the floor"
    )
    parser.add_argument("--poll", type=float, default=0.1, help="seconds between task lists")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 1 round each, 6 replicas"
    )
    parser.add_argument(
        "--floor",
        choices=("cli", "sdk"),
        default="cli",
        help="the floor as the issue defines it, 60 `docker run -d` processes (cli), or "
        "the stricter one without the CLI's cost: SDK create + start (sdk)",
    )
    parser.add_argument("--out", default=None, help="also write the JSON to this file")
    parser.add_argument("--verbose", action="store_true", help="each round's time on stderr")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.replicas = 1, 6
        args.recovery_rounds = 1 if args.recovery_rounds is None else args.recovery_rounds
    if args.recovery_rounds is None:
        args.recovery_rounds = 5
    if args.rounds < 1 or args.recovery_rounds < 0 or args.replicas < 1 or args.warmup < 0:
        parser.error(
            "--rounds and --replicas must be at least 1, --recovery-rounds and --warmup at least 0"
        )
    if args.floor_threads < 1 or not 0 < args.poll <= 1:
        parser.error("--floor-threads must be at least 1 and --poll in (0, 1]")

    def log(line: str) -> None:
        if args.verbose:
            print(f"real_converge: {line}", file=sys.stderr, flush=True)

    results: dict[str, Any] = {
        "benchmark": "real_converge",
        "replicas": args.replicas,
        "rounds": args.rounds,
        "warmup_rounds": args.warmup,
        "recovery_rounds": args.recovery_rounds,
        "poll_s": args.poll,
        "floor_threads_per_host": args.floor_threads,
        "floor_container": "create + start, NetworkDisabled (as Docker's swarm for a task "
        "without networks)",
        "floor_by": "docker run -d (the CLI)" if args.floor == "cli" else "the SDK",
    }
    status = 0
    try:
        with bench_on_hosts(args) as bench:
            measure(bench, args, results, log)
    except packages.Unavailable as why:
        print(f"real_converge: {why}", file=sys.stderr)
        return 1
    except (BenchError, SwarmError) as error:
        print(f"real_converge: {error}", file=sys.stderr)
        results["error"] = str(error).split("\n", 1)[0]
        status = 1
    except KeyboardInterrupt:
        print("real_converge: interrupted; everything it started was removed", file=sys.stderr)
        return 130
    if "convergence" not in results:  # failed before any round
        return status
    results["complete"] = status == 0
    text = json.dumps(results, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return status


if __name__ == "__main__":
    sys.exit(main())
