"""How fast the whole simulated swarm runs, and how big a swarm it carries, as JSON.

Two measurements, each in a fresh subprocess (so that one's peak RSS, imports and
garbage do not leak into the other's figures):

``reference``: 3 managers and 20 workers with one replicated service of 200 tasks,
converged first (200 tasks RUNNING in the leader's store and 200 containers running
on the hosts). Then, for the measured window (600 simulated seconds by default), a
fault every 10 simulated seconds, drawn from the ``benchmark/faults`` random stream:
crash a worker (booted 20 s later), crash the leader (booted 20 s later), or cut a
worker or a manager off with a partition (healed 15 s later). At most one manager is
down or cut off at a time, so that the window measures a cluster that keeps its
quorum; a manager fault that would break this becomes a worker fault. The figure is
simulated seconds per wall second over the window (the faults' own cost included);
afterwards, once the last host is back, the service must be back to 200 running
(reported, not asserted).

``swarm2k``: 3 managers and 2,000 workers (the Swarm2k experiment's scale), then
services totalling 95,000 tasks (by default one service of 95,000 replicas; see
``--services``) created with one request to the leader. Reported: the wall time to
form the swarm (every host booted, init, 2,002 joins, every node READY), the wall
time from the create request to convergence (every task RUNNING in the leader's
store *and* as many containers running on the hosts), the simulated seconds that
took, and the process's peak RSS (``ru_maxrss``) after forming and at the end.
The convergence check is run every simulated second; its own wall time is
reported apart (``check_wall_s``) and included in the convergence wall time.

Every wall time has its process CPU time beside it (``*_cpu_s``): on a shared
machine the CPU figure is the one to compare between runs; ``load_average`` says
how busy the machine was when the run began.

Nothing is tuned for speed: default Raft, store, dispatcher and write batch settings,
the trace hashed as always, messages passed as values as the simulator does by
default (every 64th, and every forwarded API request and reply, through the msgpack
codec; the rest deeply immutable: sim/network.py), and every
manager keeping its own store and applying every entry. ``settings_changed`` lists
anything that differs from the defaults (empty unless a flag changes it).

Usage:
  python benchmarks/cluster_speed.py [--quick] [--only reference|swarm2k]
      [--seed 1] [--window 600] [--workers 2000] [--tasks 95000] [--services 1]
      [--timeout 900] [--wall-limit S] [--in-process]

``--quick``: a 120 s window and 200 workers / 9,500 tasks (for development).
``--timeout``: simulated seconds Swarm2k may take to converge.
``--wall-limit``: stop Swarm2k after S wall seconds and report how far it got.
``--in-process``: run the chosen measurement(s) in this process (for cProfile).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import time
import types
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import simpy

import core
from core.model.service import ContainerSpec, ReplicatedService, ServiceMode, ServiceSpec, TaskSpec
from core.model.task import Task
from core.tasks.states import TaskState
from sim.cluster import ClusterConfig, ClusterWorld, HostState, standard_hosts
from sim.faults.topology import components
from sim.heap import MIDDLE_THRESHOLD, OLD_THRESHOLD, YOUNG_THRESHOLD

REFERENCE_MANAGERS = 3
REFERENCE_WORKERS = 20
REFERENCE_TASKS = 200
FAULT_EVERY = 10.0
CRASH_SECONDS = 20.0
PARTITION_SECONDS = 15.0
FAULT_KINDS = ("crash-worker", "crash-leader", "isolate-worker", "isolate-manager")

SWARM2K_MANAGERS = 3
SWARM2K_WORKERS = 2_000
SWARM2K_TASKS = 95_000
QUICK_WORKERS = 200
QUICK_TASKS = 9_500
QUICK_WINDOW = 120.0

TARGET_SIM_S_PER_WALL_S = 1_000
TARGET_CONVERGE_WALL_S = 60.0
TARGET_RSS_BYTES = 4 * 1024**3


def service_spec(name: str, replicas: int) -> ServiceSpec:
    """As the acceptance tests build one (``tests/cluster/support.replicated``)."""
    return ServiceSpec(
        name=name,
        task_template=TaskSpec(container_spec=ContainerSpec(image="nginx")),
        mode=ServiceMode(replicated=ReplicatedService(replicas=replicas)),
    )


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def running_in_store(world: ClusterWorld) -> int:
    """Tasks RUNNING and meant to be (``tests/cluster/support.running``), counted
    straight from the leader's table (``world.tasks()`` sorts every task)."""
    store = world.leader_store()
    if store is None:
        return 0
    return sum(
        1
        for t in store.tables["tasks"].values()
        if isinstance(t, Task)
        and t.status.state is TaskState.RUNNING
        and t.desired_state <= TaskState.RUNNING
    )


