"""A scenario written back as YAML reads back equal: every shipped scenario, and
times down to the millisecond."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import pytest

from cli.scenario.schema import Expectation, Scenario, ScenarioError, Step, load, parse
from cli.scenario.writing import dump, seconds
from core.model.duration import parse_duration
from sim.executor import ImageBehaviour
from sim.network import LinkModel

SCENARIOS = sorted(Path(__file__).resolve().parents[2].joinpath("scenarios").glob("*.yml"))


def _without_positions(scenario: Scenario) -> Scenario:
    return replace(
        scenario,
        path="",
        steps=tuple(replace(s, line=None) for s in scenario.steps),
        expectations=tuple(replace(e, line=None) for e in scenario.expectations),
    )


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_shipped_scenario_reads_back_equal(path: Path) -> None:
    scenario = load(path)
    again = parse(dump(scenario), "again.yml")
    assert _without_positions(again) == _without_positions(scenario)


def test_the_shipped_scenarios_use_what_the_writer_writes() -> None:
    """The round trip above covers steps with every field and every expectation kind."""
    steps = [s for p in SCENARIOS for s in load(p).steps]
    kinds = {e.kind for p in SCENARIOS for e in load(p).expectations}
    assert {"always", "by", "at"} <= kinds
    for name in ("run", "fault", "duration", "on", "fails"):
        assert any(getattr(s, name) for s in steps), name
    assert any(load(p).images for p in SCENARIOS) and any(load(p).files for p in SCENARIOS)
    assert any(load(p).spare for p in SCENARIOS)


@pytest.mark.parametrize("value", [0.0, 0.5, 1.0, 36.5, 0.001, 59.999, 1234567.5, 2.125])
def test_seconds_read_back_to_the_same_float(value: float) -> None:
    assert parse_duration(seconds(value)) / 1e9 == value


@pytest.mark.parametrize("value", [0.0005, -2.5, 1.0001])
def test_seconds_negative_or_finer_than_a_millisecond_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="negative or finer than a millisecond"):
        seconds(value)


def test_a_built_scenario_round_trips() -> None:
    scenario = Scenario(
        path="built",
        name="built: with a colon",
        seed=42,
        managers=1,
        workers=2,
        hosts=(("manager-1", True), ("worker-1", False), ("db-1", False)),
        resources={"db-1": (8, 16 * 2**30)},
        labels={"worker-1": {"rack": "a", "zone": "x y"}},
        images={"app:bad": ImageBehaviour(exit_after=1.0, exit_code=3, stop_signals=("SIGUSR1",))},
        link=LinkModel(loss=0.01, latency_min=0.002),
        steps=(
            Step(at=0.0, run="service create --name 'a b' nginx"),
            Step(at=1.5, fault="isolate worker-1", duration=2.25),
            Step(at=3.0, run="service scale web=2", on="db-1", fails=True),
        ),
        expectations=(
            Expectation("always", "raft safety"),
            Expectation("by", "service web running 2/2", at=20.5),
            Expectation("by", "services converged", at=25.0, start=3.5),
            Expectation("never", "service web running < 1", start=2.0, until=9.0),
            Expectation("never", "no leader"),
            Expectation("measure", "max downtime of service web < 10s", until=29.0),
        ),
        duration=30.0,
        mutations=("ignore_constraints",),
        files={"pw.txt": "s3cret\n"},
    )
    again = parse(dump(scenario), "built")
    assert _without_positions(again) == _without_positions(scenario)


def test_a_by_from_after_its_deadline_is_the_files_mistake() -> None:
    source = "expect:\n  by:\n    - {at: 10s, from: 12s, check: services converged}\n"
    with pytest.raises(ScenarioError, match=r"x.yml:3: expect.by\[0\].from: from 12s is after"):
        parse(source, "x.yml")


def test_only_a_by_says_from_when() -> None:
    source = "expect:\n  at:\n    - {at: 10s, from: 2s, check: services converged}\n"
    with pytest.raises(ScenarioError, match="unknown field"):
        parse(source, "x.yml")


def test_the_writer_knows_every_field_of_a_scenario() -> None:
    """A field added to Scenario must be written too (or this test names it)."""
    written = {"path", "name", "seed", "managers", "workers", "hosts", "resources", "labels"}
    written |= {"spare", "images", "link", "steps", "expectations", "duration", "mutations"}
    assert {f.name for f in fields(Scenario)} == written | {"files"}
