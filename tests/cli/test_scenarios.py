"""Scenario files: the shipped ones pass; every expectation kind has a mutated twin
that fails with a clear verdict and a replay command; schema mistakes name file,
line and field; the plot is checked as a figure."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest

from cli.main import main
from cli.plots import figure
from cli.scenario.runner import Report, run
from cli.scenario.schema import ScenarioError, load, parse

SCENARIOS = sorted(Path(__file__).resolve().parents[2].joinpath("scenarios").glob("*.yml"))
FLAGSHIP = Path(__file__).resolve().parents[2] / "scenarios" / "rolling-update-isolated-leader.yml"


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_shipped_scenario_passes(path: Path) -> None:
    report = run(load(path))
    assert report.passed, [v for v in report.verdicts if not v.passed]
    assert report.verdicts


def test_the_same_seed_gives_the_same_trace() -> None:
    scenario = load(FLAGSHIP)
    assert run(scenario, 3).trace_hash == run(scenario, 3).trace_hash
    assert run(scenario, 3).trace_hash != run(scenario, 4).trace_hash


# -- mutated twins: each expectation kind, made wrong --------------------------------------

BASE = """
name: twin
cluster: {managers: 3, workers: 2}
steps:
  - {at: 0s, run: service create --name web --replicas 3 --constraint node.role==worker nginx}
  - {at: 20s, run: service update --image nginx:2 web}
  - {at: 30s, fault: isolate leader, for: 20s}
  - {at: 5s, run: node update --availability drain worker-2}
expect:
  EXPECTATIONS
