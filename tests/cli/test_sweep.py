"""``shoal sim sweep`` end to end: the same seeds give the same records and summary
on one or two local workers and on a Dask cluster; the JSONL reads into pandas; a
planted bug's failing seeds are listed with replay commands that reproduce them; a
planted nondeterminism is caught; mistakes are one line and exit 1; Ctrl-C leaves
no worker behind."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.main import main
from cli.sweep.chunk import run_chunk
from cli.sweep.plan import Chunk
from cli.sweep.record import Record

ROOT = Path(__file__).resolve().parents[2]

#: Three managers and a worker, the leader cut off for 15 s, with a planted scheduler
#: bug (tasks placed on nodes that are down) that breaks the task invariants on
#: some seeds only (4 and 17 of 1..24).
PLANTED = """
name: short sweep
cluster: {managers: 3, workers: 1}
steps:
  - {at: 0s, run: service create --name web --replicas 2 nginx}
  - {at: 10s, fault: isolate leader, for: 15s}
expect:
  always: [raft safety, task invariants]
  by:
    - {at: 45s, check: service web running 2/2}
duration: 45s
mutations: [schedule_on_unavailable_nodes]
"""
FAILING = [4, 17]
SEEDS = "1..24"
COLUMNS = [
    "seed",
    "passed",
    "trace_hash",
    "failed",
    "verdicts",
    "converged_s",
    "elections",
    "leader_changes",
    "leaderless_s",
    "downtime_s.web",
    "max_outage_s.web",
    "error",
    "wall_s",
]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sweep") / "short sweep.yml"
    path.write_text(PLANTED)
    return path


@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[str]:
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    try:
        yield str(cluster.scheduler_address)
    finally:
        cluster.close()


def sweep(
    capsys: pytest.CaptureFixture[str], scenario: Path, results: Path, *flags: str
) -> tuple[int, str, str]:
    argv = ["sim", "sweep", str(scenario), "--seeds", SEEDS, "--results", str(results)]
    status = main([*argv, "--determinism", "0.25", *flags])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def without_wall_time(path: Path) -> list[Record]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        del record["wall_s"]
    return records


def test_one_or_two_local_workers_or_dask_give_the_same_records_and_summary(
    capsys: pytest.CaptureFixture[str], scenario: Path, tmp_path: Path, dask_scheduler: str
) -> None:
    results = tmp_path / "results.jsonl"
    outputs, records = {}, {}
    for name, flags in {
        "1 local": ("--workers", "1"),
        "2 local": ("--workers", "2", "--chunk", "1"),
        "dask": ("--scheduler", dask_scheduler),
    }.items():
        status, out, _ = sweep(capsys, scenario, results, *flags)
        assert status == 2, out
        *summary, speed = out.splitlines()
        assert speed.startswith("throughput: 30 runs (24 seeds and 6 re-runs)")
        outputs[name], records[name] = summary, without_wall_time(results)
    assert outputs["1 local"] == outputs["2 local"] == outputs["dask"]
    assert records["1 local"] == records["2 local"] == records["dask"]
    assert [r["seed"] for r in records["dask"]] == list(range(1, 25))
    assert "2 Dask worker threads" in speed
    text = "\n".join(outputs["dask"])
    assert "short sweep (" in text and "24 runs, 22 passed, 2 failed" in text
    assert "determinism: 6 seeds (25%) run again in tasks of their own gave the same" in text
    assert f"results: {results} (24 lines, one per seed)" in text


def test_the_summary_as_json_is_the_same_but_for_the_throughput(
    capsys: pytest.CaptureFixture[str], scenario: Path, tmp_path: Path
) -> None:
    results = tmp_path / "results.jsonl"
    one = json.loads(sweep(capsys, scenario, results, "--workers", "1", "--format", "json")[1])
    two = json.loads(sweep(capsys, scenario, results, "--workers", "2", "--format", "json")[1])
    assert one.pop("throughput")["workers"] == "1 local worker"
    assert two.pop("throughput")["workers"] == "2 local workers"
    assert one == two
    assert (one["runs"], one["passed"], one["failed"]) == (24, 22, 2)
    assert [f["seed"] for f in one["failing"]] == FAILING
    assert one["determinism"]["checked"] == 6 and one["determinism"]["held"]
    assert [m["measure"] for m in one["measures"]][:4] == [
        "converged_s",
        "elections",
        "leader_changes",
        "leaderless_s",
    ]


#: Reads the results as a user would, in a process of its own: pandas' C extensions
#: check datetime's layout when imported, and the suite's rule-1 trap has replaced it.
READ_WITH_PANDAS = """
import json, sys
import pandas
frame = pandas.read_json(sys.argv[1], lines=True)
print(json.dumps({
    "columns": list(frame.columns),
    "seeds": [int(s) for s in frame["seed"]],
    "passed_dtype": str(frame["passed"].dtype),
    "failing": [int(s) for s in frame.loc[~frame["passed"], "seed"]],
    "failed_4": frame.set_index("seed").loc[4, "failed"],
    "verdicts_1": frame.loc[0, "verdicts"],
    "hashes_64": bool(frame["trace_hash"].str.len().eq(64).all()),
    "no_errors": bool(frame["error"].isna().all()),
    "walls_positive": bool((frame["wall_s"] > 0).all()),
    "elections_dtype": str(frame["elections"].dtype),
}))
"""


def test_the_results_read_into_pandas_one_row_per_seed(
    capsys: pytest.CaptureFixture[str], scenario: Path, tmp_path: Path
) -> None:
    results = tmp_path / "results.jsonl"
    plot = tmp_path / "sweep.png"
    sweep(capsys, scenario, results, "--workers", "2", "--plot", str(plot))
    read = subprocess.run(
        [sys.executable, "-c", READ_WITH_PANDAS, str(results)],
        capture_output=True,
        text=True,
        check=True,
    )
    frame = json.loads(read.stdout)
    assert frame["columns"] == COLUMNS
    assert frame["seeds"] == list(range(1, 25))
    assert frame["passed_dtype"] == "bool" and frame["elections_dtype"] == "int64"
    assert frame["failing"] == FAILING
    assert [f["expectation"] for f in frame["failed_4"]] == ["always: task invariants"]
    assert frame["verdicts_1"] == {
        "always: raft safety": True,
        "always: task invariants": True,
        "by 45s: service web running 2/2": True,
    }
    assert frame["hashes_64"] and frame["no_errors"] and frame["walls_positive"]
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_each_failing_seed_is_listed_with_a_replay_that_reproduces_it(
    capsys: pytest.CaptureFixture[str],
    scenario: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    status, out, _ = sweep(capsys, scenario, tmp_path / "r.jsonl", "--workers", "2")
    assert status == 2
    replays = [line.split("#")[0].strip() for line in out.splitlines() if "--seed" in line]
    assert len(replays) == len(FAILING)
    assert f"{len(FAILING)} failing seeds; replay one with its command:" in out
    monkeypatch.chdir(tmp_path)
    for seed, command in zip(FAILING, replays, strict=True):
        words = shlex.split(command)
        assert words[:3] == ["shoal", "sim", "run"] and words[3] == str(scenario)
        assert words[4:] == ["--seed", str(seed), "--trace", "run.jsonl"]
        assert main([*words[1:], "--no-progress"]) == 2
        replayed = capsys.readouterr().out
        assert "always: task invariants" in replayed and "FAIL" in replayed
        assert (tmp_path / "run.jsonl").stat().st_size > 0


def planted_nondeterminism(chunk: Chunk) -> list[Record]:
    """A worker whose second run of a seed gives another trace hash (run in the
    worker processes: it is found there by its module's name)."""
    records = run_chunk(chunk)
    if chunk.second:
        for record in records:
            record["trace_hash"] = "0" * 64
    return records


def test_a_seed_whose_second_run_differs_breaks_the_determinism_check(
    scenario: Path, tmp_path: Path
) -> None:
    from argparse import Namespace
    from io import StringIO

    from cli import sim_sweep

    args = Namespace(
        file=str(scenario),
        seeds="5..12",  # all pass
        workers=2,
        scheduler=None,
        chunk=None,
        determinism=0.25,
        results=str(tmp_path / "r.jsonl"),
        plot=None,
        format="table",
        no_progress=True,
        connect_timeout=5.0,
        calibration=None,
        one_machine=False,
    )
    out, err = StringIO(), StringIO()
    assert sim_sweep.main(args, out, err, work=planted_nondeterminism) == 2
    text = out.getvalue()
    assert "8 runs, 8 passed, 0 failed" in text
    assert "DETERMINISM BROKEN: 2 of 2 seeds run twice gave different runs:" in text
    first = {r["seed"]: r["trace_hash"] for r in without_wall_time(tmp_path / "r.jsonl")}
    broken = [line.split() for line in text.splitlines() if line.startswith("  seed ")]
    assert len(broken) == 2
    for words in broken:
        seed = int(words[1].rstrip(":"))
        assert words[4:] == [first[seed], "then", "0" * 64]
        assert f"determinism broken: seed {seed} gave trace hash {first[seed]}" in err.getvalue()
    # the same sweep, honest, passes
    out = StringIO()
    assert sim_sweep.main(args, out, StringIO()) == 0
    assert "DETERMINISM" not in out.getvalue()


def dies_on_seed_6(chunk: Chunk) -> list[Record]:
    """A worker that dies (as one killed by the kernel for memory would)."""
    if 6 in chunk.seeds:
        os._exit(9)
    return run_chunk(chunk)


def test_a_worker_that_dies_stops_the_sweep_with_one_line(scenario: Path, tmp_path: Path) -> None:
    from argparse import Namespace
    from io import StringIO

    from cli import sim_sweep
    from core.errors import ShoalError

    args = Namespace(
        file=str(scenario),
        seeds="5..8",
        workers=2,
        scheduler=None,
        chunk=1,
        determinism=0.0,
        results=str(tmp_path / "r.jsonl"),
        plot=None,
        format="table",
        no_progress=True,
        connect_timeout=5.0,
        calibration=None,
        one_machine=False,
    )
    died = r"^a local worker process died \(killed, or out of memory\?\)"
    with pytest.raises(ShoalError, match=died):
        sim_sweep.main(args, StringIO(), StringIO(), work=dies_on_seed_6)


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("flags", "error"),
    [
        (["--seeds", "9..1"], "Error: --seeds: empty seed range '9..1'"),
        (["--seeds", "a..b"], "Error: --seeds: seeds must look like 1..200, not 'a..b'"),
        (["--seeds", "1..2", "--workers", "0"], "Error: --workers must be at least 1, not 0"),
        (["--seeds", "1..2", "--determinism", "2"], "Error: --determinism is a share of"),
        (["--seeds", "1..2", "--plot", "x.svg"], "Error: --plot writes a PNG"),
        (["--seeds", "1..2", "--results", "/nonexistent/r.jsonl"], "Error: cannot write the"),
    ],
)
def test_mistakes_in_the_command_line_are_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], scenario: Path, flags: list[str], error: str
) -> None:
    assert main(["sim", "sweep", str(scenario), *flags]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(error) and captured.err.count("\n") == 1, captured.err


def test_an_unreadable_or_wrong_scenario_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["sim", "sweep", str(tmp_path / "none.yml"), "--seeds", "1..2"]) == 1
    assert capsys.readouterr().err == (
        f"Error: {tmp_path / 'none.yml'}: cannot be read: No such file or directory\n"
    )
    wrong = tmp_path / "wrong.yml"
    wrong.write_text(PLANTED.replace("running 2/2", "runing 2/2"))
    assert main(["sim", "sweep", str(wrong), "--seeds", "1..2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"Error: {wrong}:10: expect: ") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        # "after 1 s": --connect-timeout reached Dask (its own default is 30 s)
        (
            "tcp://127.0.0.1:{port}",
            "Timed out trying to connect to tcp://127.0.0.1:{port} after 1 s",
        ),
        ("nonsense", "missing port number in address 'nonsense'"),
        ("tcp://nohost.invalid:8786", ""),
    ],
)
def test_an_unreachable_scheduler_is_one_line_and_exit_1_in_bounded_time(
    scenario: Path, address: str, reason: str
) -> None:
    """In a process of its own: what a user sees is all its stderr, to its exit."""
    port = unused_port()
    address = address.format(port=port)
    command = [sys.executable, "-m", "cli.main", "sim", "sweep", str(scenario), "--seeds", "1..2"]
    command += ["--scheduler", address, "--connect-timeout", "1"]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,  # a hang guard only: the timeout honoured shows in the reason
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(f"Error: cannot reach the Dask scheduler at {address}: ")
    assert done.stderr.count("\n") == 1, done.stderr
    assert reason.format(port=port) in done.stderr


