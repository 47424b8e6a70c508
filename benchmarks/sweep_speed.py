"""How fast ``shoal sim sweep`` runs seeds of the flagship, as JSON: seeds per minute
on 1 and 2 local worker processes and (``--dask``) on a Dask LocalCluster of 1 and 2
worker processes of one thread each, and the efficiency of 2 workers over 1
(throughput with 2 / (2 x throughput with 1)).

Each set of workers first runs one warm-up chunk per worker (a worker imports the
simulator and parses the scenario on its first chunk), then the seeds with the
determinism check off; the time is from the first chunk sent to the last record
back. ``--chunks 1,5,20`` also times 2 local workers at each of those chunk sizes.
``--overhead`` times what a task costs apart from its seeds: 2,000 empty chunks on 2
local workers (and on Dask with ``--dask``), in milliseconds per task.
Usage: python benchmarks/sweep_speed.py [SEEDS] [--dask] [--chunks 1,5,20] [--overhead]
       [--scenario FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cli.sim_sweep import sweep  # noqa: E402
from cli.sweep import plan  # noqa: E402
from cli.sweep.local import LocalWorkers  # noqa: E402
from cli.sweep.on_dask import DaskWorkers  # noqa: E402
from cli.sweep.record import Record  # noqa: E402

FLAGSHIP = ROOT / "scenarios" / "rolling-update-isolated-leader.yml"
WARM_UP = 1_000_000  # warm-up seeds start here, far from the measured ones


def measure(
    workers: LocalWorkers | DaskWorkers, source: str, path: str, seeds: int, chunk: int | None
) -> dict[str, Any]:
    warm = range(WARM_UP, WARM_UP + workers.count)
    sweep(source, path, warm, workers, fraction=0.0, chunk=1)
    size = chunk or plan.chunk_size(seeds, workers.count)
    outcome = sweep(source, path, range(1, seeds + 1), workers, fraction=0.0, chunk=size)
    per_seed = [r["wall_s"] for r in outcome.records]
    return {
        # the machine's load while it ran (other work on a shared machine slows the
        # workers: a seed's mean wall time rises above its time alone)
        "load_1min_after": round(os.getloadavg()[0], 2),
        "workers": outcome.workers,
        "chunk": size,
        "wall_s": round(outcome.wall_s, 2),
        "seeds_per_min": round(seeds / outcome.wall_s * 60, 1),
        "seed_wall_s_mean": round(statistics.fmean(per_seed), 4),
        "passed": sum(r["passed"] for r in outcome.records),
    }


def local(count: int, source: str, path: str, seeds: int, chunk: int | None) -> dict[str, Any]:
    with LocalWorkers(count) as workers:
        return measure(workers, source, path, seeds, chunk)


def on_dask(count: int, source: str, path: str, seeds: int) -> dict[str, Any]:
    from distributed import LocalCluster

    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    with (
        LocalCluster(
            n_workers=count, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        DaskWorkers(cluster.scheduler_address) as workers,
    ):
        return measure(workers, source, path, seeds, None)


EMPTY_TASKS = 2_000


def nothing(chunk: plan.Chunk) -> list[Record]:
    """A chunk that runs no seed: the task's cost alone."""
    return []


def overhead_ms(workers: LocalWorkers | DaskWorkers, source: str, path: str) -> float:
    tasks = [plan.Chunk(source, path, (seed,)) for seed in range(EMPTY_TASKS)]
    for _ in workers.run(nothing, tasks[:100]):  # warm-up
        pass
    started = time.perf_counter()
    for _ in workers.run(nothing, tasks):
        pass
    return round((time.perf_counter() - started) / EMPTY_TASKS * 1000, 3)


def overheads(source: str, path: str, dask: bool) -> dict[str, float]:
    with LocalWorkers(2) as workers:
        out = {"local_2_ms_per_task": overhead_ms(workers, source, path)}
    if dask:
        from distributed import LocalCluster

        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            DaskWorkers(cluster.scheduler_address) as on_cluster,
        ):
            out["dask_2_ms_per_task"] = overhead_ms(on_cluster, source, path)
    return out


def efficiency(one: dict[str, Any], two: dict[str, Any]) -> float:
    return round(two["seeds_per_min"] / (2 * one["seeds_per_min"]), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", nargs="?", type=int, default=400)
    parser.add_argument("--dask", action="store_true", help="also on a Dask LocalCluster")
    parser.add_argument("--chunks", default="", help="chunk sizes to time on 2 local workers")
    parser.add_argument("--overhead", action="store_true", help="time empty tasks")
    parser.add_argument("--scenario", default=str(FLAGSHIP))
    args = parser.parse_args()
    source = Path(args.scenario).read_text(encoding="utf-8")
    path = os.path.relpath(args.scenario, ROOT)
    result: dict[str, Any] = {
        "scenario": path,
        "seeds": args.seeds,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    if args.overhead:
        result["overhead"] = overheads(source, path, args.dask)
    one = local(1, source, path, args.seeds, None)
    two = local(2, source, path, args.seeds, None)
    result["local"] = {"1": one, "2": two, "efficiency": efficiency(one, two)}
    if args.dask:
        one, two = on_dask(1, source, path, args.seeds), on_dask(2, source, path, args.seeds)
        result["dask"] = {"1": one, "2": two, "efficiency": efficiency(one, two)}
    if args.chunks:
        result["chunks_on_2_local"] = [
            local(2, source, path, args.seeds, int(size)) for size in args.chunks.split(",")
        ]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
