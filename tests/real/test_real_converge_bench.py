"""benchmarks/real_converge.py end to end in its smoke size (``--quick``: one round of
each mode with a few replicas, one crash round per orchestrator): the JSON has every
figure the issue asks for, every mode converged, and the run leaves nothing behind,
also when it is stopped with SIGTERM. Timing is never asserted."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from real.testhosts import sweep

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "real_converge.py"
QUICK_REPLICAS = 6
HOSTS = ("h1", "h2", "h3")

pytestmark = pytest.mark.slow


def _launch(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), "--quick", "--verbose", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _leftovers(pid: int) -> list[str]:
    """What the run of process ``pid`` left: namespaces, directories, processes."""
    return [str(run) for run in sweep.leftovers() if run.pid == pid]


def _figures(entry: dict[str, Any], count: int) -> None:
    assert len(entry["samples"]) == count
    assert all(isinstance(s, float) and s >= 0 for s in entry["samples"])
    assert entry["min"] <= entry["median"] <= entry["max"]


def test_quick_run_prints_every_figure_and_cleans_up(real_packages: None, tmp_path: Path) -> None:
    out = tmp_path / "converge.json"
    proc = _launch("--out", str(out))
    stdout, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stderr
    results = json.loads(stdout)
    assert json.loads(out.read_text()) == results
    assert results["replicas"] == QUICK_REPLICAS
    assert results["complete"] is True and "error" not in results
    env = results["environment"]
    assert env["cores"] >= 1 and env["kernel"] and env["docker"]["version"]

    for mode in ("shoal", "docker", "floor"):
        entry = results["convergence"][mode]
        _figures(entry, 1)
        _figures(entry["containers_started"], 1)
        # converged: every replica ran, spread over the three hosts
        (spread,) = entry["per_host"]
        assert sorted(spread) == list(HOSTS)
        assert sum(spread.values()) == QUICK_REPLICAS
    for mode in ("shoal", "docker"):
        entry = results["recovery"][mode]
        _figures(entry, 1)
        _figures(entry["marked_down"], 1)
        assert entry["tasks_on_victim"][0] > 0  # the crash took tasks down

    assert results["warmup_rounds"] == 1  # untimed: only the counted rounds have samples
    _figures(results["paired_shoal_vs_docker"], 1)

    ratios = results["ratios"]
    for name in ("shoal_vs_docker", "shoal_vs_floor", "recovery_shoal_vs_docker"):
        assert ratios[name] > 0
        bar = results["bars"][name]
        assert bar["ratio"] == ratios[name]
        assert bar["pass"] == (bar["ratio"] <= bar["bar"])
    assert results["forced_cleanups"] == 0
    assert _leftovers(proc.pid) == []


def test_sigterm_stops_the_run_and_removes_everything(real_packages: None) -> None:
    proc = _launch("--recovery-rounds", "0")
    assert proc.stderr is not None
    seen = []
    deadline = time.monotonic() + 300
    for line in proc.stderr:  # the hosts, both swarms and their daemons are up
        seen.append(line)
        if "swarms formed" in line or time.monotonic() > deadline:
            break
    assert any("swarms formed" in line for line in seen), "".join(seen)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(seen) + stderr
    assert "interrupted" in stderr
    assert _leftovers(proc.pid) == []
