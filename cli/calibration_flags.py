"""``--calibration FILE``, ``--one-machine`` and ``--strict-codec``: what dockerd and
messages cost in a simulated run (sim/calibration.py), and how messages cross, for
``shoal sim run`` and ``shoal sim sweep``."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from sim.calibration import DEFAULT_PATH, Calibration, from_text, read


def add_arguments(parser: Any, one_machine: bool = True) -> None:
    """``--calibration``, and ``--one-machine`` unless the command decides that itself."""
    parser.add_argument(
        "--calibration",
        metavar="FILE",
        help="dockerd and message timings, as `shoal real calibrate` wrote them "
        "(default: this machine's, sim/calibrations/default.yml)",
    )
    parser.add_argument(
        "--strict-codec",
        action="store_true",
        help="every message crosses between hosts as bytes through the wire codec "
        "(default: passed as values, one in 64 checked through the codec)",
    )
    if not one_machine:
        return
    parser.add_argument(
        "--one-machine",
        action="store_true",
        help="the hosts share the calibrated machine's cores, as test hosts on one "
        "machine do (default: each host has its own)",
    )


@dataclass(frozen=True)
class Choice:
    """The calibration asked for, as its file's text: what a sweep's chunk carries to
    workers that may not have the file."""

    text: str
    path: str
    one_machine: bool = False
    strict_codec: bool = False

    def calibration(self) -> Calibration:
        measured = from_text(self.text, self.path).on_one_machine(self.one_machine)
        return measured.with_strict_codec(self.strict_codec)


def choice(args: Any) -> Choice:
    """The command line's calibration (read now: its mistakes before any run)."""
    path = str(args.calibration or DEFAULT_PATH)
    made = Choice(read(path), path, args.one_machine, getattr(args, "strict_codec", False))
    made.calibration()
    return made


def chosen(args: Any) -> Calibration:
    """The calibration the command line asks for."""
    return choice(args).calibration()


def replay_flags(args: Any) -> str:
    """The flags a replay command must repeat to run the same."""
    flags = f" --calibration {shlex.quote(args.calibration)}" if args.calibration else ""
    flags += " --one-machine" if args.one_machine else ""
    return flags + (" --strict-codec" if getattr(args, "strict_codec", False) else "")
