"""The expectation language through simulated runs: a running count compared,
``services converged``, ``never`` and windowed ``always`` items, ``measure``
quantities over their windows, how verdicts are labelled, and every mistake in them
refused as the file's, with its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from cli.scenario.judging import Report, Verdict
from cli.scenario.runner import run
from cli.scenario.schema import ScenarioError, parse

WORKERS = """
name: a worker crashes
cluster: {managers: 1, workers: 3}
steps:
  - {at: 0s, run: service create --name web --replicas 3 --constraint node.role==worker nginx}
CRASH
expect:
EXPECT
duration: 60s
"""
CRASH = "  - {at: 20s, fault: crash worker-1, for: 30s}"


def ran(template: str, expect: str, fault: str = "") -> Report:
    text = template.replace("CRASH", fault).replace("EXPECT", expect)
    return run(parse(text, "x.yml"))


def verdict(report: Report, label: str) -> Verdict:
    (found,) = [v for v in report.verdicts if v.text == label]
    return found


def first_look(report: Report, since: float, holds: int) -> float:
    """The first look from ``since`` at which web ran fewer than ``holds`` tasks."""
    return next(t for t, n in report.timeline.running["web"] if t >= since and n < holds)


# -- never, and windows -----------------------------------------------------------------------

NEVER_BELOW_3 = "  never: [{check: service web running < 3, from: 10s}]"


def test_never_fails_at_the_first_look_where_it_holds() -> None:
    crashed = ran(WORKERS, NEVER_BELOW_3, CRASH)
    failed = verdict(crashed, "never from 10s: service web running < 3")
    assert not failed.passed and failed.seen == "running 2/3" and failed.line == 8
    assert failed.when == first_look(crashed, 10.0, 3) and failed.when > 20.0
    calm = ran(WORKERS, NEVER_BELOW_3)
    assert calm.passed, calm.verdicts
    assert verdict(calm, "never from 10s: service web running < 3").when is None


def test_a_windowed_never_or_always_ignores_what_happens_outside_its_window() -> None:
    expect = (
        "  never:\n"
        "    - {check: service web running < 3, from: 10s, until: 30s}\n"
        "    - {check: service web running < 3, from: 45s}\n"
        "  always:\n"
        "    - {check: service web running 3/3, from: 10s, until: 30s}\n"
        "    - {check: service web running 3/3, from: 10s}\n"
    )
    report = ran(WORKERS, expect, CRASH)
    assert 30.0 < first_look(report, 10.0, 3) < 45.0  # a breach between the windows
    outcomes = {v.text: v.passed for v in report.verdicts}
    assert outcomes == {
        "never 10s..30s: service web running < 3": True,
        "never from 45s: service web running < 3": True,
        "always 10s..30s: service web running 3/3": True,
        "always from 10s: service web running 3/3": False,
    }


COMPARED = [
    ("service web running == 3", True),
    ("service web running != 3", False),
    ("service web running < 3", False),
    ("service web running <= 3", True),
    ("service web running > 2", True),
    ("service web running >= 4", False),
    ("services converged", True),
]


def test_a_running_count_compared_and_services_converged() -> None:
    items = "".join(f"    - {{at: 15s, check: {text}}}\n" for text, _ in COMPARED)
    early = "    - {at: 0s, check: services converged}\n"
    report = ran(WORKERS, "  at:\n" + items + early)
    assert [(v.text.removeprefix("at 15s: "), v.passed) for v in report.verdicts[:-1]] == COMPARED
    assert verdict(report, "at 15s: service web running != 3").seen == "running 3/3"
    assert verdict(report, "at 15s: services converged").seen == "1 service converged"
    not_yet = verdict(report, "at 0s: services converged")  # just created: nothing runs yet
    assert (not_yet.passed, not_yet.seen) == (False, "not converged: web 0/3")


def test_no_service_is_converged_once_a_leader_answers() -> None:
    """Liveness after heal (the state machine's teardown) holds whether or not any
    service is left: what matters is a leader and nothing behind."""
    text = "cluster: {managers: 1}\nexpect:\n  at: [{at: 1s, check: services converged}]\n"
    (alone,) = run(parse(text, "x.yml")).verdicts
    assert (alone.passed, alone.seen) == (True, "no service to run")
    lost = (
        "cluster: {managers: 3}\nsteps:\n"
        "  - {at: 1s, fault: crash manager-1, for: 60s}\n"
        "  - {at: 1s, fault: crash manager-2, for: 60s}\n"
        "expect:\n  at: [{at: 20s, check: services converged}]\n"
    )
    (no_quorum,) = run(parse(lost, "x.yml")).verdicts
    assert (no_quorum.passed, no_quorum.seen) == (False, "no leader")


# -- measure ----------------------------------------------------------------------------------

BOTH_WORKERS = """
name: every host of a service crashes
cluster: {managers: 1, workers: 2}
steps:
  - {at: 0s, run: service create --name web --replicas 2 --constraint node.role==worker nginx}
CRASH
expect:
  measure:
EXPECT
duration: 40s
"""
BOTH_CRASH = (
    "  - {at: 20s, fault: crash worker-1, for: 10s}\n  - {at: 20s, fault: crash worker-2, for: 10s}"
)
DOWNTIME = "    - max downtime of service web < 1s\n    - downtime of service web < 1s"


def test_max_downtime_fails_when_every_host_of_a_service_crashes() -> None:
    crashed = ran(BOTH_WORKERS, DOWNTIME, BOTH_CRASH)
    longest = verdict(crashed, "measure: max downtime of service web < 1s")
    total = verdict(crashed, "measure: downtime of service web < 1s")
    assert not longest.passed and not total.passed
    assert longest.when == total.when == 40.0  # judged when the run ends
    # the leader's store, as docker service ls: down once the crashed nodes are known
    down = [t for t, n in crashed.timeline.running["web"] if n == 0 and t > 10]
    span = round(down[-1] + 0.5 - down[0], 3)
    assert 4.0 <= span <= 7.0  # from when both are known down until the run ends
    assert longest.seen == f"max downtime {span:g}s (from {down[0]:.1f}s to {down[-1] + 0.5:.1f}s)"
    assert total.seen == f"downtime {span:g}s in 1 outage"
    calm = ran(BOTH_WORKERS, DOWNTIME)
    assert calm.passed, calm.verdicts
    assert verdict(calm, "measure: max downtime of service web < 1s").seen == (
        "max downtime 0s (no outage)"
    )


def test_running_counts_over_a_window_and_a_service_that_never_existed() -> None:
    expect = (
        "    - {check: min running of service web >= 2, from: 10s}\n"
        "    - {check: max running of service web <= 2, from: 10s, until: 19s}\n"
        "    - max downtime of service db == 0s\n"
    )
    report = ran(BOTH_WORKERS, expect, BOTH_CRASH)
    least = verdict(report, "measure from 10s: min running of service web >= 2")
    assert (least.passed, least.seen) == (
        False,
        f"min running 0 (at {first_look(report, 10, 1):.1f}s)",
    )
    most = verdict(report, "measure 10s..19s: max running of service web <= 2")
    assert (most.passed, most.when, most.seen) == (True, 19.0, "max running 2 (at 10.0s)")
    absent = verdict(report, "measure: max downtime of service db == 0s")
    assert (absent.passed, absent.seen) == (True, "max downtime 0s (no service db in the window)")


LEADERS = """
name: the leader is cut off
cluster: {managers: 3}
steps:
FAULT
expect:
  measure:
    - leader changes == 1
    - elections == 1
    - {check: leader changes == 0, until: 9s}
    - time without leader < 1s
duration: 40s
"""


def test_isolating_the_leader_changes_the_leader_once() -> None:
    cut = run(
        parse(LEADERS.replace("FAULT", "  - {at: 10s, fault: isolate leader, for: 20s}"), "x.yml")
    )
    assert cut.passed, cut.verdicts
    change = verdict(cut, "measure: leader changes == 1")
    assert change.seen.startswith("leader changes 1 (manager-1 to manager-")
    before = verdict(cut, "measure until 9s: leader changes == 0")
    assert (before.when, before.seen) == (9.0, "leader changes 0")  # judged as it closed
    calm = run(parse(LEADERS.replace("FAULT", "  - {at: 10s, run: node ls}"), "x.yml"))
    assert {v.text for v in calm.verdicts if not v.passed} == {
        "measure: leader changes == 1",
        "measure: elections == 1",
    }


def test_time_without_leader_after_the_leader_crashes() -> None:
    text = LEADERS.replace("FAULT", "  - {at: 10s, fault: crash leader, for: 20s}")
    report = run(parse(text, "x.yml"))
    leaderless = verdict(report, "measure: time without leader < 1s")
    gap = [t for t, host in report.timeline.looks if not host]
    assert not leaderless.passed and gap and gap[0] == 10.0
    assert leaderless.seen == f"time without leader {gap[-1] + 0.5 - gap[0]:g}s in 1 stretch"


def test_a_window_closing_at_a_look_counts_that_look() -> None:
    text = LEADERS.replace("FAULT", "  - {at: 10s, fault: crash leader, for: 20s}")
    looks = run(parse(text, "x.yml")).timeline.looks
    elected = next(t for t, host in looks if t > 10.0 and host)  # the first new leader seen
    closing = f"    - {{check: elections == 1, from: 10s, until: {elected:g}s}}\n"
    again = run(parse(text.replace("  measure:\n", "  measure:\n" + closing), "x.yml"))
    counted = verdict(again, f"measure 10s..{elected:g}s: elections == 1")
    assert counted.passed and counted.when == pytest.approx(elected), counted


def test_a_window_past_the_end_closes_at_the_end_and_sets_the_default_duration() -> None:
    text = "cluster: {managers: 1}\nexpect:\n  measure: [{check: elections == 0, until: 30s}]\n"
    assert parse(text, "x.yml").duration == 40.0  # the window's end + 10 s
    short = parse(text + "duration: 5s\n", "x.yml")
    (closed,) = run(short).verdicts
    assert (closed.passed, closed.when, closed.seen) == (True, 5.0, "elections 0")
    late = "cluster: {managers: 1}\nexpect:\n  never: [{check: no leader, from: 50s}]\n"
    assert parse(late, "x.yml").duration == 60.0


def test_a_run_stopped_by_a_checker_fails_never_and_measure() -> None:
    text = (
        "cluster: {managers: 1, workers: 2}\nsteps:\n"
        "  - {at: 0s, run: service create --name web --replicas 2 nginx}\n"
        "  - {at: 5s, run: node update --availability drain worker-2}\n"
        "expect:\n  never: [no leader]\n  measure: [elections < 100]\n"
        "duration: 60s\nmutations: [keep_tasks_on_invalid_nodes]\n"
    )
    stopped = [v for v in run(parse(text, "x.yml")).verdicts if v.text != "invariants hold"]
    assert [(v.text, v.passed) for v in stopped] == [
        ("never: no leader", False),
        ("measure: elections < 100", False),
    ]
    assert all(v.seen.startswith("the run stopped: ") for v in stopped)


# -- as printed -------------------------------------------------------------------------------

LABELLED = """
cluster: {managers: 1, workers: 1}
steps:
  - {at: 0s, run: service create --name web --replicas 1 nginx}
expect:
  never:
    - service web running > 1
    - {check: no leader, from: 3s, until: 9s}
  measure:
    - max downtime of service web < 10s
    - {check: leader changes == 0, until: 5s}
    - {check: elections == 0, from: 2s}
duration: 10s
"""


def test_verdicts_are_labelled_by_kind_and_window_in_json_and_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "labelled.yml"
    path.write_text(LABELLED)
    assert main(["sim", "run", str(path), "--format", "json"]) == 0
    shown = [(v["expectation"], v["seen"]) for v in json.loads(capsys.readouterr().out)["verdicts"]]
    assert shown == [
        ("never: service web running > 1", ""),
        ("never 3s..9s: no leader", ""),
        ("measure: max downtime of service web < 10s", "max downtime 0s (no outage)"),
        ("measure until 5s: leader changes == 0", "leader changes 0"),
        ("measure from 2s: elections == 0", "elections 0"),
    ]
    assert main(["sim", "run", str(path), "--no-progress"]) == 0
    table = capsys.readouterr().out
    assert "never 3s..9s: no leader" in table and "measure until 5s: leader changes == 0" in table


# -- the file's mistakes ----------------------------------------------------------------------

HEAD = "name: mistakes\ncluster: {managers: 1}\nduration: 20s\nexpect:\n"


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ("  measure:\n    - uptime of service web > 1s\n", "6: expect: unknown quantity 'uptime"),
        ("  measure:\n    - leader changes => 1\n", "6: expect: '=>' is not a comparison here"),
        (
            "  never:\n    - service web running =< 2\n",
            "6: expect: '=<' is not a comparison (one of < <= > >= == !=)",
        ),
        (
            "  measure:\n    - {check: max downtime of service web < 10, from: 1s}\n",
            "6: expect: max downtime of service web is a time: give a duration (10s, 1m30s, "
            "500ms), not a bare number 10",
        ),
        (
            "  measure:\n    - elections <= 2s\n",
            "6: expect: elections is a count: give a whole number, not a duration 2s",
        ),
        (
            "  never:\n    - service web running < 2s\n",
            "6: expect: service web running <: '2s' is not a whole number",
        ),
        (
            "  never:\n    - check: no leader\n      from: 9s\n      until: 5s\n",
            "7: expect.never[0].from: the window must begin before it ends (from 9s, until 5s)",
        ),
        (
            "  measure:\n    - {check: elections == 0, from: 30s}\n",
            "6: expect.measure: 'elections == 0' from 30s: the run ends at 20s (its duration)",
        ),
        (
            "  never:\n    - raft safety\n",
            "6: expect: 'raft safety' is a checker's, not a condition: it cannot go under never",
        ),
        (
            "  always:\n    - {check: task invariants, from: 5s}\n",
            "6: expect: 'task invariants' watches the whole run: it takes no window",
        ),
        (
            "  always:\n    - {check: no leader, form: 5s}\n",
            "6: expect.always[0].form: unknown field (expected one of check, from, until)",
        ),
        ("  measure:\n    - {from: 5s}\n", "6: expect.measure[0]: needs 'check'"),
        ("  never:\n    - [no leader]\n", "6: expect.never[0]: expected a text or {check"),
    ],
    ids=[
        "unknown-quantity",
        "measure-operator",
        "condition-operator",
        "bare-number-for-a-time",
        "duration-for-a-count",
        "duration-for-a-running-count",
        "from-after-until",
        "from-after-the-end",
        "checker-in-never",
        "checker-in-a-window",
        "unknown-window-field",
        "no-check",
        "a-list",
    ],
)
def test_a_mistake_in_the_new_forms_is_the_files_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], expect: str, message: str
) -> None:
    path = tmp_path / "x.yml"
    path.write_text(HEAD + expect)
    assert main(["sim", "run", str(path), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith(f"Error: {path}:{message}"), err


def test_a_window_may_end_after_the_run() -> None:
    scenario = parse(HEAD + "  never: [{check: no leader, until: 90s}]\n", "x.yml")
    assert scenario.duration == 20.0
    with pytest.raises(ScenarioError, match=r"x.yml:5: expect.never\[0\].until: "):
        parse(HEAD + "  never: [{check: no leader, until: soon}]\n", "x.yml")
