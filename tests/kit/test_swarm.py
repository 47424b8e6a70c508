"""SimSwarm: a swarm a test drives step by step is the run of the scenario it
writes down. The replay has the same trace hash, the same looks at the same
instants and the same verdicts; a failure it raises replays as a failure."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.main import main
from cli.scenario.judging import Report
from cli.scenario.runner import ScenarioRun, run
from cli.scenario.schema import Step, parse
from shoal.testing import SimSwarm, SwarmFailure
from shoal.testing.strategies import TimedFault

EXAMPLES = 30 if settings.default.max_examples <= 200 else 500

COMMANDS = (
    "service create --name web --replicas 3 nginx:1.25",
    "service create --name api --replicas 2 --update-delay 1s nginx:1.25",
    "service scale web=5",
    "service update --image nginx:1.27 web",
    "service rm api",
    "node update --availability drain worker-1",
    "node update --availability active worker-1",
)
FAULTS = (
    ("isolate leader", 12.0),
    ("crash worker-2", 7.5),
    ("pause manager-2", 3.0),
    ("partition majority-ring", 9.0),
    ("restart worker-1", None),
    ("kill web.1", None),
)
CONDITIONS = (
    "service web running > 4",
    "service db running > 0",
    "no leader",
    "services converged",
)
actions = st.one_of(
    st.tuples(st.just("docker"), st.sampled_from(COMMANDS)),
    st.tuples(st.just("fault"), st.sampled_from(FAULTS)),
    # on the half-second grid (where instants may or may not have been looked at) or off it
    st.tuples(st.just("wait"), st.integers(1, 40).map(lambda n: n / 2)),
    st.tuples(st.just("wait"), st.integers(1, 20_000).map(lambda ms: ms / 1000)),
    st.tuples(st.just("wait_for"), st.sampled_from(("service web running 3/3", "no leader"))),
    st.tuples(st.just("never"), st.sampled_from(CONDITIONS)),
    st.tuples(st.just("always"), st.sampled_from(CONDITIONS)),
    st.tuples(st.just("play"), st.lists(st.sampled_from(FAULTS), max_size=3)),
)


def _looks(report: Report) -> list[tuple[float, str]]:
    return report.timeline.looks


def _verdicts(report: Report) -> list[tuple[str, bool, float, str]]:
    """In the file's order (a scenario lists its expectations by kind)."""
    return sorted((v.text, v.passed, v.when or 0.0, v.seen) for v in report.verdicts)


def _act(swarm: SimSwarm, kind: str, what: object) -> None:
    if kind == "docker":
        swarm.docker(str(what), check=False)
    elif kind == "fault":
        fault, lasting = what  # type: ignore[misc]
        swarm.fault(fault, lasting=lasting)
    elif kind == "wait":
        swarm.wait(float(what))  # type: ignore[arg-type]
    elif kind == "wait_for":
        swarm.wait_for(str(what), within=15)
    elif kind == "play":
        faults = what  # type: ignore[assignment]
        swarm.play([TimedFault(i * 2.5, f, lasting) for i, (f, lasting) in enumerate(faults)])  # type: ignore[arg-type]
    elif kind == "never":
        swarm.never(str(what), lasting=20)
    else:
        swarm.always(str(what))


def _drive(swarm: SimSwarm, plan: list[tuple[str, object]]) -> None:
    """Every action, going on after a wait that timed out or a window broken (as a
    test catching them would); only a broken swarm stops the plan."""
    for kind, what in plan:
        try:
            _act(swarm, kind, what)
        except SwarmFailure:
            if swarm.broken is not None:
                return


@settings(max_examples=EXAMPLES)
@given(seed=st.integers(1, 1000), plan=st.lists(actions, max_size=12))
def test_a_driven_run_is_the_run_of_the_scenario_it_writes(
    seed: int, plan: list[tuple[str, object]]
) -> None:
    swarm = SimSwarm(3, 2, seed=seed)
    _drive(swarm, plan)
    text = swarm.scenario_yaml()
    try:
        live = swarm.finish()
    except SwarmFailure:  # a window broken at the last look: the report is finished
        live = swarm.finish()
    again = run(parse(text, "written.yml"), seed)
    assert again.trace_hash == live.trace_hash
    assert _looks(again) == _looks(live)  # not one look more or less, at the same instants
    assert _verdicts(again) == _verdicts(live)
    assert again.metrics == live.metrics


def _replays(swarm: SimSwarm) -> None:
    text = swarm.scenario_yaml()
    live = swarm.finish()
    again = run(parse(text, "written.yml"), swarm.seed)
    assert (again.trace_hash, _looks(again)) == (live.trace_hash, _looks(live))
    assert _verdicts(again) == _verdicts(live)


