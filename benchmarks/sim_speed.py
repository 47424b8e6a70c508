"""How fast the simulator runs on this machine, as JSON.

Two figures and their ratio: raw SimPy throughput (one process looping on random
timeouts, the framework's ceiling) and simulated seconds per wall second of the
Raft world: five managers, 1 s ticks, LAN links, every message through the msgpack
codec, the client proposing once a second, and every nemesis in the random
schedule (a fault starts every 6 s on average, so at least one per 10 s). The ratio
says how many raw SimPy timeouts one simulated second costs.
Usage: python benchmarks/sim_speed.py [--seconds 600] [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from collections.abc import Generator

import simpy

from sim.faults.nemesis import NEMESES
from sim.world import RaftWorld, WorldConfig

RAW_EVENTS = 400_000


def raw_simpy_timeouts_per_s() -> float:
    env = simpy.Environment()
    rng = random.Random(1)

    def loop() -> Generator[simpy.Event, None, None]:
        for _ in range(RAW_EVENTS):
            yield env.timeout(rng.random())

    env.process(loop())
    started = time.perf_counter()
    env.run()
    return RAW_EVENTS / (time.perf_counter() - started)


def world_speed(seconds: float, seed: int) -> tuple[float, int]:
    """Simulated seconds per wall second, and the messages the run delivered."""
    config = WorldConfig(nemeses=tuple(sorted(NEMESES)), safety_seconds=seconds)
    started = time.perf_counter()
    result = RaftWorld(config, seed).run()
    wall = time.perf_counter() - started
    if not result.ok:
        raise RuntimeError(f"seed {seed} failed: {result.violation or result.liveness_failure}")
    return result.sim_seconds / wall, result.stats["net_delivered"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=600.0, help="safety phase per seed")
    parser.add_argument("--seeds", type=int, default=3, help="seeds to take the median of")
    args = parser.parse_args()
    raw = statistics.median(raw_simpy_timeouts_per_s() for _ in range(3))
    runs = [world_speed(args.seconds, seed) for seed in range(1, args.seeds + 1)]
    speed = statistics.median(s for s, _ in runs)
    print(
        json.dumps(
            {
                "benchmark": "sim_speed",
                "python": platform.python_version(),
                "simpy": simpy.__version__,
                "raw_simpy_timeouts_per_s": round(raw),
                "raft_world": "5 managers, 1s ticks, LAN, wire codec, all nemeses",
                "raft_world_sim_s_per_wall_s": round(speed),
                "raft_world_runs_sim_s_per_wall_s": [round(s) for s, _ in runs],
                "messages_delivered_per_run": [m for _, m in runs],
                "raw_timeouts_per_sim_s": round(raw / speed),
                "target_sim_s_per_wall_s": 1000,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
