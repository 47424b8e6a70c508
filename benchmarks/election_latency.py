"""Time to a new leader after the leader of a 5-manager cluster crashes, as JSON.

Crashes the leader ``--crashes`` times; each time measures the simulated time from
the crash to the first election of another host in a higher term, then restarts
the old leader (it boots for ``--boot-ms``) and waits until it has rejoined: up,
following the current leader in its term, with the leader's committed entries.
Only then does the next crash come, so every measurement is of an election among
a whole cluster, never of a host still booting (which at small ticks dominated).
Election timeouts are drawn from [election, 2 x election) ticks, so the timeout
range in milliseconds is ``--election-ticks`` x ``--tick-ms``. At SwarmKit's
defaults (1 s ticks, 10 ticks) the expected median is about 11 s and the maximum
about 20 s (simulation-testing.md, section 7.4). Usage:
python benchmarks/election_latency.py [--crashes 200] [--tick-ms 1000]
    [--election-ticks 10] [--latency-ms 0.3] [--boot-ms 1000] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np

from core.raft.config import RaftConfig
from sim.host import HostState, SimHost
from sim.network import LinkModel
from sim.world import RaftWorld, WorldConfig


def measure(args: argparse.Namespace) -> list[float]:
    tick = args.tick_ms / 1000
    link = replace(
        LinkModel(), latency_min=args.latency_ms / 2000, latency_mean_extra=args.latency_ms / 2000
    )
    config = WorldConfig(
        managers=args.managers,
        tick_seconds=tick,
        raft=RaftConfig(election_ticks=args.election_ticks),
        link=link,
        proposal_interval=max(tick, 0.001),
        safety_seconds=0.0,
        restart_seconds=(args.boot_ms / 1000, args.boot_ms / 1000),
    )
    world = RaftWorld(config, args.seed)
    world.boot()
    settle = 2 * 2 * args.election_ticks * tick
    env = world.env
    latencies: list[float] = []
    env.run(until=settle)
    for _ in range(args.crashes):
        leader = world.leader_host()
        while leader is None:
            env.run(until=env.now + tick)
            leader = world.leader_host()
        assert leader.raft is not None
        term, crashed_at = leader.raft.term, env.now
        seen = len(world.elected)
        world.crash(leader)
        while not any(t > term and who != leader.name for _, who, t in world.elected[seen:]):
            env.run(until=env.now + tick / 10)
        elected_at = next(
            when for when, who, t in world.elected[seen:] if t > term and who != leader.name
        )
        latencies.append(elected_at - crashed_at)
        world.restart(leader)
        while not rejoined(world, leader):
            env.run(until=env.now + tick / 10)
    return latencies


def rejoined(world: RaftWorld, host: SimHost) -> bool:
    """``host`` is up, follows the leader of the current term, and holds everything
    the leader has committed."""
    leader = world.leader_host()
    if leader is None or leader is host or host.state is not HostState.UP:
        return False
    ours, theirs = host.raft, leader.raft
    if ours is None or theirs is None:
        return False
    return (
        ours.term == theirs.term
        and ours.lead == theirs.id
        and ours.log.committed >= theirs.log.committed
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--crashes", type=int, default=200)
    parser.add_argument("--managers", type=int, default=5)
    parser.add_argument("--tick-ms", type=float, default=1000.0)
    parser.add_argument("--election-ticks", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=0.3, help="mean one-way latency")
    parser.add_argument(
        "--boot-ms", type=float, default=1000.0, help="how long a restarted host boots"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    latencies = np.array(measure(args)) * 1000
    p50, p90, p99 = np.percentile(latencies, [50, 90, 99])
    print(
        json.dumps(
            {
                "benchmark": "election_latency",
                "managers": args.managers,
                "crashes": args.crashes,
                "tick_ms": args.tick_ms,
                "election_timeout_ms": [
                    args.election_ticks * args.tick_ms,
                    2 * args.election_ticks * args.tick_ms,
                ],
                "mean_link_latency_ms": args.latency_ms,
                "boot_ms": args.boot_ms,
                "time_to_new_leader_ms": {
                    "p50": round(float(p50), 1),
                    "p90": round(float(p90), 1),
                    "p99": round(float(p99), 1),
                    "max": round(float(latencies.max()), 1),
                    "min": round(float(latencies.min()), 1),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