def running_on_hosts(world: ClusterWorld) -> int:
    return sum(len(ids) for ids in world.running_containers().values())


def converged(world: ClusterWorld, tasks: int) -> bool:
    return running_in_store(world) == tasks and running_on_hosts(world) == tasks


def build_world(managers: int, workers: int, seed: int) -> ClusterWorld:
    config = ClusterConfig(hosts=standard_hosts(managers, workers))
    return ClusterWorld(config, seed)


def create_services(world: ClusterWorld, tasks: int, services: int) -> list[str]:
    """Services of ``tasks`` replicas in all, asked of the leader (not forwarded)."""
    leader = world.leader()
    assert leader is not None
    per, extra = divmod(tasks, services)
    ids = []
    for i in range(services):
        reply = world.call(
            leader.name, "ServiceCreate", spec=service_spec(f"web-{i}", per + (i < extra))
        )
        if not reply.ok:
            raise RuntimeError(f"ServiceCreate failed: {reply.error}")
        ids.append(str(reply.value))
    return ids


# -- a livelock at one instant ---------------------------------------------------------------


class Livelock(Exception):
    """Simulated time stopped: events keep being scheduled at one instant."""


class Watchdog:
    """Raises :class:`Livelock` (from a ``SIGALRM`` handler, so out of ``env.run``)
    when simulated time has not moved for ``seconds`` of wall time: a chain of
    zero-delay events that never ends (no single event of these runs takes near
    that long). It adds no event and no per-event work, so the run is the one it
    would have been."""

    def __init__(self, world: ClusterWorld, seconds: float = 10.0) -> None:
        self.world, self.seconds = world, seconds
        self.seen = -1.0

    def __enter__(self) -> Watchdog:
        signal.signal(signal.SIGALRM, self._check)
        signal.setitimer(signal.ITIMER_REAL, self.seconds, self.seconds)
        return self

    def __exit__(self, *_exc: object) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)

    def _check(self, _signum: int, frame: types.FrameType | None) -> None:
        now = self.world.env.now
        stuck, self.seen = now == self.seen, now
        if stuck:
            signal.setitimer(signal.ITIMER_REAL, 0.0)
            raise Livelock(
                f"simulated time stuck at t={now:.6f} for {self.seconds:.0f} wall s",
                stack(frame),
            )


def stack(frame: types.FrameType | None, depth: int = 14) -> list[str]:
    """Where the run was when the watchdog fired, innermost first, with the type of
    any ``message`` a frame was handling."""
    root = Path(__file__).resolve().parent.parent
    lines: list[str] = []
    while frame is not None and len(lines) < depth:
        code = frame.f_code
        path = Path(code.co_filename)
        where = path.relative_to(root) if path.is_relative_to(root) else path.name
        line = f"{where}:{frame.f_lineno} {code.co_qualname}"
        message = frame.f_locals.get("message")
        if message is not None:
            line += f" [{type(message).__name__}]"
        lines.append(line)
        frame = frame.f_back
    return lines


# -- the reference cluster under faults ----------------------------------------------------


