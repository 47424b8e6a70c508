"""``shoal fidelity`` on test hosts: a short worker crash run for real and simulated,
the image mapped in both, every verdict in both columns, an exit status that says
what the last line says, and no test host left behind (about 40 s)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cli.main import main
from real.testhosts import sweep

SHORT = """\
name: worker crash, short
cluster: {managers: 1, workers: 2}
steps:
  - {at: 0s, run: service create --name web --replicas 3 --stop-grace-period 1s nginx}
  - {at: 3s, fault: crash worker-2, for: 2s}
expect:
  always: [raft safety, task invariants]
  by:
    - {at: 3s, check: service web running 3/3}
  at:
    - {at: 28s, check: service web running 3/3}
duration: 29s
"""
EXPECTATIONS = [
    "always: raft safety",
    "always: task invariants",
    "by 3s: service web running 3/3",
    "at 28s: service web running 3/3",
]


@pytest.mark.slow
def test_fidelity_compares_a_real_and_a_simulated_run_and_leaves_nothing_behind(
    tmp_path: Path, real_packages: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path, picture = tmp_path / "short.yml", tmp_path / "fidelity.png"
    path.write_text(SHORT)
    status = main(["fidelity", str(path), "--no-progress", "--plot", str(picture)])
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[1] == "images (in both runs): nginx -> local/busybox:1"
    rows = {line[:34].strip(): line[34:].split() for line in lines[5:9]}
    assert list(rows) == EXPECTATIONS, out
    for text, (sim, real, agree) in rows.items():
        assert sim in ("pass", "FAIL") and real in ("pass", "FAIL"), text
        assert agree == ("yes" if sim == real else "NO"), text
    converged = next(line.split() for line in lines if line.startswith("converged_s"))
    assert converged[2] != "none", out  # the real swarm settled after the crash
    agreed = lines[-1].startswith("sim and real agree in 1/1 seeds")
    assert agreed or lines[-1].startswith("sim and real DISAGREE"), out
    assert status == (0 if agreed else 2), out
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    left = [run for run in sweep.leftovers() if run.pid == os.getpid()]
    assert left == [], [sweep.remains(run) for run in left]
