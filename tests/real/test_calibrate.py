"""``shoal real calibrate`` on this machine's dockerd: a calibration the simulator reads,
and nothing left behind. What the figures are is the benchmark's business (they depend on
the machine's load); here, that each was measured and each part of the file is sound."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main
from real.testhosts import sweep
from sim.calibration import load

#: The directories of calibrate's dockerds (real/calibrate.py names them ``...-calN``).
CALIBRATION_DIRS = ("-cal1", "-cal2", "-cal3")


@pytest.mark.slow
def test_calibrate_writes_a_calibration_and_leaves_nothing(
    real_packages: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "here.yml"
    before = set(sweep.run_dirs(sweep.default_base()))
    code = main(["real", "calibrate", "--hosts", "2", "--containers", "3", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "contention:" in err and f"calibration written to {out}" in err
    calibration = load(out)
    engine = calibration.engine
    for op in (engine.create, engine.start, engine.stop, engine.remove):
        assert op.latency + op.cpu > 0.001  # each operation took time on dockerd
    assert engine.pull.latency == engine.pull.cpu == 0  # the executor never pulls
    # a sandbox is a container made and started, with a network namespace of its own
    sandbox, start = engine.sandbox, engine.start
    assert sandbox.latency + sandbox.cpu > start.latency + start.cpu
    assert engine.concurrency >= 1
    # busybox's sleep, PID 1 without a handler, ignores SIGTERM: killed at the grace period
    assert calibration.images["local/busybox:1"].stop_signals == ()
    assert calibration.images["local/busybox:1"].pull_seconds == 0
    assert 0 < calibration.link.latency_min < 0.01
    # the data plane: each of its jobs took time on this machine
    dataplane = calibration.dataplane
    for job in (dataplane.program, dataplane.network, dataplane.attach):
        assert job.latency + job.cpu > 0.001
    check = calibration.measured["check"]
    assert len(check["measured_s"]) == 3 and min(check["measured_s"]) > 0  # one a round
    assert check["predicted_s"] > 0
    assert calibration.measured["hosts"] == 2 and calibration.measured["containers"] == 3
    made = {p for p in sweep.run_dirs(sweep.default_base()) if p.name.endswith(CALIBRATION_DIRS)}
    assert made <= before  # its dockerds are gone (other tests' hosts may come and go)


def test_calibrate_refuses_too_little_to_measure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["real", "calibrate", "--containers", "1"]) == 1
    assert "--containers at least 2" in capsys.readouterr().err


def test_calibrate_refuses_an_out_file_in_no_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["real", "calibrate", "--out", str(tmp_path / "no" / "c.yml")]) == 1
    assert "no such directory" in capsys.readouterr().err
