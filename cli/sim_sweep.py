"""``shoal sim sweep FILE --seeds 1..100000``: a scenario run once per seed, the
seeds spread over local worker processes (``--workers``, default one per CPU) or a
Dask cluster (``--scheduler tcp://HOST:8786``), in chunks.

Prints a summary: each expectation's pass rate, the distribution of each measure
(convergence time, elections, leader changes, time without a leader, each
service's downtime and longest outage), the failing seeds with the command that
replays each, and the determinism check (a sample of the seeds, ``--determinism``,
run a second time in tasks of their own, must give the same trace hash, verdicts
and measures). The summary is the same whichever workers ran the seeds; how fast
they ran is its last line. ``--results FILE`` gets one JSONL line per seed (default
``<scenario>.sweep.jsonl`` here; see cli/sweep/record.py for its columns).

Exit status 0 when every run passed and the check held, 2 when a run failed an
expectation or two runs of a seed differed, 1 for a mistake in the command line or
the file (or a scheduler out of reach), 130 when stopped by Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from cli import calibration_flags
from cli.calibration_flags import Choice
from cli.commands.flags import UsageError
from cli.scenario.runner import conditions
from cli.scenario.schema import load
from cli.sim_raft import seed_range
from cli.sweep import plan, summary
from cli.sweep.chunk import run_chunk
from cli.sweep.local import LocalWorkers, Work
from cli.sweep.on_dask import CONNECT_TIMEOUT_S, DaskWorkers
from cli.sweep.recheck import Determinism, compare
from cli.sweep.record import Record, write

EXIT_FAILED = 2
DETERMINISM_DEFAULT = 0.05
SEEDS_MAX = 10_000_000
Progress = Callable[[int, int, int, int], None]  # seeds done, passed, failed, re-runs done


def add_parser(sim: Any) -> None:
    parser = sim.add_parser(
        "sweep",
        help="run a scenario over many seeds in parallel and summarize the runs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help="the scenario (YAML)")
    parser.add_argument("--seeds", required=True, help="the seeds, e.g. 1..100000")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="local worker processes (default: one per CPU)")
    where.add_argument(
        "--scheduler", metavar="ADDRESS", help="a Dask scheduler to run on, tcp://HOST:8786"
    )
    parser.add_argument(
        "--chunk", type=int, help="seeds per task (default: about 16 tasks per worker, at most 20)"
    )
    parser.add_argument(
        "--determinism",
        type=float,
        default=DETERMINISM_DEFAULT,
        metavar="FRACTION",
        help=f"share of the seeds run twice and compared (default {DETERMINISM_DEFAULT}; 0: none)",
    )
    parser.add_argument(
        "--results",
        metavar="FILE",
        help="JSONL, one line per seed (default <scenario>.sweep.jsonl)",
    )
    parser.add_argument("--plot", metavar="FILE.png", help="draw the distributions here")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    calibration_flags.add_arguments(parser)
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=CONNECT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"how long to try the Dask scheduler (default {CONNECT_TIMEOUT_S:g})",
    )


@dataclass(frozen=True)
class Outcome:
    records: list[Record]  # the first runs, in seed order
    determinism: Determinism
    runs: int  # first runs and re-runs
    wall_s: float
    workers: str  # what ran them


def sweep(
    source: str,
    path: str,
    seeds: range,
    workers: LocalWorkers | DaskWorkers,
    *,
    fraction: float = DETERMINISM_DEFAULT,
    chunk: int | None = None,
    work: Work = run_chunk,
    progress: Progress | None = None,
    calibration: Choice | None = None,
) -> Outcome:
    """Every seed run once, and the sample run again, on ``workers``; ``work`` runs
    a chunk (a test hands in one that misbehaves)."""
    size = chunk or plan.chunk_size(len(seeds), workers.count)
    again = plan.sample(seeds, fraction)
    tasks = plan.interleave(
        plan.chunks(source, path, seeds, size, calibration=calibration),
        # the last seeds' re-runs go out first: a re-run seldom follows its first run
        plan.chunks(source, path, again[::-1], size, second=True, calibration=calibration),
    )
    first: dict[int, Record] = {}
    second: dict[int, Record] = {}
    passed = failed = 0
    started = time.perf_counter()
    for index, records in workers.run(work, tasks):
        if tasks[index].second:
            second.update((r["seed"], r) for r in records)
        else:
            first.update((r["seed"], r) for r in records)
            done = sum(r["passed"] for r in records)
            passed, failed = passed + done, failed + len(records) - done
        if progress is not None:
            progress(len(records) if not tasks[index].second else 0, passed, failed, len(second))
    wall = time.perf_counter() - started
    return Outcome(
        records=[first[seed] for seed in seeds],
        determinism=compare(fraction, first, second),
        runs=len(first) + len(second),
        wall_s=wall,
        workers=workers.description,
    )


def parse_seeds(text: str) -> range:
    try:
        seeds = seed_range(text)
    except argparse.ArgumentTypeError as error:
        raise UsageError(f"--seeds: {error}") from None
    if len(seeds) > SEEDS_MAX:
        raise UsageError(f"--seeds: at most {SEEDS_MAX:,} seeds in one sweep, not {len(seeds):,}")
    return seeds


def check(args: Any) -> range:
    """The command line's mistakes, before anything runs; the seeds."""
    seeds = parse_seeds(args.seeds)
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, not {args.workers}")
    if args.chunk is not None and args.chunk < 1:
        raise UsageError(f"--chunk must be at least 1, not {args.chunk}")
    if not 0 <= args.determinism <= 1:
        raise UsageError(f"--determinism is a share of the seeds, 0 to 1, not {args.determinism}")
    if args.connect_timeout <= 0:
        raise UsageError(f"--connect-timeout must be positive, not {args.connect_timeout}")
    if args.plot:
        from cli.sweep.plot import check_path

        check_path(args.plot)
    folder = Path(results_path(args)).parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write the results in {folder}: not a writable directory")
    return seeds


