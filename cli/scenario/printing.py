"""A scenario run's report as ``shoal sim run`` and ``shoal real run`` print it: the
verdict table, or JSON."""

from __future__ import annotations

import json
from typing import Any, TextIO

from cli.output.tables import table
from cli.scenario.judging import Report


def verdicts(report: Report, out: TextIO, replay: str = "") -> None:
    """The table of verdicts; the trace hash (a simulated run's); ``replay``, the
    command that runs a failed run again, when there is one."""
    print(f"{report.scenario.name} (seed {report.seed})", file=out)
    rows = [
        (
            v.text,
            "pass" if v.passed else "FAIL",
            f"{v.when:.1f}s" if v.when is not None else "-",
            v.seen,
        )
        for v in report.verdicts
    ]
    print(table(("EXPECTATION", "VERDICT", "WHEN", "SEEN"), rows), file=out)
    if report.trace_hash:
        print(f"trace hash {report.trace_hash}", file=out)
    if not report.passed and replay:
        print(f"replay: {replay}", file=out)


def as_json(report: Report) -> dict[str, Any]:
    return {
        "scenario": report.scenario.name,
        "seed": report.seed,
        "passed": report.passed,
        "trace_hash": report.trace_hash or None,
        "metrics": report.metrics.as_json(),
        "verdicts": [
            {"expectation": v.text, "passed": v.passed, "when": v.when, "seen": v.seen}
            for v in report.verdicts
        ],
    }


def print_json(value: Any, out: TextIO) -> None:
    print(json.dumps(value, indent=2), file=out)
