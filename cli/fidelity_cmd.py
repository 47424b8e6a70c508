"""``shoal fidelity FILE``: one scenario and seed run for real and in simulation, side
by side, to see how far the simulator is from the machine it was calibrated on.

For each seed, the real run (``shoal real run``'s: test hosts on this machine, built
and removed per run, or with ``--hosts`` an inventory's running daemons), then the
simulated run with the calibration (``--calibration``, default this machine's); with
test hosts the simulated hosts share the machine's cores as the test hosts do
(``--one-machine``), with an inventory each has its own. What real mode cannot run
is refused before any host is built. With test hosts, the images the commands name
become the two test hosts have, in both runs (cli/fidelity/images.py), as the output
says.

The comparison's rules are cli/fidelity/compare.py's: verdicts must be the same;
times agree within ``--tolerance`` (0.3: ±30%) of the real figure or 1.0 s, counts
within one. Exit status 0 when the runs agree: with one seed, its verdicts and
convergence time (``converged_s``); with several, every seed's verdicts and the
medians of ``converged_s`` over the seeds (a real run does not replay its seed's
chance: over seeds, two distributions are compared). 2 when they do not, 1 for a
mistake in the command line or the files (or a scenario real mode cannot run), 130
on Ctrl-C (the test hosts are removed).
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from tqdm import tqdm

from cli import calibration_flags, sim_run
from cli.commands.flags import UsageError
from cli.fidelity import plot
from cli.fidelity.compare import DEFAULT_TOLERANCE, SeedComparison, all_agree, compare, overall
from cli.fidelity.images import Mapping, map_images
from cli.fidelity.table import as_json, print_table
from cli.real_run import carrier_for
from cli.scenario import runner as sim_runner
from cli.scenario.judging import Report, conditions
from cli.scenario.printing import print_json
from cli.scenario.schema import Scenario, load
from cli.sim_run import EXIT_FAILED
from cli.sweep.plot import check_path
from real.scenario import runner as real_runner
from sim.calibration import DEFAULT_PATH, Calibration
from sim.calibration import load as load_calibration


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "fidelity",
        help="run a scenario in simulation and for real, and compare the two",
        description=__doc__,
    )
    sim_run.scenario_arguments(parser, "one pair of runs per seed, e.g. 1..3")
    calibration_flags.add_arguments(parser, one_machine=False)
    parser.add_argument("--hosts", help="an inventory of running daemons (default: test hosts)")
    parser.add_argument("--plot", help="draw sim against real per measure as a PNG here")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help="how far (relative to the real figure) a simulated time may be and agree "
        "(default 0.3: ±30%%; never less than 1.0 s)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def main(args: Any, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    if not math.isfinite(args.tolerance) or args.tolerance < 0:
        raise UsageError(f"--tolerance must be a number from 0 up, not {args.tolerance:g}")
    if args.plot:
        check_path(args.plot)
    scenario, mapping = prepare(load(args.file), args.hosts)
    measured = load_calibration(args.calibration or DEFAULT_PATH)
    calibration = measured.on_one_machine(args.hosts is None).with_strict_codec(args.strict_codec)
    if args.seeds is not None:
        seeds = list(args.seeds)
    else:
        seeds = [scenario.seed if args.seed is None else args.seed]
    show = not args.no_progress and args.format == "table"
    compared = []
    for seed in seeds:
        with _bar(show, scenario, f"seed {seed} real", err) as progress:
            real = run_real(scenario, args.hosts, seed, progress)
        with _bar(show, scenario, f"seed {seed} sim", err) as progress:
            sim = run_sim(scenario, seed, calibration, progress)
        compared.append(compare(sim, real, args.tolerance))
    report(args, scenario, compared, mapping, out)
    return 0 if all_agree(compared, args.tolerance) else EXIT_FAILED


def prepare(scenario: Scenario, inventory: str | None) -> tuple[Scenario, Mapping]:
    """The scenario both runs run (its images mapped to the test hosts', unless the
    hosts are an inventory's), its expectations read: its mistakes before any run."""
    conditions(scenario)
    if inventory is not None:
        return scenario, {}
    return map_images(scenario)


Progress = Callable[[float], None] | None


def run_real(scenario: Scenario, inventory: str | None, seed: int, progress: Progress) -> Report:
    """The real run, on hosts built for it (and removed) or an inventory's."""
    with carrier_for(scenario, inventory) as carrier:
        return real_runner.run(scenario, carrier, seed, progress)


def run_sim(scenario: Scenario, seed: int, calibration: Calibration, progress: Progress) -> Report:
    return sim_runner.run(scenario, seed, progress=progress, calibration=calibration)


@contextlib.contextmanager
def _bar(show: bool, scenario: Scenario, what: str, err: TextIO) -> Iterator[Progress]:
    """A progress callback drawing a bar on ``err`` over the run's seconds (None when
    not shown); the bar goes when the run ends, however it ends."""
    if not show:
        yield None
        return
    bar = tqdm(total=round(scenario.duration), unit="s", desc=what, file=err, leave=False)

    def advance(now: float) -> None:
        bar.update(min(round(now), bar.total) - bar.n)

    try:
        yield advance
    finally:
        bar.close()


def report(
    args: Any, scenario: Scenario, compared: list[SeedComparison], mapping: Mapping, out: TextIO
) -> None:
    total = overall(compared, args.tolerance)
    if args.format == "json":
        print_json(as_json(scenario.name, compared, total, mapping, args.tolerance), out)
    else:
        hosts = f"the daemons of {args.hosts}" if args.hosts else "test hosts on this machine"
        title = f"{scenario.name}: simulated and real ({hosts})"
        print_table(title, compared, total, mapping, args.tolerance, out)
    if args.plot:  # after the tables: a path it cannot write loses no run
        plot.draw(scenario.name, compared, args.tolerance, args.plot)