duration: 120s
"""


def verdicts(expectations: str) -> Report:
    return run(parse(BASE.replace("EXPECTATIONS", expectations), "twin.yml"))


@pytest.mark.parametrize(
    ("right", "wrong", "seen"),
    [
        (
            "by: [{at: 30s, check: service web running 3/3}]",
            "by: [{at: 30s, check: service web running 4/3}]",
            "running 3/3",
        ),
        (
            "by: [{at: 100s, check: update web completed}]",
            "by: [{at: 21s, check: update web completed}]",
            "update",
        ),
        (
            "at: [{at: 60s, check: leader is not manager-1}]",
            "at: [{at: 60s, check: leader is manager-1}]",
            "leader manager-",
        ),
        (
            "always: [no task on worker-2 after 20s]",
            "always: [no task on worker-1 after 20s]",
            "running",
        ),
        (
            "by: [{at: 60s, check: node worker-2 ready}]",
            "by: [{at: 60s, check: node worker-2 down}]",
            "node ready",
        ),
        (
            "at: [{at: 10s, check: secret db_pw held by no node}]",
            "at: [{at: 10s, check: secret db_pw held by 1 node}]",
            "held by no node",
        ),
    ],
)
def test_each_kind_of_expectation_fails_when_made_wrong(right: str, wrong: str, seen: str) -> None:
    good = verdicts(right)
    assert good.passed, good.verdicts
    bad = verdicts(wrong)
    assert not bad.passed
    (verdict,) = [v for v in bad.verdicts if not v.passed]
    assert seen in verdict.seen and verdict.line is not None


def test_a_failed_run_prints_its_verdict_and_how_to_replay_it(tmp_path: Path) -> None:
    path = tmp_path / "wrong.yml"
    path.write_text(BASE.replace("EXPECTATIONS", "by: [{at: 30s, check: service web running 4/3}]"))
    out = io.StringIO()
    from cli.sim_run import main as sim_run

    args = type(
        "Args",
        (),
        {
            "file": str(path),
            "seed": 7,
            "seeds": None,
            "trace": None,
            "plot": None,
            "format": "table",
            "no_progress": True,
            "calibration": None,
            "one_machine": False,
        },
    )()
    assert sim_run(args, out=out, err=io.StringIO()) == 2
    text = out.getvalue()
    assert "by 30s: service web running 4/3" in text and "FAIL" in text
    assert f"replay: shoal sim run {path} --seed 7" in text
    assert "trace hash " in text


def test_a_step_reads_the_files_the_scenario_carries() -> None:
    scenario = parse(
        "files: {pw.txt: s3cret}\n"
        "cluster: {managers: 1, workers: 2}\n"
        "steps:\n"
        "  - {at: 0s, run: secret create db_pw pw.txt}\n"
        "  - {at: 1s, run: secret create other nope.txt}\n"
        "  - {at: 1s, run: service create --name web --secret db_pw nginx}\n"
        "  - {at: 1s, run: service create --name bad --secret nope nginx}\n"
        "expect:\n"
        "  at: [{at: 10s, check: secret db_pw held by 1 node}]\n"
        "duration: 12s",
        "x.yml",
    )
    seen = {v.text: (v.passed, v.seen) for v in run(scenario).verdicts}
    assert seen["step: secret create other nope.txt"] == (
        False,
        "error reading from nope.txt: open nope.txt: no such file or directory",
    )
    assert seen["step: service create --name bad --secret nope nginx"] == (
        False,
        "secret not found: nope",
    )
    assert seen["at 10s: secret db_pw held by 1 node"][0]


def test_a_bad_step_command_fails_its_step() -> None:
    scenario = parse(
        "steps: [{at: 0s, run: service create --replicas abc nginx}]\nduration: 5s", "x.yml"
    )
    (verdict,) = run(scenario).verdicts
    assert not verdict.passed and verdict.line == 1
    assert verdict.seen.startswith('invalid argument "abc" for "--replicas" flag')


# -- schema mistakes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cluster: {managers: 0}", "x.yml:1: cluster.managers: must be at least 1, not 0"),
        ("cluster:\n  managers: three", "x.yml:2: cluster.managers: 'three' is not a whole number"),
        (
            "steps:\n  - {at: 10x, run: service ls}",
            "x.yml:2: steps[0].at: '10x' is not a duration (10s, 1m30s)",
        ),
        (
            "steps:\n  - {run: service ls}",
            "x.yml:2: steps[0]: needs 'at' (when, from the swarm's forming)",
        ),
        ("steps:\n  - {at: 1s}", "x.yml:2: steps[0]: needs one of 'run' (a command) or 'fault'"),
        (
            "colour: red",
            "x.yml:1: colour: unknown field (expected one of name, seed, cluster, network, files, "
            "steps, expect, duration, mutations)",
        ),
        ("expect:\n  by:\n    - {at: 5s}", "x.yml:3: expect.by[0]: needs 'check'"),
        (
            "cluster: {workers: 1, labels: {worker-9: {a: b}}}",
            "x.yml:1: cluster.labels.worker-9: no such host (the hosts are manager-1, "
            "manager-2, manager-3, worker-1)",
        ),
        ("steps: [", "x.yml:1: not YAML"),
        ("", "x.yml: the file is empty"),
    ],
)
def test_schema_mistakes_name_file_line_and_field(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse(text, "x.yml")
    assert str(caught.value).startswith(message)


def test_an_unreadable_expectation_is_the_files_mistake() -> None:
    scenario = parse("expect:\n  always:\n    - the moon is blue", "x.yml")
    with pytest.raises(ScenarioError) as caught:
        run(scenario)
    assert str(caught.value).startswith("x.yml:3: expect: cannot read 'the moon is blue'")


def test_sim_run_exits_1_for_a_file_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("cluster: {managers: 0}\n")
    assert main(["sim", "run", str(path), "--no-progress"]) == 1
    assert "cluster.managers: must be at least 1, not 0" in capsys.readouterr().err
    assert main(["sim", "run", str(tmp_path / "missing.yml"), "--no-progress"]) == 1


# -- the plot, as a figure -----------------------------------------------------------------


def test_the_plot_shows_replicas_faults_and_leaders() -> None:
    report = run(load(FLAGSHIP))
    axes = figure(report.timeline).axes[0]
    assert axes.get_xlabel() and axes.get_ylabel()
    labels = [t.get_text() for t in axes.get_legend().get_texts()]
    assert labels == ["web on the current spec", "web running", "fault", "new leader"]
    spans = [p for p in axes.patches]
    bands = sorted((round(p.get_x(), 3), round(p.get_x() + p.get_width(), 3)) for p in spans)
    assert bands == sorted((round(s, 3), round(e, 3)) for s, e, _ in report.timeline.faults)
    assert len(report.timeline.faults) == 1
    vertical = [line for line in axes.get_lines() if line.get_linestyle() == "--"]
    assert sorted(round(line.get_xdata()[0], 3) for line in vertical) == sorted(
        round(t, 3) for t, _ in report.timeline.leaders
    )
    assert report.timeline.leaders  # the isolation made a new one


def test_spread_and_task_count_expectations_fail_when_made_wrong() -> None:
    racks = load(FLAGSHIP.parent / "placement-preferences-racks.yml")
    unlabelled = replace(racks, steps=tuple(s for s in racks.steps if "manager-1" not in s.run))
    (spread,) = [v for v in run(unlabelled).verdicts if "spread" in v.text]
    assert not spread.passed and spread.seen == "a: 3, b: 2, c: 1"  # SwarmKit's own quirk
    restarts = load(FLAGSHIP.parent / "restart-policy-max-attempts.yml")
    counted = replace(
        restarts,
        expectations=tuple(
            replace(e, check=e.check.replace("has 4 tasks", "has 3 tasks"))
            for e in restarts.expectations
        ),
    )
    (count,) = [v for v in run(counted).verdicts if "tasks" in v.text]
    assert not count.passed and count.seen == "4 tasks"


def test_a_trace_read_back_draws_the_same_run(tmp_path: Path) -> None:
    from cli.timeline import read_trace

    trace = tmp_path / "run.jsonl"
    report = run(load(FLAGSHIP), trace_path=trace)
    timeline = read_trace(trace)
    assert timeline.title == report.timeline.title
    assert [(round(s, 3), round(e, 3), w) for s, e, w in timeline.faults] == [
        (round(s, 3), round(e, 3), w) for s, e, w in report.timeline.faults
    ]
    assert [h for _, h in timeline.leaders] == [h for _, h in report.timeline.leaders]
    assert timeline.initial_leader == report.timeline.initial_leader == "manager-1"
    (latency,) = timeline.election_latencies()
    # the election bound after the leader is cut off: at least 10 ticks of a follower's
    # clock since the last heartbeat, which came up to a tick (1 s) before the cut and
    # is counted from the follower's next tick: so from about 8 s
    assert 8.0 <= latency <= 40.0


@pytest.mark.parametrize(
    ("mutation", "checker"),
    [("ignore_constraints", "task invariants"), ("send_before_persist", "raft safety")],
)
def test_a_planted_bug_fails_its_checkers_verdict(mutation: str, checker: str) -> None:
    text = BASE.replace("EXPECTATIONS", "always: [raft safety, task invariants]")
    clean = run(parse(text, "twin.yml"))
    assert clean.passed
    planted = run(parse(text + f"mutations: [{mutation}]\n", "twin.yml"))
    (failed,) = [v for v in planted.verdicts if not v.passed]
    assert failed.text == f"always: {checker}" and failed.seen


def test_sim_run_over_seeds_and_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["sim", "run", str(FLAGSHIP), "--seeds", "1..3", "--no-progress"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].split() == ["SEED", "VERDICT", "FAILED"]
    assert [r.split()[:2] for r in rows[1:]] == [["1", "pass"], ["2", "pass"], ["3", "pass"]]
    assert main(["sim", "run", str(FLAGSHIP), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and len(report["trace_hash"]) == 64
    assert {v["expectation"] for v in report["verdicts"]} >= {"by 150s: update web completed"}


def test_hosts_can_be_named_and_sized() -> None:
    scenario = parse(
        """