class Faults:
    """A fault every ``FAULT_EVERY`` seconds, its end scheduled in simulated time."""

    def __init__(self, world: ClusterWorld) -> None:
        self.world = world
        self.rng = world.streams.child("benchmark/faults")
        self.names = sorted(world.hosts)
        self.workers = [n for n in self.names if not world.hosts[n].spec.manager]
        self.managers = [n for n in self.names if world.hosts[n].spec.manager]
        self.crashed: set[str] = set()
        self.isolated: set[str] = set()
        self.injected: Counter[str] = Counter()
        self.log: list[str] = []  # "t kind host", the last few kept
        self.skipped: Counter[str] = Counter()  # a manager fault that became a worker's

    def _manager_unavailable(self) -> bool:
        return any(m in self.crashed or m in self.isolated for m in self.managers)

    def _later(self, delay: float, action: Any) -> None:
        self.world.env.timeout(delay).callbacks.append(lambda _event: action())

    def inject(self) -> None:
        kind = self.rng.choice(FAULT_KINDS)
        if kind.endswith("leader") or kind.endswith("manager"):
            leader = self.world.leader()
            if self._manager_unavailable() or leader is None:
                self.skipped[kind] += 1
                kind = "crash-worker" if kind.startswith("crash") else "isolate-worker"
        if kind == "crash-worker":
            victim = self._free(self.workers)
            self._crash(victim)
        elif kind == "crash-leader":
            leader = self.world.leader()
            assert leader is not None
            victim = leader.name
            self._crash(victim)
        elif kind == "isolate-worker":
            victim = self._free(self.workers)
            self._isolate(victim)
        else:
            victim = self.rng.choice(self.managers)
            self._isolate(victim)
        self.injected[kind] += 1
        self.log = [*self.log[-4:], f"{self.world.env.now:.1f} {kind} {victim}"]

    def _free(self, names: list[str]) -> str:
        free = [n for n in names if n not in self.crashed and n not in self.isolated]
        return self.rng.choice(free or names)

    def _crash(self, name: str) -> None:
        self.crashed.add(name)
        self.world.hosts[name].crash()
        self._later(CRASH_SECONDS, lambda: self._boot(name))

    def _boot(self, name: str) -> None:
        self.crashed.discard(name)
        host = self.world.hosts[name]
        if host.state is HostState.CRASHED:
            host.boot()

    def _isolate(self, name: str) -> None:
        self.isolated.add(name)
        self._set_graph()
        self._later(PARTITION_SECONDS, lambda: self._heal(name))

    def _heal(self, name: str) -> None:
        self.isolated.discard(name)
        self._set_graph()

    def _set_graph(self) -> None:
        network = self.world.network
        if not self.isolated:
            network.heal()
            return
        cut = sorted(self.isolated)
        rest = [n for n in self.names if n not in self.isolated]
        network.set_graph(components(self.names, [[n] for n in cut] + [rest]))

    @property
    def pending(self) -> bool:
        return bool(self.crashed or self.isolated)


def measure_reference(seed: int, window: float) -> dict[str, Any]:
    started = time.perf_counter()
    world = build_world(REFERENCE_MANAGERS, REFERENCE_WORKERS, seed)
    world.form_swarm()
    (service_id,) = create_services(world, REFERENCE_TASKS, 1)
    first = world.run_until(lambda: converged(world, REFERENCE_TASKS), 300, step=1.0)
    setup_wall = time.perf_counter() - started
    faults = Faults(world)
    sim_started, wall_started, cpu_started = world.env.now, time.perf_counter(), time.process_time()
    messages_before = world.network.stats["delivered"]
    end = sim_started + window
    livelock = None
    wall = sim = cpu = 0.0  # over the whole chunks run (a livelocked one is not counted)
    try:
        with Watchdog(world):
            while world.env.now < end - 1e-9:
                faults.inject()
                world.run_for(min(FAULT_EVERY, end - world.env.now))
                wall, sim = time.perf_counter() - wall_started, world.env.now - sim_started
                cpu = time.process_time() - cpu_started
    except Livelock as stuck:
        error, where = stuck.args
        livelock = {"error": error, "last_faults": faults.log, "stack": where}
    delivered = world.network.stats["delivered"] - messages_before
    recovery_started = world.env.now
    back = False
    if livelock is None:
        # let the last crashed host boot and the last partition heal, then converge
        world.run_until(lambda: not faults.pending, CRASH_SECONDS + 1, step=1.0)
        back = world.run_until(lambda: converged(world, REFERENCE_TASKS), 300, step=1.0)
    return {
        "livelock": livelock,
        "hosts": f"{REFERENCE_MANAGERS} managers, {REFERENCE_WORKERS} workers",
        "service": f"1 replicated service of {REFERENCE_TASKS} tasks ({service_id})",
        "converged_before_window": first,
        "setup_wall_s": round(setup_wall, 2),
        "window_sim_s": round(sim, 3),
        "window_wall_s": round(wall, 3),
        "window_cpu_s": round(cpu, 3),
        "sim_s_per_wall_s": round(sim / wall, 1) if wall else None,
        "sim_s_per_cpu_s": round(sim / cpu, 1) if cpu else None,
        "target_sim_s_per_wall_s": TARGET_SIM_S_PER_WALL_S,
        "faults_injected": sum(faults.injected.values()),
        "faults_by_kind": dict(sorted(faults.injected.items())),
        "manager_faults_made_worker_faults": sum(faults.skipped.values()),
        "messages_delivered_in_window": delivered,
        "messages_per_wall_s": round(delivered / wall) if wall else None,
        "back_to_200_running": back,
        "recovery_sim_s": round(world.env.now - recovery_started, 1),
        "running_in_store_at_end": running_in_store(world),
        "running_on_hosts_at_end": running_on_hosts(world),
        "tasks_in_store_at_end": len(world.tasks()),
        "peak_rss_mib": round(peak_rss_bytes() / 2**20, 1),
    }