def test_a_wait_for_at_a_parked_instant_on_the_grid_is_looked_at_there() -> None:
    """The world parked on a half second no look has seen (looks drift off the grid
    after a command): a wait beginning there looks there, as its replay does."""
    swarm = SimSwarm(1, 1, seed=3)
    swarm.docker("service create --name web --replicas 1 nginx")
    swarm.wait(1.0 - swarm.now)
    assert swarm.now == 1.0 and swarm._run.now != 1.0
    assert swarm.wait_for("service web running 1/1", within=10) >= 1.0
    swarm.never("no leader")
    swarm.wait(2)
    _replays(swarm)


def test_a_step_after_a_command_answered_off_the_grid_stops_the_world_at_its_instant() -> None:
    swarm = SimSwarm(3, 2, seed=89)
    swarm.fault("isolate leader", lasting=6)
    swarm.fault("pause manager-2", lasting=3)
    swarm.docker("node update --availability drain worker-1", check=False)
    swarm.wait(1)
    swarm.fault("restart worker-1")
    _replays(swarm)


def test_a_window_broken_at_the_last_look_raises_and_the_report_is_finished() -> None:
    swarm = SimSwarm(1, 0, seed=1)
    swarm.always("service web running 1/1")  # no such service: broken at its first look
    with pytest.raises(SwarmFailure, match=re.escape("'always: service web running 1/1' broke")):
        swarm.finish()
    report = swarm.finish()
    assert report.trace_hash and not report.passed
    assert [v.text for v in report.verdicts if not v.passed] == ["always: service web running 1/1"]
    with pytest.raises(SwarmFailure, match="finished"):
        swarm.wait(1)
    # 0 s, 0.25 s (looks fall a quarter into each half second) and the end at 0.5 s:
    # nothing ran on after the end
    assert [t for t, _ in report.timeline.looks] == [0.0, 0.25, 0.5]


def test_each_broken_window_raises_once() -> None:
    """Both break at one look: each is told at a call of its own, then never again."""
    swarm = SimSwarm(1, 1, seed=2)
    swarm.never("service web running > 0")
    swarm.never("service web running > 1")
    swarm.docker("service create --name web --replicas 2 nginx")
    told = []
    for _ in range(3):
        try:
            swarm.wait(10)
        except SwarmFailure as failure:
            told.append(failure.problem.split("'")[1])
    assert told == ["never: service web running > 0", "never: service web running > 1"]
    swarm.finish()


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        (lambda s: s.never("raft safety"), "cannot go under never"),
        (lambda s: s.wait_for("node worker-9 down", within=5), "no such host"),
        (lambda s: s.fault("crash worker-9"), "crash needs a host"),
        (lambda s: s.fault("isolate worker-1", lasting=0), "lasting must be"),
        (lambda s: s.never("no leader", lasting=-3), "lasting must be"),
        (lambda s: s.wait(float("nan")), "wait must be"),
        (lambda s: s.wait_for("no leader", within=float("inf")), "within must be"),
    ],
)
def test_what_a_scenario_cannot_say_is_refused_and_leaves_the_swarm_as_it_was(
    call: Callable[[SimSwarm], object], problem: str
) -> None:
    swarm = SimSwarm(1, 1, seed=1)
    swarm.docker("service create --name web nginx")
    before = swarm.scenario_yaml()
    with pytest.raises(ValueError, match=problem):
        call(swarm)
    assert swarm.scenario_yaml() == before
    swarm.wait(1)
    _replays(swarm)


def test_a_swarm_needs_a_manager() -> None:
    with pytest.raises(ValueError, match="1 manager or more"):
        SimSwarm(0, 1)


def test_running_counts_as_docker_service_ls_does() -> None:
    with SimSwarm(1, 2, seed=1) as swarm:
        swarm.docker("service create --name web --replicas 6 nginx")
        swarm.wait_for("service web running 6/6", within=30)
        swarm.docker("service scale web=1")  # the five being stopped no longer count
        assert swarm.running("web") == 1 and swarm.holds("service web running 1/1")
        assert swarm.running("nosuch") == 0