cluster:
  managers: 1
  workers: 2
  names: {manager-1: alpha, worker-1: small}
  resources: {small: {cpus: 1, memory: 512M}}
steps:
  - at: 0s
    run: >-
      service create --name big --replicas 2 --reserve-memory 1G
      --constraint node.role==worker nginx
expect:
  always: [no task on small after 0s]
  by: [{at: 20s, check: service big running 2/2}, {at: 20s, check: node small ready}]
  at: [{at: 5s, check: leader is alpha}]
duration: 25s
""",
        "named.yml",
    )
    assert [name for name, _ in scenario.hosts] == ["alpha", "small", "worker-2"]
    report = run(scenario)
    assert report.passed, [v for v in report.verdicts if not v.passed]
    with pytest.raises(ScenarioError) as caught:
        parse("cluster: {workers: 1, names: {worker-1: manager-1}}", "x.yml")
    assert str(caught.value) == "x.yml:1: cluster.names: two hosts would have one name"


def test_held_by_takes_a_count_hosts_or_no_node() -> None:
    from cli.scenario.conditions import BadCondition, read

    assert read("secret a held by 2 nodes").probe is not None
    assert read("config a held by worker-1,worker-2").probe is not None
    with pytest.raises(BadCondition, match="expected N nodes, HOST"):
        read("secret a held by worker 1")