def results_path(args: Any) -> str:
    return str(args.results or f"{Path(args.file).stem}.sweep.jsonl")


def main(
    args: Any,
    out: TextIO | None = None,
    err: TextIO | None = None,
    work: Work = run_chunk,
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    seeds = check(args)
    scenario = load(args.file)  # the file's mistakes, with their lines, before any run
    conditions(scenario)
    asked = args.calibration or args.one_machine or getattr(args, "strict_codec", False)
    calibration = calibration_flags.choice(args) if asked else None
    source = Path(args.file).read_text(encoding="utf-8")
    workers: LocalWorkers | DaskWorkers
    if args.scheduler:
        workers = DaskWorkers(args.scheduler, args.connect_timeout)
    else:
        workers = LocalWorkers(args.workers or usable_cpus())
    show = not args.no_progress and err.isatty()
    with workers, _bar(len(seeds), err, show) as progress:
        outcome = sweep(
            source,
            args.file,
            seeds,
            workers,
            fraction=args.determinism,
            chunk=args.chunk,
            work=work,
            progress=progress,
            calibration=calibration,
        )
    results = results_path(args)
    write(outcome.records, results)
    result = summary.summarize(
        scenario=scenario.name,
        path=args.file,
        seeds=seeds,
        records=outcome.records,
        determinism=outcome.determinism,
        results=results,
        flags=calibration_flags.replay_flags(args),
    )
    if args.plot:
        from cli.sweep.plot import draw

        draw(scenario.name, outcome.records, result, args.plot)
    speed = throughput(outcome, len(seeds))
    if args.format == "json":
        print(summary.as_json({**result, "throughput": speed}), file=out)
    else:
        print(summary.text(result), file=out)
        print(
            f"throughput: {speed['runs']} runs ({len(seeds)} seeds and "
            f"{speed['runs'] - len(seeds)} re-runs) in {speed['wall_s']:.1f} s, "
            f"{speed['runs_per_min']:.0f} runs/min on {speed['workers']}",
            file=out,
        )
    for mismatch in outcome.determinism.mismatches:
        print(
            f"shoal: determinism broken: seed {mismatch.seed} gave trace hash "
            f"{mismatch.first_hash} then {mismatch.second_hash}",
            file=err,
        )
    every_run_passed = all(r["passed"] for r in outcome.records)
    return 0 if every_run_passed and outcome.determinism.held else EXIT_FAILED


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, as a container's limit sets it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def throughput(outcome: Outcome, seeds: int) -> dict[str, Any]:
    minutes = max(outcome.wall_s, 1e-9) / 60
    return {
        "wall_s": round(outcome.wall_s, 3),
        "runs": outcome.runs,
        "seeds_per_min": round(seeds / minutes, 1),
        "runs_per_min": round(outcome.runs / minutes, 1),
        "workers": outcome.workers,
    }


@contextmanager
def _bar(total: int, err: TextIO, show: bool) -> Iterator[Progress | None]:
    """A progress bar over the seeds (re-runs in its postfix), or none."""
    if not show:
        yield None
        return
    bar = tqdm(total=total, unit="seed", file=err, dynamic_ncols=True, smoothing=0.05)

    def advance(done: int, passed: int, failed: int, again: int) -> None:
        bar.set_postfix_str(f"passed {passed}, failed {failed}, re-runs {again}", refresh=False)
        bar.update(done)

    try:
        yield advance
    finally:
        bar.close()
