"""``shoal real calibrate``: measure this machine's dockerd, image and message timings
(real/calibrate.py) and write them as a calibration file the simulator reads
(``shoal sim run --calibration FILE``; sim/calibration.py says what each figure is).

Needs root, and a quiet machine: anything else busy on it is measured too. It starts
private dockerds and removes them, with every container it made, at the end.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, TextIO

from sim.calibration import dump


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "calibrate",
        help="measure dockerd and message timings here, for the simulator",
        description=__doc__,
    )
    parser.add_argument("--out", help="write the calibration here (default: standard output)")
    parser.add_argument(
        "--hosts", type=int, default=3, help="dockerds started, as test hosts (default 3)"
    )
    parser.add_argument(
        "--containers",
        type=int,
        default=20,
        help="containers each measurement makes per dockerd (default 20)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="each figure the median of this many (default 3)"
    )


def main(args: Any, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    from real.calibrate import CalibrationFailed, calibrate

    if args.hosts < 1 or args.containers < 2 or args.rounds < 1:
        raise CalibrationFailed(
            "--hosts must be at least 1, --containers at least 2 and --rounds at least 1"
        )
    if args.out is not None:
        target = Path(args.out)
        if not target.parent.is_dir():
            raise CalibrationFailed(f"--out {args.out}: no such directory {target.parent}")
    calibration = calibrate(
        args.hosts, args.containers, args.rounds, lambda line: print(line, file=err)
    )
    text = dump(calibration, "What dockerd and messages cost here: `shoal real calibrate`.")
    if args.out is None:
        out.write(text)
        return 0
    partial = f"{args.out}.partial-{os.getpid()}"
    Path(partial).write_text(text)
    os.replace(partial, args.out)  # never a half-written calibration
    print(f"calibration written to {args.out}", file=err)
    return 0