# -- Swarm2k ---------------------------------------------------------------------------------


class WallLimit(Exception):
    """The run took longer than it was allowed (``--wall-limit``)."""


@contextlib.contextmanager
def wall_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`WallLimit` out of whatever runs once ``seconds`` of wall time
    have passed (from a ``SIGALRM`` handler: no cost while it waits)."""
    if not seconds:
        yield
        return

    def expired(_signum: int, _frame: object) -> None:
        raise WallLimit

    signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)


def task_states(world: ClusterWorld) -> dict[str, int]:
    store = world.leader_store()
    if store is None:
        return {}
    states = Counter(
        t.status.state.name for t in store.tables["tasks"].values() if isinstance(t, Task)
    )
    return dict(sorted(states.items()))


def measure_swarm2k(
    seed: int, workers: int, tasks: int, services: int, timeout: float, limit: float | None
) -> dict[str, Any]:
    """``swarm2k``'s figures; cut short by ``limit``, what it had reached by then."""
    world = build_world(SWARM2K_MANAGERS, workers, seed)
    reached: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        with wall_limit(limit):
            return swarm2k(world, tasks, services, timeout, reached)
    except WallLimit:
        return {
            "hosts": f"{SWARM2K_MANAGERS} managers, {workers} workers",
            "tasks": tasks,
            "converged": False,
            "stopped_at_wall_limit_s": limit,
            **reached,
            "stopped_at_sim_s": round(world.env.now, 3),
            "tasks_by_state_in_store": task_states(world),
            "running_on_hosts": running_on_hosts(world),
            "wall_s": round(time.perf_counter() - started, 1),
            "peak_rss_mib": round(peak_rss_bytes() / 2**20, 1),
        }


