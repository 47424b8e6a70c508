"""The scenario runner: steps run at their instants, and a broken invariant is a
verdict (a failed expectation, exit status 2), never an internal error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from cli.scenario.runner import run
from cli.scenario.schema import parse
from sim import cluster_checks
from sim.cluster_checks import TaskViolation

TIMED = """
name: timed
cluster: {managers: 3, workers: 1}
steps:
  - {at: 0s, run: service create --detach --name web --replicas 2 nginx}
  - {at: 1s, run: service scale web=3}
  - {at: 1.2s, run: service scale web=1}
  - {at: 2.7s, fault: isolate worker-1}
  - {at: 3.1s, run: service scale web=2}
  - {at: 4.25s, fault: heal}
duration: 6s
"""


def test_steps_run_at_their_instants_whatever_the_commands_before_took(tmp_path: Path) -> None:
    trace = tmp_path / "run.jsonl"
    report = run(parse(TIMED, "timed.yml"), trace_path=trace)
    assert report.passed, report.verdicts
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    (start,) = [r["t"] for r in records if r["kind"] == "scenario"]
    ran = [r["t"] - start for r in records if r["kind"] == "step"]
    faulted = [r["t"] - start for r in records if r["kind"] in ("fault", "fault-end")]
    assert ran == pytest.approx([0.0, 1.0, 1.2, 3.1], abs=1e-6)
    assert faulted == pytest.approx([2.7, 4.25], abs=1e-6)


PLANTED = """
name: planted
cluster: {managers: 1, workers: 2}
steps:
  - {at: 0s, run: service create --name web --replicas 2 --constraint node.role==worker nginx}
  - {at: 5s, run: node update --availability drain worker-2}
EXPECT
duration: 60s
mutations: [keep_tasks_on_invalid_nodes]
"""


class Unrebuildable(TaskViolation):
    """A violation SimPy cannot copy from its args (as SafetyViolation once was)."""

    def __init__(self, prop: str, detail: str) -> None:
        super().__init__(prop, detail)
        self.args = (f"{prop}: {detail}",)


@pytest.mark.parametrize(
    ("expect", "failed"),
    [
        ("expect: {always: [task invariants]}", "always: task invariants"),
        ("", "invariants hold"),  # named by no expectation: a failed verdict all the same
    ],
)
@pytest.mark.parametrize("rebuildable", [True, False], ids=["plain", "unrebuildable"])
def test_a_checkers_violation_is_a_failed_verdict(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    expect: str,
    failed: str,
    rebuildable: bool,
) -> None:
    if not rebuildable:  # raised in a SimPy process (the reaction-bound sample)
        monkeypatch.setattr(cluster_checks, "TaskViolation", Unrebuildable)
    path = tmp_path / "planted.yml"
    path.write_text(PLANTED.replace("EXPECT", expect))
    assert main(["sim", "run", str(path), "--format", "json"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert not report["passed"]
    (verdict,) = [v for v in report["verdicts"] if not v["passed"]]
    assert verdict["expectation"] == failed
    assert verdict["seen"].startswith("reaction bound: task ")
    assert main(["sim", "run", str(path), "--no-progress"]) == 2
    assert "FAIL" in capsys.readouterr().out


WHO_LEADS = """
name: who leads after a cut
cluster: {managers: 3}
steps:
  - {at: 0s, fault: isolate leader}
expect:
  at: [{at: 25s, check: leader is manager-2}]
duration: 26s
"""


def test_a_sweep_fails_when_some_seeds_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "who-leads.yml"
    path.write_text(WHO_LEADS)  # the new leader is drawn from the seed
    assert main(["sim", "run", str(path), "--seeds", "1..6", "--format", "json"]) == 2
    passed = [r["passed"] for r in json.loads(capsys.readouterr().out)]
    assert True in passed and False in passed  # some seeds fail, not all
    assert main(["sim", "run", str(path), "--seeds", "1..6"]) == 2
    rows = [line.split()[:2] for line in capsys.readouterr().out.splitlines()[1:7]]
    assert {verdict for _, verdict in rows} == {"pass", "FAIL"}


PAUSED = """
name: a step sent to a paused manager
cluster: {managers: 1, workers: 1}
steps:
  - {at: 1s, fault: pause manager-1, for: 60s}
  - {at: 2s, run: service ls, on: manager-1}
duration: 70s
"""


def test_a_step_a_paused_host_never_answers_is_a_failed_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "paused.yml"
    path.write_text(PAUSED)
    assert main(["sim", "run", str(path), "--format", "json"]) == 2
    report = json.loads(capsys.readouterr().out)
    (verdict,) = [v for v in report["verdicts"] if not v["passed"]]
    assert verdict["expectation"] == "step: service ls"
    assert verdict["seen"] == "no reply to ServiceList on manager-1 in 30s"
