"""Calibration files: read, written back equal, mistakes named; and what they change."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main
from cli.scenario.runner import run
from cli.scenario.schema import parse as parse_scenario
from sim.calibration import (
    DEFAULT_PATH,
    Calibration,
    CalibrationError,
    default,
    dump,
    load,
    parse,
)
from sim.dataplane import FREE, DataplaneModel
from sim.dockerd import IDEAL, EngineModel, OpCost
from sim.executor import ImageBehaviour
from sim.network import LinkModel

MEASURED = Calibration(
    engine=EngineModel(
        create=OpCost(latency=0.01, cpu=0.05),
        start=OpCost(latency=0.02, cpu=0.08),
        stop=OpCost(latency=0.003, cpu=0.04),
        remove=OpCost(latency=0.001, cpu=0.03),
    ),
    dataplane=DataplaneModel(
        program=OpCost(latency=0.02, cpu=0.03),
        network=OpCost(latency=0.1, cpu=0.2),
        attach=OpCost(cpu=0.01),
    ),
    cores=2.0,
    link=LinkModel(latency_min=0.00004, latency_mean_extra=0.00002),
    images={"local/busybox:1": ImageBehaviour(pull_seconds=0, start_seconds=0, stop_signals=())},
    measured={"by": "a test", "cpus": 2},
)

SIXTY = """
name: sixty
cluster: {managers: 1, workers: 2}
steps:
  - {at: 0s, run: service create --name web --replicas 60 local/busybox:1}
expect:
  by:
    - {at: 60s, check: service web running 60/60}
duration: 60s
"""


def test_a_calibration_is_written_back_equal() -> None:
    import yaml

    assert parse(yaml.safe_load(dump(MEASURED, "a comment\nof two lines"))) == MEASURED


def test_a_calibration_from_before_the_data_plane_was_measured_programs_for_free() -> None:
    assert parse({"cores": 2}).dataplane == FREE


def test_the_default_is_a_measured_calibration() -> None:
    calibration = default()
    assert calibration == load(DEFAULT_PATH)
    assert calibration.measured["by"] == "shoal real calibrate"
    assert calibration.engine.start.cpu > 0 and calibration.engine.create.cpu > 0
    assert calibration.dataplane.program.cpu > 0 and calibration.dataplane.network.cpu > 0
    assert not calibration.one_machine
    assert calibration.engine_model().shared_cores == 0
    assert calibration.on_one_machine().engine_model().shared_cores == calibration.cores


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("engine: {start: {cpu: -1}}", "engine.start.cpu: not negative"),
        ("engine: {start: {cpu: fast}}", "engine.start.cpu: a number"),
        ("engine: {restart: {cpu: 1}}", "engine: unknown field 'restart'"),
        ("engine: {concurrency: 0}", "engine.concurrency: a whole number"),
        ("cores: 0", "cores: more than 0"),
        ("network: {latency: 1}", "network: unknown field 'latency'"),
        ("dataplane: {attach: {cpu: -0.1}}", "dataplane.attach.cpu: not negative"),
        ("dataplane: {detach: {cpu: 1}}", "dataplane: unknown field 'detach'"),
        ("images: {x: {stop_signals: [SIGNOPE]}}", "images.x.stop_signals: not signals"),
        ("[1, 2]", "a mapping"),
        ("engine: [", "not YAML"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "c.yml"
    path.write_text(text)
    with pytest.raises(CalibrationError, match=named.replace("(", r"\(")):
        load(path)


def test_a_bad_calibration_on_the_command_line_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("engine: {start: {cpu: -1}}")
    code = main(["sim", "run", "scenarios/worker-crash.yml", "--calibration", str(bad)])
    assert code == 1
    assert "bad.yml: engine.start.cpu: not negative" in capsys.readouterr().err
    code = main(["sim", "run", "scenarios/worker-crash.yml", "--calibration", str(tmp_path / "no")])
    assert code == 1
    assert "cannot read it" in capsys.readouterr().err


def converged_at(calibration: Calibration) -> float:
    report = run(parse_scenario(SIXTY, "sixty.yml"), 1, calibration=calibration)
    (verdict,) = [v for v in report.verdicts if v.text.startswith("by ")]
    assert verdict.passed and verdict.when is not None
    return verdict.when


def test_dockerds_on_one_machine_converge_later_than_on_hosts_of_their_own() -> None:
    ideal = converged_at(Calibration(engine=IDEAL))
    own = converged_at(MEASURED)
    shared = converged_at(MEASURED.on_one_machine())
    # 60 starts of ~0.16 s of dockerd each, over 3 hosts: ~3.2 s one after another on
    # each host; sharing 2 cores among 3 dockerds makes them half as fast again
    assert ideal <= 1.5
    assert 2.5 <= own <= 5.0
    assert shared >= own * 1.3
