"""``shoal sim raft``: mutations caught with a replay that reproduces them,
determinism across processes and hash seeds, traces, and usage errors."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import EXIT_USER_ERROR, main
from cli.sim_raft import EXIT_SAFETY, replay_command, with_defaults, world_config
from core.raft.config import Mutations

REPO = Path(__file__).parents[2]


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    status = main([*argv, "--json"])
    return status, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("mutation", sorted(Mutations.__dataclass_fields__))
def test_each_mutation_is_caught_and_its_replay_reproduces_it(
    mutation: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = ["sim", "raft", "--seeds", "1..12", "--swarm", "--fail-fast", "--mutation", mutation]
    status, report = run_json(sweep, capsys)
    caught = [f for f in report["failures"] if f["violation"]]
    assert status == EXIT_SAFETY and caught, f"{mutation} survived 12 seeds: {report}"
    first = caught[0]
    replay = shlex.split(first["replay"])
    assert replay[:3] == ["shoal", "sim", "raft"]
    status, again = run_json(replay[1:], capsys)
    assert status == EXIT_SAFETY
    assert again["violation"] == first["violation"]


def test_a_clean_run_passes_and_reports_what_happened(capsys: pytest.CaptureFixture[str]) -> None:
    status, report = run_json(["sim", "raft", "--seed", "5", "--duration", "2m"], capsys)
    assert status == 0 and report["ok"]
    assert report["elections"] >= 1 and report["max_term"] >= 2
    assert sum(report["faults"].values()) >= 12  # one per 10 s of the 2-minute phase
    assert report["violation"] is None and report["liveness_failure"] is None


def test_a_timeline_replaces_the_random_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    timeline = "20s:crash-leader:8s,40s:majorities-ring:10s,1m:clock-strobe:5s"
    argv = ["sim", "raft", "--seed", "2", "--duration", "90s", "--timeline", timeline]
    status, report = run_json(argv, capsys)
    assert status == 0 and report["ok"]
    assert report["faults"] == {"clock-strobe": 1, "crash-leader": 1, "majorities-ring": 1}
    assert report["largest_fault_gap_s"] == 30.0  # the last start to the phase's end
    assert report["wall_clock_steps"] >= 5
    assert "--timeline" not in replay_command(with_defaults(), 2)
    assert "--timeline" not in replay_command(with_defaults(timeline=()), 2)
    parsed = with_defaults(
        timeline=((20.0, "crash-leader", 8.0), (60.0, "clock-strobe", 5.0)), duration=90.0
    )
    assert world_config(parsed).nemeses == ()
    assert replay_command(parsed, 2) == (
        "shoal sim raft --managers 5 --duration 1m30s --nemesis none "
        "--timeline 20s:crash-leader:8s,1m0s:clock-strobe:5s --seed 2"
    )


def sim_hash(seed: int, hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    argv = ["sim", "raft", "--seed", str(seed), "--duration", "2m", "--swarm", "--json"]
    code = f"import sys; from cli.main import main; sys.exit(main({argv!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)["trace_hash"]


def test_same_seed_same_trace_hash_in_fresh_processes_under_any_hash_seed() -> None:
    hashes = {sim_hash(7, hash_seed) for hash_seed in ("0", "1", "2")}
    assert len(hashes) == 1
    assert sim_hash(8, "0") not in hashes


def test_trace_file_hashes_to_the_reported_trace_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.jsonl"
    status, report = run_json(
        ["sim", "raft", "--seed", "3", "--duration", "1m", "--trace", str(path)], capsys
    )
    assert status == 0
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == report["trace_hash"]
    events = [json.loads(line) for line in data.splitlines()]
    assert events[0]["kind"] == "config" and events[-1]["kind"] == "end"
    assert {"role", "fault", "liveness-phase"} <= {e["kind"] for e in events}
    times = [e["t"] for e in events]
    assert times == sorted(times)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--nemesis", "flood"], "unknown nemesis flood"),
        (["--duration", "5x"], 'unknown unit "x" in duration "5x"'),
        (["--duration", "0s"], "duration must be positive"),
        (["--seeds", "9..3"], "empty seed range '9..3'"),
        (["--seeds", "a..b"], "seeds must look like 1..200"),
        (["--managers", "0"], "must be at least 1, not 0"),
        (["--seeds", "1..2", "--trace", "t.jsonl"], "--trace records one run"),
        (["--trace", "/nonexistent/dir/t.jsonl"], "cannot write the trace"),
        (["--election-ticks", "1"], "RaftConfig.election_ticks"),
        (["--mutation", "be_evil"], "invalid choice: 'be_evil'"),
        (["--timeline", "5s:flood:1s"], "unknown nemesis flood in the timeline"),
        (["--timeline", "5s-pause-1s"], "timeline steps look like 30s:crash-leader:10s"),
        (["--timeline", "30s:pause:5s"], "outside the 10s safety phase"),
        (["--timeline", "5s:pause:1s", "--nemesis", "pause"], "one fault schedule"),
    ],
)
def test_usage_mistakes_exit_1_and_name_the_problem(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        status = main(["sim", "raft", "--duration", "10s", *argv])
    except SystemExit as exit_:
        status = exit_.code
    assert status == EXIT_USER_ERROR
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err
