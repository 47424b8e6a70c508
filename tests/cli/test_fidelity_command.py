"""``shoal fidelity`` with its two runs replaced by hand-made reports (the real
command on test hosts is tests/real/test_fidelity_real.py): exit 0 when the seeds
agree, 2 when a verdict or converged_s does not, 1 for a user mistake (one line, no
host built), 130 on Ctrl-C with the test hosts removed; the scenario both runs get
(images mapped, or not with --hosts); the calibration; the table, JSON and plot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from cli import fidelity_cmd
from cli.fidelity import plot
from cli.fidelity.compare import compare
from cli.main import main
from cli.scenario.judging import Report
from cli.scenario.schema import Scenario
from real.scenario import testbed
from sim.calibration import Calibration
from tests.cli.fidelity_support import report

SMALL = """\
name: small
seed: 5
cluster: {managers: 1, workers: 2}
steps:
  - {at: 0s, run: service create --name web --replicas 3 nginx}
  - {at: 1s, run: service create --name db redis:7}
  - {at: 8s, fault: crash worker-2, for: 5s}
expect:
  always: [raft safety]
  by:
    - {at: 8s, check: service web running 3/3}
duration: 20s
"""
SAFETY, BY = "always: raft safety", "by 8s: service web running 3/3"


class Runs:
    """The two runs, replaced: what each was given, and what it returns."""

    def __init__(self) -> None:
        self.real: list[tuple[Scenario, str | None, int]] = []
        self.sim: list[tuple[Scenario, int, Calibration]] = []
        self.real_report: dict[str, Any] = {}
        self.sim_report: dict[str, Any] = {}

    def run_real(self, scenario: Scenario, inventory: str | None, seed: int, _: Any) -> Report:
        self.real.append((scenario, inventory, seed))
        return report(**{"verdicts": [(SAFETY, True), (BY, True)], **self.real_report}, seed=seed)

    def run_sim(self, scenario: Scenario, seed: int, calibration: Calibration, _: Any) -> Report:
        self.sim.append((scenario, seed, calibration))
        return report(**{"verdicts": [(SAFETY, True), (BY, True)], **self.sim_report}, seed=seed)


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> Runs:
    made = Runs()
    monkeypatch.setattr(fidelity_cmd, "run_real", made.run_real)
    monkeypatch.setattr(fidelity_cmd, "run_sim", made.run_sim)
    return made


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.yml"
    path.write_text(SMALL)
    return path


def fidelity(capsys: pytest.CaptureFixture[str], *words: str) -> tuple[int, str, str]:
    try:
        status = main(["fidelity", *words, "--no-progress"])
    except SystemExit as exit:  # argparse's refusals
        status = int(exit.code or 0)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_agreeing_runs_exit_0_with_both_columns_and_the_image_mapping(
    runs: Runs, small: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = fidelity(capsys, str(small))
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "small: simulated and real (test hosts on this machine)"
    assert lines[1] == (
        "images (in both runs): nginx -> local/busybox:1, redis:7 -> local/busybox:2"
    )
    assert lines[3] == "seed 5"  # the file's
    assert lines[4].split() == ["EXPECTATION", "SIM", "REAL", "AGREE"]
    assert lines[5].split() == ["always:", "raft", "safety", "pass", "pass", "yes"]
    assert lines[8].split() == ["MEASURE", "SIM", "REAL", "SIM/REAL", "AGREE"]
    assert lines[9].split() == ["converged_s", "4.0", "4.0", "1.00", "yes"]
    assert lines[-1] == (
        "sim and real agree in 1/1 seeds (verdicts, and converged_s within ±30% of real or 1 s)"
    )


def test_both_runs_get_the_same_mapped_scenario_and_the_files_seed(
    runs: Runs, small: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fidelity(capsys, str(small))
    ((real, inventory, real_seed),) = runs.real
    ((sim, sim_seed, calibration),) = runs.sim
    assert real is sim and inventory is None and real_seed == sim_seed == 5
    assert [s.run for s in real.steps if s.run] == [
        "service create --name web --replicas 3 local/busybox:1",
        "service create --name db local/busybox:2",
    ]
    assert calibration.one_machine  # test hosts share this machine's cores


def test_with_an_inventory_nothing_is_mapped_and_hosts_have_their_own_cores(
    runs: Runs, small: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = fidelity(capsys, str(small), "--hosts", "inventory.yml")
    assert status == 0
    ((real, inventory, _),) = runs.real
    assert inventory == "inventory.yml"
    assert real.steps[0].run.endswith(" nginx")
    assert not runs.sim[0][2].one_machine
    assert "images" not in out and "(the daemons of inventory.yml)" in out.splitlines()[0]


def test_a_verdict_that_differs_exits_2(
    runs: Runs, small: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs.real_report = {"verdicts": [(SAFETY, True), (BY, False)]}
    status, out, _ = fidelity(capsys, str(small))
    assert status == 2
    assert f"{BY}   pass      FAIL      NO" in out
    assert out.splitlines()[-1].startswith("sim and real DISAGREE: 0/1 seeds agree")


def test_a_convergence_time_out_of_tolerance_exits_2_and_within_it_0(
    runs: Runs, small: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs.sim_report, runs.real_report = {"converged": 4.0}, {"converged": 9.5}
    assert fidelity(capsys, str(small))[0] == 2
    assert fidelity(capsys, str(small), "--tolerance", "0.6")[0] == 0  # 5.5 <= 5.7


def test_other_measures_apart_do_not_fail_the_command(
    runs: Runs, small: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs.sim_report = {"elections": 4, "leaderless": 20.0}
    status, out, _ = fidelity(capsys, str(small))
    assert status == 0
    assert "elections          4         0         -          NO" in out


def test_several_seeds_run_in_order_and_get_medians(
    runs: Runs, small: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = fidelity(capsys, str(small), "--seeds", "3..5")
    assert status == 0
    assert [seed for _, _, seed in runs.real] == [3, 4, 5]
    assert [seed for _, seed, _ in runs.sim] == [3, 4, 5]
    assert "\nall 3 seeds\n" in out
    assert "converged_s        4.0          4.0           1.00       yes       3/3" in out


def test_over_seeds_the_answer_is_every_verdict_and_the_medians(
    runs: Runs, small: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    times = {3: (24.0, 12.0), 4: (26.0, 27.0), 5: (12.0, 25.0)}  # sim, real per seed

    def timed(run: Any, side: int) -> Any:
        def runner(scenario: Scenario, *args: Any) -> Report:
            made: Report = run(scenario, *args)
            return report([(SAFETY, True), (BY, True)], times[made.seed][side], seed=made.seed)

        return runner

    monkeypatch.setattr(fidelity_cmd, "run_sim", timed(runs.run_sim, 0))
    monkeypatch.setattr(fidelity_cmd, "run_real", timed(runs.run_real, 1))
    status, out, _ = fidelity(capsys, str(small), "--seeds", "3..5")
    assert status == 0, out
    assert out.splitlines()[-1] == (
        "sim and real agree: verdicts agree in 3/3 seeds, both agree in 1 (verdicts in "
        "every seed, and the medians of converged_s within ±30% of real or 1 s)"
    )
    times[5] = (40.0, 25.0)  # medians 26 and 25 still, seed 5 apart: agree
    assert fidelity(capsys, str(small), "--seeds", "3..5")[0] == 0
    times.update({3: (60.0, 12.0), 5: (60.0, 25.0)})  # medians 60 and 25
    status, out, _ = fidelity(capsys, str(small), "--seeds", "3..5", "--format", "json")
    assert status == 2 and json.loads(out)["agree"] is False


def test_json_carries_the_same_data(
    runs: Runs, small: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs.real_report = {"converged": 9.5}
    status, out, _ = fidelity(capsys, str(small), "--format", "json", "--seed", "7")
    assert status == 2
    data = json.loads(out)
    assert data["agree"] is False and data["tolerance"] == 0.3
    assert data["images"] == {"nginx": "local/busybox:1", "redis:7": "local/busybox:2"}
    (seed,) = data["seeds"]
    assert seed["seed"] == 7 and seed["agree"] is False
    assert seed["verdicts"][0] == {"expectation": SAFETY, "sim": True, "real": True, "agree": True}
    assert seed["metrics"][0] == {
        "measure": "converged_s",
        "sim": 4.0,
        "real": 9.5,
        "ratio": pytest.approx(4 / 9.5),
        "agree": False,
    }
    assert data["overall"]["metrics"][0]["real_median"] == 9.5


@pytest.mark.parametrize(
    ("words", "said"),
    [
        (["--tolerance", "-0.1"], "--tolerance must be a number from 0 up, not -0.1"),
        (["--tolerance", "nan"], "--tolerance must be a number from 0 up, not nan"),
        (["--plot", "out.svg"], "--plot writes a PNG"),
        (["--calibration", "/nowhere.yml"], "/nowhere.yml"),
        (["--seed", "1", "--seeds", "1..2"], "not allowed with argument --seed"),
    ],
)
def test_a_bad_flag_is_one_line_and_exit_1(
    runs: Runs, small: Path, capsys: pytest.CaptureFixture[str], words: list[str], said: str
) -> None:
    status, _, err = fidelity(capsys, str(small), *words)
    assert status == 1
    assert said in err and "Traceback" not in err
    assert runs.real == [] and runs.sim == []


def test_a_missing_file_and_three_images_are_refused_before_any_run(
    runs: Runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = fidelity(capsys, str(tmp_path / "none.yml"))
    assert status == 1 and "none.yml: cannot be read" in err
    three = tmp_path / "three.yml"
    three.write_text(
        SMALL.replace(
            "  - {at: 8s, fault", "  - {at: 2s, run: service create alpine}\n  - {at: 8s, fault"
        )
    )
    status, _, err = fidelity(capsys, str(three))
    assert status == 1
    assert err.strip() == (
        f"Error: {three}:7: run: test hosts have two images (local/busybox:1, "
        "local/busybox:2): the scenario names 3 (nginx:latest, redis:7, alpine:latest)"
    )
    assert runs.real == [] and runs.sim == []


def test_what_real_mode_cannot_run_is_refused_as_real_run_refuses_it_before_any_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    monkeypatch.setattr(testbed, "TestHosts", lambda *a, **k: built.append("built"))
    path = tmp_path / "pull.yml"
    path.write_text(
        SMALL.replace("fault: crash worker-2, for: 5s", "fault: pull-fails nginx on worker-1")
    )
    status, _, err = fidelity(capsys, str(path))
    assert status == 1
    assert err.strip() == (
        f"Error: {path}:7: fault: pull-fails: test hosts cannot do it ({_why('pull-fails')})"
    )
    assert built == []


def _why(verb: str) -> str:
    from real.scenario.support import WHY

    return WHY[verb]


class FakeHosts:
    """Test hosts that are made and removed, nothing more."""

    made: ClassVar[list[FakeHosts]] = []

    def __init__(self, count: int, docker: bool = False) -> None:
        self.names = [f"h{i}" for i in range(1, count + 1)]
        self.closed = False
        FakeHosts.made.append(self)

    def open(self) -> None: ...

    def close(self) -> None:
        self.closed = True

    def __getitem__(self, index: int) -> Any:
        return type("Host", (), {"name": self.names[index]})()


@pytest.fixture
def fake_hosts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[FakeHosts]]:
    FakeHosts.made = []
    monkeypatch.setattr(testbed, "TestHosts", FakeHosts)
    yield FakeHosts.made


def interrupted(*_: Any, **__: Any) -> Any:
    raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["forming the swarm", "running the scenario"])
def test_ctrl_c_exits_130_and_removes_the_test_hosts(
    where: str,
    small: Path,
    fake_hosts: list[FakeHosts],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    swarm = type("Swarm", (), {"__init__": lambda self, *a, **k: None, "start": lambda self: None})
    swarm.form = interrupted if where == "forming the swarm" else lambda self, *a: None  # type: ignore[attr-defined]
    monkeypatch.setattr(testbed, "ShoalSwarm", swarm)
    monkeypatch.setattr(fidelity_cmd.real_runner, "run", interrupted)
    status, _, err = fidelity(capsys, str(small))
    assert status == 130
    assert "Traceback" not in err
    assert len(fake_hosts) == 1 and fake_hosts[0].closed


def test_the_plot_draws_sim_and_real_per_measure(
    runs: Runs, small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "fidelity.png"
    runs.real_report = {"converged": None}
    assert fidelity(capsys, str(small), "--plot", str(out))[0] == 2
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    seeds = [compare(report(converged=4.0, seed=1), report(converged=None, seed=1))]
    figure = plot.figure("small", seeds, 0.3)
    titles = [axes.get_title() for axes in figure.axes]
    assert titles[:2] == ["converged_s (1 disagree)", "elections (agree)"]
    converged = figure.axes[0]
    assert [t.get_text() for t in converged.texts] == ["4.0", "none"]  # real never settled
    assert [round(p.get_height(), 1) for p in converged.patches] == [4.0]


def test_the_plot_shades_where_the_simulated_figure_agrees() -> None:
    seeds = [compare(report(converged=4.0, seed=1), report(converged=10.0, seed=1))]
    converged, elections = plot.figure("small", seeds, 0.3).axes[:2]
    (shaded,) = [p for p in converged.patches if p.get_zorder() == 0]
    assert (shaded.get_y(), shaded.get_y() + shaded.get_height()) == pytest.approx((7.0, 13.0))
    (shaded,) = [p for p in elections.patches if p.get_zorder() == 0]
    assert (shaded.get_y(), shaded.get_height()) == (0.0, 1.0)  # 0 elections, give or take 1
