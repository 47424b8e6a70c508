"""Docker's own swarm timings on this machine, redone in the calibrated simulator (issue 21).

Three test hosts on one 2-core machine (a manager and two workers, as
``benchmarks/real_converge.py`` builds them), simulated with a calibration (default:
this machine's, sim/calibrations/default.yml) and ``one_machine``: the three dockerds
share the machine's cores, as they do for real. Each figure is simulated seconds,
polled every 50 ms of simulated time, from the command until:

- ``create_60``: ``service create --replicas 60``: 60 tasks Running in the leader's store;
- ``scale_120``: ``service scale web=120``: 120 Running;
- ``update_120``: ``service update --image local/busybox:2 --update-parallelism 10`` of
  the 120 tasks (created with ``--stop-signal SIGKILL``): the update completed;
- ``worker_down`` and ``tasks_back``: a worker host crashed (its dockerd and
  containers with it): the node Down, and 120 tasks Running on the other hosts.

Docker's figures are those of issue 21, measured on this machine with
``benchmarks/real_converge.py`` and the same commands against Docker's swarm. The
JSON gives each figure, its ratio to Docker's and whether it is within ±30%, per seed
and as the median over ``--seeds``.

Usage: python benchmarks/peer_timings.py [--calibration FILE] [--seeds 1..5] [--per-host]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import time
from collections.abc import Callable

from update_slots import slot_times  # type: ignore[import-not-found]

from cli.sim_raft import seed_range
from cli.sim_shell import Shell
from core.model.enums import NodeState
from core.model.node import Node
from core.model.service import Service
from core.model.task import Task
from core.tasks.states import TaskState
from sim.calibration import Calibration, default, load
from sim.cluster import ClusterConfig, ClusterWorld, HostSpec

#: Docker's swarm here, seconds (issue 21).
DOCKER = {
    "create_60": 4.25,
    "scale_120": 4.7,
    "update_120": 28.0,
    "worker_down": 13.0,
    "tasks_back": 20.2,
}
TOLERANCE = 0.30
POLL = 0.05
PATIENCE = 300.0
HOSTS = (HostSpec("manager-1", manager=True), HostSpec("worker-1"), HostSpec("worker-2"))
VICTIM = "worker-2"


def world_of(calibration: Calibration, seed: int) -> ClusterWorld:
    config = ClusterConfig(
        hosts=HOSTS,
        images=dict(calibration.images),
        link=calibration.link,
        engine=calibration.engine_model(),
    )
    world = ClusterWorld(config, seed)
    world.form_swarm()
    return world


def tasks(world: ClusterWorld) -> list[Task]:
    store = world.leader_store()
    return [] if store is None else [t for t in store.tables["tasks"].values()]


def running(world: ClusterWorld, away_from: str = "") -> int:
    store = world.leader_store()
    if store is None:
        return 0
    avoid = {
        n.id
        for n in store.tables["nodes"].values()
        if isinstance(n, Node) and n.description.hostname == away_from
    }
    return sum(
        1
        for t in tasks(world)
        if t.status.state is TaskState.RUNNING
        and t.desired_state is TaskState.RUNNING
        and t.node_id not in avoid
    )


def node_down(world: ClusterWorld, name: str) -> bool:
    store = world.leader_store()
    return store is not None and any(
        isinstance(n, Node) and n.description.hostname == name and n.status.state is NodeState.DOWN
        for n in store.tables["nodes"].values()
    )


def update_done(world: ClusterWorld) -> bool:
    store = world.leader_store()
    if store is None:
        return False
    services = [s for s in store.tables["services"].values() if isinstance(s, Service)]
    return bool(services) and all(
        s.update_status is not None and str(s.update_status.state) == "completed" for s in services
    )


def timed(world: ClusterWorld, done: Callable[[], bool]) -> float:
    start = float(world.env.now)
    if not world.run_until(done, PATIENCE, step=POLL):
        raise RuntimeError(f"not done in {PATIENCE:g} simulated seconds")
    return round(float(world.env.now) - start, 3)


def one_seed(calibration: Calibration, seed: int, slots: dict[str, float]) -> dict[str, float]:
    world = world_of(calibration, seed)
    shell = Shell(world, io.StringIO(), random.Random(seed))
    figures: dict[str, float] = {}
    shell.handle(
        "docker service create --name web --replicas 60 -d --stop-grace-period 1s "
        "--stop-signal SIGKILL local/busybox:1"
    )
    figures["create_60"] = timed(world, lambda: running(world) >= 60)
    shell.handle("docker service scale -d web=120")
    figures["scale_120"] = timed(world, lambda: running(world) >= 120)
    shell.handle("docker service update -d --image local/busybox:2 --update-parallelism 10 web")
    figures["update_120"] = timed(world, lambda: update_done(world))
    slots.update(slot_times([t.to_json() for t in tasks(world)]))
    world.run_for(2.0)  # steady, as the real benchmark waits before its crash
    world.crash(world.hosts[VICTIM])
    start = float(world.env.now)
    world.run_until(lambda: node_down(world, VICTIM), PATIENCE, step=POLL)
    figures["worker_down"] = round(float(world.env.now) - start, 3)
    world.run_until(lambda: running(world, away_from=VICTIM) >= 120, PATIENCE, step=POLL)
    figures["tasks_back"] = round(float(world.env.now) - start, 3)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calibration", help="a calibration file (default: this machine's)")
    parser.add_argument("--seeds", type=seed_range, default=range(1, 6))
    parser.add_argument(
        "--per-host", action="store_true", help="each host its own cores (not one machine)"
    )
    args = parser.parse_args(argv)
    calibration = (load(args.calibration) if args.calibration else default()).on_one_machine(
        not args.per_host
    )
    started = time.perf_counter()
    slots: dict[int, dict[str, float]] = {seed: {} for seed in args.seeds}
    runs = {seed: one_seed(calibration, seed, slots[seed]) for seed in args.seeds}
    medians = {k: statistics.median(r[k] for r in runs.values()) for k in DOCKER}
    out = {
        "calibration": args.calibration or "sim/calibrations/default.yml",
        "one_machine": not args.per_host,
        "docker_s": DOCKER,
        "median_s": medians,
        "ratio": {k: round(medians[k] / DOCKER[k], 3) for k in DOCKER},
        "within_30pct": {k: abs(medians[k] / DOCKER[k] - 1) <= TOLERANCE for k in DOCKER},
        "seeds": {str(s): r for s, r in runs.items()},
        "update_slots": {str(s): v for s, v in slots.items()},
        "wall_s": round(time.perf_counter() - started, 1),
    }
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