def swarm2k(
    world: ClusterWorld, tasks: int, services: int, timeout: float, reached: dict[str, Any]
) -> dict[str, Any]:
    workers = len(world.hosts) - SWARM2K_MANAGERS

    started, cpu_started = time.perf_counter(), time.process_time()
    world.form_swarm(timeout=600.0)
    form_wall, form_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    form_sim = world.env.now
    rss_formed = peak_rss_bytes()
    reached.update(form_wall_s=round(form_wall, 2), form_cpu_s=round(form_cpu, 2))
    check_wall = 0.0
    checks = 0

    def done() -> bool:
        nonlocal check_wall, checks
        began = time.perf_counter()
        checks += 1
        try:
            return converged(world, tasks)
        finally:
            check_wall += time.perf_counter() - began

    sim_started = world.env.now
    started, cpu_started = time.perf_counter(), time.process_time()
    create_services(world, tasks, services)
    created_wall = time.perf_counter() - started
    reached.update(create_reply_wall_s=round(created_wall, 2))
    ok = world.run_until(done, timeout, step=1.0)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    sim = world.env.now - sim_started
    rss = peak_rss_bytes()
    return {
        "hosts": f"{SWARM2K_MANAGERS} managers, {workers} workers",
        "services": (
            f"1 replicated service of {tasks} replicas"
            if services == 1
            else f"{services} replicated services, {tasks} replicas in all"
        ),
        "tasks": tasks,
        "form_wall_s": round(form_wall, 2),
        "form_cpu_s": round(form_cpu, 2),
        "form_sim_s": round(form_sim, 2),
        "create_reply_wall_s": round(created_wall, 2),
        "converged": ok,
        "converge_wall_s": round(wall, 2),
        "converge_cpu_s": round(cpu, 2),
        "converge_sim_s": round(sim, 2),
        "check_wall_s": round(check_wall, 2),
        "checks": checks,
        "target_converge_wall_s": TARGET_CONVERGE_WALL_S,
        "running_in_store": running_in_store(world),
        "running_on_hosts": running_on_hosts(world),
        "messages_delivered": world.network.stats["delivered"],
        "peak_rss_after_form_mib": round(rss_formed / 2**20, 1),
        "peak_rss_mib": round(rss / 2**20, 1),
        "target_rss_mib": TARGET_RSS_BYTES // 2**20,
    }


# -- driving ----------------------------------------------------------------------------------


def measure(args: argparse.Namespace, which: str) -> dict[str, Any]:
    if which == "reference":
        return measure_reference(args.seed, args.window)
    return measure_swarm2k(
        args.seed, args.workers, args.tasks, args.services, args.timeout, args.wall_limit
    )


def in_subprocess(args: argparse.Namespace, which: str) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--in-process",
        "--only",
        which,
        "--seed",
        str(args.seed),
        "--window",
        str(args.window),
        "--workers",
        str(args.workers),
        "--tasks",
        str(args.tasks),
        "--services",
        str(args.services),
        "--timeout",
        str(args.timeout),
        *(["--wall-limit", str(args.wall_limit)] if args.wall_limit else []),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-20:]}
    result: dict[str, Any] = json.loads(done.stdout)[which]
    return result


def commit() -> str | None:
    """The commit of the checkout whose code is measured, ``+dirty`` if files differ
    from it (None outside git). That is where ``core`` was imported from, not where
    this script lies: run from another worktree, the script still imports the
    checkout the environment was installed from unless PYTHONPATH names its own."""
    where = Path(core.__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=where, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
        )
    except OSError:
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short window, a small swarm")
    parser.add_argument("--only", choices=("reference", "swarm2k"), help="one measurement")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--window", type=float, help="reference: simulated seconds of faults")
    parser.add_argument("--workers", type=int, help="swarm2k: worker hosts")
    parser.add_argument("--tasks", type=int, help="swarm2k: replicas in all")
    parser.add_argument("--services", type=int, default=1, help="swarm2k: services to split into")
    parser.add_argument("--timeout", type=float, default=900.0, help="swarm2k: simulated s")
    parser.add_argument("--wall-limit", type=float, help="swarm2k: stop after this many wall s")
    parser.add_argument("--in-process", action="store_true", help="no subprocess (profiling)")
    args = parser.parse_args()
    if args.window is None:
        args.window = QUICK_WINDOW if args.quick else 600.0
    if args.workers is None:
        args.workers = QUICK_WORKERS if args.quick else SWARM2K_WORKERS
    if args.tasks is None:
        args.tasks = QUICK_TASKS if args.quick else SWARM2K_TASKS
    chosen = [args.only] if args.only else ["reference", "swarm2k"]
    run = measure if args.in_process else in_subprocess
    results = {which: run(args, which) for which in chosen}
    print(
        json.dumps(
            {
                "benchmark": "cluster_speed",
                "python": platform.python_version(),
                "simpy": simpy.__version__,
                "seed": args.seed,
                "commit": commit(),
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "settings_changed": [],
                # the simulator's own (sim/heap.py), as in every test and scenario
                "gc_thresholds": [YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD],
                **results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
