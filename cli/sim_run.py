"""``shoal sim run FILE``: a scenario in a simulated swarm, with a progress bar over
simulated time, a verdict for every expectation, the trace hash, and for a failure
the command that replays it. Exit status 0 when every verdict passes, 2 when one
fails (1 is a mistake in the command line or the file).

``--seeds 1..20`` runs the scenario once per seed and prints a line per seed.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm import tqdm

from cli import calibration_flags
from cli.commands.flags import UsageError
from cli.output.tables import table
from cli.scenario.printing import as_json, print_json, verdicts
from cli.scenario.runner import Report, conditions, run
from cli.scenario.schema import load
from cli.sim_raft import seed_range

EXIT_FAILED = 2


def add_parser(sim: Any) -> None:
    parser = sim.add_parser(
        "run",
        help="run a scenario file in a simulated swarm and judge its expectations",
        description=__doc__,
    )
    scenario_arguments(parser, "one run per seed, e.g. 1..20")
    parser.add_argument("--trace", help="write the run's JSONL trace here (one seed only)")
    parser.add_argument("--plot", help="draw the run as a PNG here (one seed only)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    calibration_flags.add_arguments(parser)


def scenario_arguments(parser: Any, seeds: str) -> None:
    """The file, and ``--seed`` or ``--seeds`` (``seeds``: what the latter does)."""
    parser.add_argument("file", help="the scenario (YAML)")
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--seed", type=int, help="the run's seed (default: the file's)")
    chosen.add_argument("--seeds", type=seed_range, help=seeds)


def main(args: Any, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    scenario = load(args.file)
    conditions(scenario)  # every expectation read now: the file's mistakes before any run
    calibration = calibration_flags.chosen(args)
    if args.seeds is not None:
        if args.trace or args.plot:
            raise UsageError("--trace and --plot record one run: use them with --seed")
        reports = [run(scenario, seed, calibration=calibration) for seed in args.seeds]
        _sweep(args, reports, out)
        return 0 if all(r.passed for r in reports) else EXIT_FAILED
    bar = None
    if not args.no_progress and args.format == "table":
        bar = tqdm(total=round(scenario.duration), unit="sim-s", file=err, leave=False)

    def advance(now: float) -> None:
        if bar is not None:
            bar.update(round(now) - bar.n)

    try:
        report = run(scenario, args.seed, args.trace, advance, calibration)
    finally:
        if bar is not None:
            bar.close()
    if args.plot:
        from cli.plots import draw

        draw(report.timeline, args.plot)
    if args.format == "json":
        print_json(as_json(report), out)
    else:
        flags = calibration_flags.replay_flags(args)
        replay = f"shoal sim run {args.file} --seed {report.seed}{flags} --trace run.jsonl"
        verdicts(report, out, replay)
    return 0 if report.passed else EXIT_FAILED


def _sweep(args: Any, reports: list[Report], out: TextIO) -> None:
    if args.format == "json":
        print_json([as_json(r) for r in reports], out)
        return
    rows = []
    for report in reports:
        failed = [v.text for v in report.verdicts if not v.passed]
        rows.append((str(report.seed), "pass" if not failed else "FAIL", "; ".join(failed)))
    print(table(("SEED", "VERDICT", "FAILED"), rows), file=out)
    for report in reports:
        if not report.passed:
            print(f"replay: shoal sim run {args.file} --seed {report.seed}", file=out)
