"""The simulated Raft world under random fault schedules: safety, liveness, coverage.

The acceptance sweep runs 200 seeds (``ci`` profile; ``nightly`` runs 2,000) of five
managers, each with a five-minute safety phase under every nemesis and per-seed
swarm knobs, then a liveness phase. It asserts zero safety violations, every seed
converging once healed, a fault start at least every 10 s of the safety phase (from
its start to the first fault, between faults, and from the last to its end),
determinism on 5% of the seeds, and that the rare paths actually ran (the coverage
counters): a sweep in which no split vote happened proves nothing about split votes.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from core.raft.config import RaftConfig
from sim.faults.nemesis import NEMESES
from sim.world import RaftWorld, WorldConfig

NIGHTLY = os.environ.get("HYPOTHESIS_PROFILE") == "nightly"
SEEDS = 2_000 if NIGHTLY else 200
CHUNKS = 4  # the sweep is split so pytest-xdist can spread it over the cores
SAFETY_SECONDS = 300.0
FAULT_GAP_MAX = 10.0  # the issue: at least one fault per 10 s of the safety phase
# A small snapshot interval so that lagging followers get InstallSnapshot.
SWEEP_CONFIG = WorldConfig(
    managers=5,
    nemeses=tuple(sorted(NEMESES)),
    safety_seconds=SAFETY_SECONDS,
    raft=RaftConfig(snapshot_interval=50, snapshot_keep_entries=10),
)
COVERAGE = (
    "leader_changes",
    "split_votes",
    "prevote_rejections",
    "snapshots_sent",
    "snapshots_installed",
    "writes_lost",
    "membership_changes",
    "proposals_acknowledged",
)


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_random_fault_schedules_keep_raft_safe_and_live(chunk: int) -> None:
    seeds = range(chunk, SEEDS, CHUNKS)
    failures: list[str] = []
    seen: Counter[str] = Counter()
    nemeses_fired: Counter[str] = Counter()
    for position, seed in enumerate(seeds):
        result = RaftWorld(SWEEP_CONFIG, seed, swarm=True).run()
        if not result.ok:
            failures.append(
                f"seed {seed}: {result.violation or result.liveness_failure} "
                f"(replay: shoal sim raft --duration 5m --nemesis all "
                f"--snapshot-interval 50 --snapshot-keep 10 --swarm --seed {seed})"
            )
            continue
        gaps = result.fault_gaps()
        if max(gaps) > FAULT_GAP_MAX + 1e-9:
            at = sum(gaps[: gaps.index(max(gaps))])
            failures.append(f"seed {seed}: no fault for {max(gaps):.3f}s from {at:.3f}s")
        seen.update(key for key in COVERAGE if result.stats[key])
        nemeses_fired.update(result.faults.keys())
        if position % 20 == 0:
            again = RaftWorld(SWEEP_CONFIG, seed, swarm=True).run()
            if again.trace_hash != result.trace_hash:
                failures.append(f"seed {seed}: a re-run gave a different trace hash")
    assert not failures, "\n".join(failures)
    assert sorted(nemeses_fired) == sorted(NEMESES), "some nemesis never fired"
    missing = [key for key in COVERAGE if not seen[key]]
    assert not missing, f"never happened in {len(seeds)} seeds: {missing}"