def start_sweep(scenario: Path, tmp_path: Path) -> tuple[subprocess.Popen[str], list[Any]]:
    """A long sweep on 2 local workers, in a process group of its own (as a terminal's
    job is), once its workers run; the workers."""
    import psutil

    command = [sys.executable, "-m", "cli.main", "sim", "sweep", str(scenario)]
    command += ["--seeds", "1..5000", "--workers", "2", "--results", str(tmp_path / "r.jsonl")]
    command += ["--chunk", "500"]  # a chunk takes 2.5 min or more: they must stop mid-chunk
    sweeping = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
        start_new_session=True,
    )
    parent = psutil.Process(sweeping.pid)
    deadline = time.monotonic() + 60
    workers: list[Any] = []
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        workers = [p for p in parent.children() if "spawn_main" in " ".join(p.cmdline())]
    assert len(workers) == 2
    time.sleep(1.0)  # they are running seeds (or still booting: either must stop)
    return sweeping, workers


def test_ctrl_c_stops_the_workers_and_exits_130(scenario: Path, tmp_path: Path) -> None:
    import psutil

    sweeping, workers = start_sweep(scenario, tmp_path)
    try:
        os.killpg(sweeping.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the group
        # a hang guard, well short of a chunk (500 seeds at 0.3 s of CPU or more each),
        # and long enough for a machine loaded by other tests (30 s was not, in CI)
        out, err = sweeping.communicate(timeout=90)
    finally:
        if sweeping.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(sweeping.pid, signal.SIGKILL)
    assert sweeping.returncode == 130
    assert "Traceback" not in err and out == ""
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert alive == []


def test_workers_whose_sweep_was_killed_exit(scenario: Path, tmp_path: Path) -> None:
    import psutil

    sweeping, workers = start_sweep(scenario, tmp_path)
    try:
        sweeping.kill()  # the parent alone, with no chance to stop them
        sweeping.communicate(timeout=90)
        _, alive = psutil.wait_procs(workers, timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):  # whatever is left of the group
            os.killpg(sweeping.pid, signal.SIGKILL)
    assert alive == []


def test_a_calibration_reaches_the_workers_and_the_replays(
    capsys: pytest.CaptureFixture[str], scenario: Path, tmp_path: Path
) -> None:
    slow = tmp_path / "slow dockerd.yml"
    slow.write_text("engine: {create: {cpu: 0.4}, start: {latency: 0.1, cpu: 0.6}}\n")
    flags = ("--calibration", str(slow), "--one-machine")
    status, out, _ = sweep(capsys, scenario, tmp_path / "c.jsonl", "--workers", "2", *flags)
    calibrated = without_wall_time(tmp_path / "c.jsonl")
    sweep(capsys, scenario, tmp_path / "d.jsonl", "--workers", "2")
    plain = without_wall_time(tmp_path / "d.jsonl")
    assert all(c["trace_hash"] != p["trace_hash"] for c, p in zip(calibrated, plain, strict=True))
    failing = [r for r in calibrated if not r["passed"]]
    assert status == 2 and failing  # the planted mutation still fails some seeds
    replays = [line.split("#")[0].strip() for line in out.splitlines() if "--seed " in line]
    assert replays[0] == (
        f"shoal sim run {shlex.quote(str(scenario))} --seed {failing[0]['seed']} "
        f"--calibration {shlex.quote(str(slow))} --one-machine --trace run.jsonl"
    )
    words = shlex.split(replays[0])[1:-2]
    assert main([*words, "--format", "json"]) == 2
    assert json.loads(capsys.readouterr().out)["trace_hash"] == failing[0]["trace_hash"]


def test_strict_codec_runs_every_message_as_bytes_to_the_same_traces_and_replays_so(
    capsys: pytest.CaptureFixture[str], scenario: Path, tmp_path: Path
) -> None:
    """Messages passed as values (the default) and as bytes through the codec
    (``--strict-codec``) make the same runs, seed by seed; the replays keep the flag."""
    status, out, _ = sweep(
        capsys, scenario, tmp_path / "s.jsonl", "--workers", "2", "--strict-codec"
    )
    strict = without_wall_time(tmp_path / "s.jsonl")
    sweep(capsys, scenario, tmp_path / "v.jsonl", "--workers", "2")
    assert strict == without_wall_time(tmp_path / "v.jsonl")
    failing = [r for r in strict if not r["passed"]]
    assert status == 2 and failing
    replays = [line.split("#")[0].strip() for line in out.splitlines() if "--seed " in line]
    assert replays[0].endswith(f"--seed {failing[0]['seed']} --strict-codec --trace run.jsonl")
