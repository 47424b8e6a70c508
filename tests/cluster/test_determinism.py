"""Same seed, same trace: a whole swarm under random faults gives one trace hash in
fresh processes under any PYTHONHASHSEED, and its trace file hashes to it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from sim.cluster_sweep import SweepConfig, run_sweep

REPO = Path(__file__).resolve().parents[2]
SHORT = SweepConfig(safety_seconds=60.0)


def sweep_hash(seed: int, hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO)}
    code = (
        "from sim.cluster_sweep import SweepConfig, run_sweep; "
        f"r = run_sweep(SweepConfig(safety_seconds=60.0), {seed}); "
        "print(r.trace_hash, r.ok)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    trace_hash, ok = done.stdout.split()
    assert ok == "True", done.stdout
    return trace_hash


def test_same_seed_same_trace_hash_in_fresh_processes_under_any_hash_seed() -> None:
    hashes = {sweep_hash(5, hash_seed) for hash_seed in ("0", "1", "2")}
    assert len(hashes) == 1
    assert sweep_hash(6, "0") not in hashes


def test_the_trace_file_holds_commits_leaders_and_faults_and_hashes_to_the_hash(
    tmp_path: Path,
) -> None:
    path = tmp_path / "swarm.jsonl"
    result = run_sweep(SHORT, 5, path)
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == result.trace_hash
    text = data.decode()
    for kind in ('"kind":"task"', '"kind":"leader"', '"kind":"fault"', '"kind":"boot"'):
        assert kind in text
