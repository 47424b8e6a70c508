"""``shoal sim raft``: run a simulated Raft manager group under a nemesis.

One seed prints a summary; ``--seeds 1..200`` prints a table, re-runs every
twentieth seed to check that it replays to the same trace hash, and lists a replay
command for each failure. Exit status: 0 all good, 1 a usage mistake, 3 a safety
violation, 4 a liveness failure, 5 a run that did not replay identically.

Faults come from a random schedule over ``--nemesis`` (default: all of them), or
from a fixed ``--timeline 30s:crash-leader:10s,60s:majorities-ring:20s`` (at,
nemesis, duration) instead. Either way the safety phase is followed by a liveness
phase on a clean network. The clock nemeses move wall clocks, which this Raft-only
world does not read: only clock-skew's drift (the pace of a host's ticks) reaches
Raft; the summary's wall_clock_steps counts the wall-clock steps, each one a
``clock`` line in the trace.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from cli.commands.flags import UsageError
from core.errors import ShoalError
from core.model.duration import format_duration, parse_duration
from core.raft.config import Mutations, RaftConfig
from sim.faults.nemesis import NEMESES
from sim.world import RaftWorld, RunResult, WorldConfig, mutated

EXIT_SAFETY = 3
EXIT_LIVENESS = 4
EXIT_NONDETERMINISM = 5
DETERMINISM_EVERY = 20  # re-run 5% of a sweep's seeds, as FoundationDB does


def seconds(text: str) -> float:
    try:
        value = parse_duration(text) / 1e9
    except ShoalError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"duration must be positive, not {text!r}")
    return value


def seed_range(text: str) -> range:
    first, sep, last = text.partition("..")
    try:
        start, stop = int(first), int(last) if sep else int(first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must look like 1..200, not {text!r}") from None
    if stop < start:
        raise argparse.ArgumentTypeError(f"empty seed range {text!r}")
    return range(start, stop + 1)


def nemesis_list(text: str) -> tuple[str, ...]:
    if text == "all":
        return tuple(sorted(NEMESES))
    if text == "none":
        return ()
    names = tuple(sorted({n.strip() for n in text.split(",") if n.strip()}))
    unknown = [n for n in names if n not in NEMESES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown nemesis {', '.join(unknown) or repr(text)}; "
            f"choose all, none, or a comma list of: {', '.join(sorted(NEMESES))}"
        )
    return names


def timeline_spec(text: str) -> tuple[tuple[float, str, float], ...]:
    """``AT:NEMESIS:DURATION[,...]``, e.g. ``30s:crash-leader:10s,1m:bridge:20s``."""
    steps = []
    for part in (p.strip() for p in text.split(",")):
        at, sep, rest = part.partition(":")
        name, sep2, duration = rest.partition(":")
        if not (sep and sep2 and at and name and duration):
            raise argparse.ArgumentTypeError(
                f"timeline steps look like 30s:crash-leader:10s, not {part!r}"
            )
        if name not in NEMESES:
            raise argparse.ArgumentTypeError(
                f"unknown nemesis {name} in the timeline; known: {', '.join(sorted(NEMESES))}"
            )
        try:
            start = parse_duration(at) / 1e9
        except ShoalError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        steps.append((start, name, seconds(duration)))
    return tuple(sorted(steps))


def format_timeline(steps: tuple[tuple[float, str, float], ...]) -> str:
    return ",".join(
        f"{format_duration(round(at * 1e9))}:{name}:{format_duration(round(duration * 1e9))}"
        for at, name, duration in steps
    )


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


# The options a replay command repeats.
OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--managers", {"type": positive_int, "default": 5, "help": "managers (default 5)"}),
    ("--duration", {"type": seconds, "default": "5m", "help": "safety phase (5m)"}),
    (
        "--nemesis",
        {"type": nemesis_list, "help": "all, none, or a,b (default all; none with --timeline)"},
    ),
    (
        "--timeline",
        {"type": timeline_spec, "help": "a fixed schedule instead: 30s:crash-leader:10s,..."},
    ),
    ("--fault-interval", {"type": seconds, "default": "10s", "help": "(10s)"}),
    ("--tick", {"type": seconds, "default": "1s", "help": "Raft tick length (1s)"}),
    ("--election-ticks", {"type": positive_int, "default": 10, "help": "(10)"}),
    ("--heartbeat-ticks", {"type": positive_int, "default": 1, "help": "(1)"}),
    ("--snapshot-interval", {"type": positive_int, "default": 10_000, "help": "(10000)"}),
    ("--snapshot-keep", {"type": int, "default": 500, "help": "entries kept (500)"}),
    ("--liveness-max", {"type": seconds, "default": "3m", "help": "bound (3m)"}),
    (
        "--mutation",
        {"choices": sorted(Mutations.__dataclass_fields__), "help": "break a Raft rule"},
    ),
]


def add_parser(commands: Any) -> Any:
    """``shoal sim raft``; returns the ``sim`` group for its other commands."""
    sim = commands.add_parser("sim", help="run simulated clusters").add_subparsers(
        dest="sim_command", metavar="WHAT", required=True
    )
    raft = sim.add_parser(
        "raft",
        help="a Raft manager group under faults: safety checked throughout, liveness after",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_options(raft)
    return sim


def _add_options(raft: argparse.ArgumentParser) -> None:
    for flag, kwargs in OPTIONS:
        raft.add_argument(flag, **kwargs)
    raft.add_argument("--swarm", action="store_true", help="draw knobs per seed")
    raft.add_argument("--no-wire", action="store_true", help="skip the msgpack codec")
    chosen = raft.add_mutually_exclusive_group()
    chosen.add_argument("--seed", type=int, default=1, help="one run (default 1)")
    chosen.add_argument("--seeds", type=seed_range, help="many runs, e.g. 1..200")
    raft.add_argument("--trace", help="write the run's JSONL trace here (one seed only)")
    raft.add_argument("--json", action="store_true", help="print JSON instead of text")
    raft.add_argument("--fail-fast", action="store_true", help="stop a sweep at its first failure")


def world_config(args: argparse.Namespace) -> WorldConfig:
    try:
        raft = RaftConfig(
            election_ticks=args.election_ticks,
            heartbeat_ticks=args.heartbeat_ticks,
            snapshot_interval=args.snapshot_interval,
            snapshot_keep_entries=args.snapshot_keep,
        )
        config = WorldConfig(
            managers=args.managers,
            tick_seconds=args.tick,
            raft=raft,
            wire=not args.no_wire,
            nemeses=nemeses(args),
            timeline=args.timeline or (),
            fault_interval=args.fault_interval,
            safety_seconds=args.duration,
            liveness_seconds_max=args.liveness_max,
        )
        return mutated(config, args.mutation)
    except ValueError as error:
        raise UsageError(str(error)) from None


def nemeses(args: argparse.Namespace) -> tuple[str, ...]:
    """The random schedule's nemeses: as given, else all of them (none under a
    timeline)."""
    if args.nemesis is not None:
        return tuple(args.nemesis)
    return () if args.timeline else tuple(sorted(NEMESES))


def replay_command(args: argparse.Namespace, seed: int) -> str:
    """The command that replays ``seed`` with the options that differ from the
    defaults (``--managers``, ``--duration`` and ``--nemesis`` always shown)."""
    defaults = with_defaults()
    parts = ["shoal sim raft"]
    for flag, _ in OPTIONS:
        attribute = flag[2:].replace("-", "_")
        value = getattr(args, attribute)
        shown = attribute in ("managers", "duration", "nemesis")
        if attribute == "nemesis":
            value = nemeses(args)
            value = "all" if value == tuple(sorted(NEMESES)) else ",".join(value) or "none"
        elif attribute == "timeline":
            if not value:
                continue
            value = format_timeline(value)
        if value is None or (value == getattr(defaults, attribute) and not shown):
            continue
        if isinstance(value, float):
            value = format_duration(round(value * 1e9))
        parts.append(f"{flag} {value}")
    parts += [flag for flag, on in (("--swarm", args.swarm), ("--no-wire", args.no_wire)) if on]
    parts.append(f"--seed {seed}")
    return " ".join(parts)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    config = world_config(args)
    if args.seeds is None:
        try:
            world = RaftWorld(config, args.seed, args.trace, swarm=args.swarm)
        except OSError as error:
            raise UsageError(f"cannot write the trace: {error}") from None
        result = world.run()
        report_one(args, result, out)
        return exit_status([result])
    if args.trace:
        raise UsageError("--trace records one run: use it with --seed, not --seeds")
    return sweep(args, config, out)


def exit_status(results: list[RunResult]) -> int:
    if any(r.violation for r in results):
        return EXIT_SAFETY
    if any(r.liveness_failure for r in results):
        return EXIT_LIVENESS
    return 0


def report_one(args: argparse.Namespace, result: RunResult, out: TextIO) -> None:
    summary = result.summary()
    if not result.ok:
        summary["replay"] = replay_command(args, result.seed)
    if args.json:
        print(json.dumps(summary, indent=2), file=out)
        return
    for key, value in summary.items():
        if isinstance(value, dict):
            value = " ".join(f"{k}={v}" for k, v in value.items()) or "-"
        print(f"{key + ':':<24}{value}", file=out)


def sweep(args: argparse.Namespace, config: WorldConfig, out: TextIO) -> int:
    results: list[RunResult] = []
    replays_differ: list[int] = []
    header = f"{'SEED':>6}  {'RESULT':<9}{'ELECTIONS':>10}{'TERM':>6}{'CHANGES':>8}"
    header += f"{'FAULTS':>8}{'APPLIED':>9}  TRACE"
    if not args.json:
        print(header, file=out)
    for position, seed in enumerate(args.seeds):
        result = RaftWorld(config, seed, swarm=args.swarm).run()
        results.append(result)
        if position % DETERMINISM_EVERY == 0:
            again = RaftWorld(config, seed, swarm=args.swarm).run()
            if again.trace_hash != result.trace_hash:
                replays_differ.append(seed)
        if not args.json:
            verdict = "ok" if result.ok else ("SAFETY" if result.violation else "LIVENESS")
            print(
                f"{seed:>6}  {verdict:<9}{result.elections:>10}{result.max_term:>6}"
                f"{result.leader_changes:>8}{sum(result.faults.values()):>8}"
                f"{result.applied_index:>9}  {result.trace_hash[:12]}",
                file=out,
            )
        if args.fail_fast and not result.ok:
            break
    failures = [r for r in results if not r.ok]
    if args.json:
        print(json.dumps(sweep_summary(args, results, replays_differ), indent=2), file=out)
    else:
        checked = len(range(0, len(results), DETERMINISM_EVERY))
        print(
            f"\n{len(results) - len(failures)}/{len(results)} seeds passed; "
            f"{checked} re-run for determinism, {len(replays_differ)} differed",
            file=out,
        )
        for result in failures:
            print(f"seed {result.seed}: {result.violation or result.liveness_failure}", file=out)
            print(f"  replay: {replay_command(args, result.seed)}", file=out)
        for seed in replays_differ:
            print(f"seed {seed}: the re-run gave a different trace hash", file=out)
    status = exit_status(results)
    return status or (EXIT_NONDETERMINISM if replays_differ else 0)


def sweep_summary(
    args: argparse.Namespace, results: list[RunResult], replays_differ: list[int]
) -> dict[str, Any]:
    return {
        "seeds": len(results),
        "passed": sum(r.ok for r in results),
        "failures": [
            {
                "seed": r.seed,
                "violation": r.violation,
                "liveness_failure": r.liveness_failure,
                "replay": replay_command(args, r.seed),
            }
            for r in results
            if not r.ok
        ],
        "nondeterministic_seeds": replays_differ,
        "runs": [r.summary() for r in results],
    }


def with_defaults(**overrides: Any) -> argparse.Namespace:
    """The namespace ``shoal sim raft`` would parse with no flags, then ``overrides``
    (for tests and notebooks that want the command's exact behaviour)."""
    parser = argparse.ArgumentParser()
    subcommands = parser.add_subparsers()
    sim = subcommands.add_parser("sim").add_subparsers()
    raft = sim.add_parser("raft")
    _add_options(raft)
    args = parser.parse_args(["sim", "raft"])
    return argparse.Namespace(**{**vars(args), **overrides})
