"""``benchmarks/real_raft.py --quick``: three real daemons commit writes through Raft,
the JSON has every figure, every acknowledged write is read back, and the run leaves
nothing behind. Never a bar on the figures themselves: they depend on the machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from real.testhosts import sweep

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "real_raft.py"
#: Seconds the smoke run may take at most (a bound on waiting, not an assertion).
PATIENCE = 300
PHASE_KEYS = {"clients", "writes", "writes_per_s", "p50_ms", "p99_ms", "cpu_ms_per_write"}


def _phase(results: dict[str, Any], key: str, clients: int) -> dict[str, Any]:
    phase = results[key]
    assert isinstance(phase, dict), results
    assert set(phase) == PHASE_KEYS, phase
    assert phase["clients"] == clients
    assert isinstance(phase["writes"], int) and phase["writes"] > 0, phase
    assert phase["writes_per_s"] > 0
    assert 0 < phase["p50_ms"] <= phase["p99_ms"]
    return phase


@pytest.mark.slow
def test_quick_run_commits_writes_and_cleans_up(real_packages: None) -> None:
    done = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--quick"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = done.communicate(timeout=PATIENCE)
    finally:
        if done.poll() is None:
            done.terminate()  # it stops its daemons and dockerd on SIGTERM
            done.communicate(timeout=60)
    assert done.returncode == 0, err
    results = json.loads(out)

    assert results["benchmark"] == "real_raft"
    assert results["managers"] == 3
    assert results["fsyncs_per_s"] > 0
    unbatched = _phase(results, "unbatched", 1)
    batched = _phase(results, "batched_8", 8)
    assert results["verified"] is True
    # every measured write was acknowledged, and read back from the leader's store
    assert results["acknowledged_writes"] >= unbatched["writes"] + batched["writes"]
    assert results["pysyncobj"]["batched_writes_per_s"] == 32_000
    assert results["pysyncobj"]["unbatched_p50_ms"] == 0.7

    left = [run for run in sweep.leftovers() if run.pid == done.pid]
    assert left == [], [sweep.remains(run) for run in left]