def test_steps_go_on_the_half_second_grid_and_never_on_an_instant_looked_at() -> None:
    with SimSwarm(1, 1, seed=3) as swarm:
        swarm.docker("service create --name web --replicas 2 nginx")  # 0 s, then answered
        swarm.docker("service scale web=3")  # 0 s was looked at: the next half second
        swarm.wait(0.2)  # parked at 0.7 s, not looked at, but off the grid
        swarm.fault("restart worker-1")
        swarm.wait(1.5)  # 2.5 s: on the grid, not looked at (looks fall at .25 and .75)
        swarm.docker("service scale web=1")
        swarm.wait(1.2)  # 3.7 s: parked off the grid
        swarm.docker("service scale web=2")
        steps = swarm.scenario().steps
    assert [s.at for s in steps] == [0.0, 0.5, 1.0, 2.5, 4.0]


def test_a_step_for_an_instant_already_looked_at_is_refused() -> None:
    swarm = SimSwarm(1, 0, seed=1)
    swarm.docker("service create --name web nginx")
    driver: ScenarioRun = swarm._run
    with pytest.raises(ValueError, match="in the past"):
        driver.add(Step(at=0.0, run="service scale web=2"))
    swarm.finish()


def test_a_wait_that_times_out_replays_as_a_failed_wait_even_if_it_held_before() -> None:
    """The condition held before the test waited for it (2/2 until the scale to 0):
    the written 'by' is looked for only from the wait on, as the test did."""
    swarm = SimSwarm(3, 1, seed=5)
    swarm.docker("service create --name web --replicas 2 nginx")
    swarm.wait_for("service web running 2/2", within=30)
    swarm.docker("service scale web=0")
    with pytest.raises(SwarmFailure, match="'service web running 2/2' did not hold within 5s"):
        swarm.wait_for("service web running 2/2", within=5)
    text = swarm.scenario_yaml()
    live = swarm.finish()
    assert "from:" in text
    again = run(parse(text, "written.yml"), 5)
    failed = [(v.text, v.seen) for v in again.verdicts if not v.passed]
    assert failed == [(v.text, v.seen) for v in live.verdicts if not v.passed]
    assert len(failed) == 1 and failed[0][0].startswith("by ") and "from" in failed[0][0]


def test_a_refused_command_raises_in_dockers_words_unless_told_not_to() -> None:
    with SimSwarm(1, 0, seed=1) as swarm:
        with pytest.raises(SwarmFailure, match="service nosuch not found"):
            swarm.docker("service scale nosuch=2")
        assert swarm.docker("service scale nosuch=2", check=False) is False
        assert swarm.docker("service scale nosuch=2", fails=True) is True
        assert swarm.fault("kill nosuch.1") is False  # nothing to kill: the fault misses


def test_a_never_broken_raises_and_its_scenario_fails_the_same_way(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    swarm = SimSwarm(1, 2, seed=2)
    swarm.docker("service create --name web --replicas 4 --constraint node.role==worker nginx")
    swarm.wait_for("service web running 4/4", within=30)
    swarm.never("service web running < 2")
    swarm.fault("crash worker-1", lasting=60)
    with pytest.raises(SwarmFailure, match=r"'never: service web running < 2' broke at"):
        swarm.fault("crash worker-2", lasting=60)
        swarm.wait(60)
    path = tmp_path / "never.yml"
    path.write_text(swarm.scenario_yaml())
    swarm.finish()
    assert main(["sim", "run", str(path), "--no-progress"]) == 2
    out = capsys.readouterr().out
    assert "never from" in out and "FAIL" in out


def test_a_planted_bug_breaks_the_swarm_and_replays_under_shoal_sim_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    swarm = SimSwarm(3, 2, seed=1, mutations=["schedule_on_unavailable_nodes"])
    swarm.docker("node update --availability drain worker-1")
    with pytest.raises(SwarmFailure, match="decisions read a ready node") as raised:
        swarm.docker("service create --name web --replicas 8 nginx")
        swarm.wait(10)
    assert swarm.broken is not None
    path = tmp_path / "planted.yml"
    path.write_text(raised.value.scenario)
    swarm.finish()
    assert main(["sim", "run", str(path), "--no-progress"]) == 2
    assert "decisions read a ready node" in capsys.readouterr().out


def test_play_strikes_a_schedule_at_its_instants_from_the_next_one() -> None:
    schedule = [
        TimedFault(0.0, "isolate worker-1", 5.0),
        TimedFault(0.0, "restart worker-2"),  # the same instant: half a second later
        TimedFault(7.5, "crash manager-3", 2.0),
    ]
    with SimSwarm(3, 2, seed=4) as swarm:
        swarm.wait(0.3)
        swarm.play(schedule)
        steps = swarm.scenario().steps
    assert [(s.at, s.fault, s.duration) for s in steps] == [
        (0.5, "isolate worker-1", 5.0),
        (1.0, "restart worker-2", None),
        (8.0, "crash manager-3", 2.0),
    ]
