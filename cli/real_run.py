"""``shoal real run FILE``: a scenario against real shoal daemons, with the verdict
table, JSON and plot of ``shoal sim run``. Times are wall seconds from the swarm's
forming.

Without ``--hosts``, the scenario's hosts are built as test hosts on this machine
(root; network namespaces, a dockerd and a shoal daemon each; removed afterwards);
with ``--hosts inventory.yml``, its daemons are already running (on VMs) and the
inventory's shell commands fault them (real/scenario/inventory.py). What real hosts
cannot do (a simulated image, a failing pull, a planted bug ...) is refused when the
files are read, by name, before any host is built.

Exit status as ``shoal sim run``: 0 when every verdict passes, 2 when one fails, 1
for a mistake in the command line or the files.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from tqdm import tqdm

from cli.scenario.judging import Report, conditions
from cli.scenario.printing import as_json, print_json, verdicts
from cli.scenario.schema import Scenario, load
from cli.sim_run import EXIT_FAILED
from real.scenario.carrier import Carrier
from real.scenario.runner import run
from real.scenario.support import refuse_unsupported


def add_parser(commands: Any) -> None:
    real = commands.add_parser("real", help="run scenarios against real shoal daemons")
    sub = real.add_subparsers(dest="real_command", metavar="COMMAND", required=True)
    parser = sub.add_parser(
        "run",
        help="run a scenario file against real daemons and judge its expectations",
        description=__doc__,
    )
    parser.add_argument("file", help="the scenario (YAML)")
    parser.add_argument("--hosts", help="an inventory of running daemons (default: test hosts)")
    parser.add_argument("--seed", type=int, help="the run's seed (default: the file's)")
    parser.add_argument("--plot", help="draw the run as a PNG here")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument(
        "--json", dest="format", action="store_const", const="json", help="--format json"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    from cli import real_calibrate

    real_calibrate.add_parser(sub)


def main(args: Any, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    scenario = load(args.file)
    conditions(scenario)  # every expectation read now: the file's mistakes before any run
    with carrier_for(scenario, args.hosts) as carrier:
        report = _run(args, scenario, carrier, err)
    if args.format == "json":
        print_json(as_json(report), out)
    else:
        verdicts(report, out)
    if args.plot:  # after the verdicts: a path it cannot write loses no run
        from cli.plots import draw

        draw(report.timeline, args.plot)
    return 0 if report.passed else EXIT_FAILED


@contextlib.contextmanager
def carrier_for(scenario: Scenario, inventory: str | None) -> Iterator[Carrier]:
    """The hosts the scenario runs on: its refusals first, then (test hosts) built."""
    if inventory is not None:
        from real.scenario.inventory import Inventory
        from real.scenario.inventory import load as load_inventory

        hosts = Inventory(scenario, load_inventory(inventory, scenario), inventory)
        refuse_unsupported(scenario, hosts, "this inventory")
        hosts.check_swarm()
        yield hosts
        return
    from real.scenario.testbed import Testbed

    testbed = Testbed(scenario)
    refuse_unsupported(scenario, testbed, "test hosts")
    with testbed:
        yield testbed


def _run(args: Any, scenario: Scenario, carrier: Carrier, err: TextIO) -> Report:
    bar = None
    if not args.no_progress and args.format == "table":
        bar = tqdm(total=round(scenario.duration), unit="s", file=err, leave=False)

    def advance(now: float) -> None:
        if bar is not None:
            bar.update(min(round(now), bar.total) - bar.n)

    try:
        return run(scenario, carrier, args.seed, advance)
    finally:
        if bar is not None:
            bar.close()
