"""A sweep's summary: how many runs passed, each expectation's pass rate, the
distribution of each measure, the failing seeds with the command that replays each,
and the determinism check.

It is computed from the records alone, in seed order, and leaves out the wall time:
the same seeds give the same summary whichever workers ran them (how fast they ran
is the command's last line, apart from it).

Percentiles are nearest-rank (P90 is the smallest value at least 90% of the runs
with a value do not exceed): always a value some run had. A run has no value for
``converged_s`` when the swarm had not settled by its end, for a service's measures
when it never had that service, and for every measure when it crashed.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Sequence
from typing import Any

from cli.output.tables import table
from cli.sweep.recheck import Determinism
from cli.sweep.record import CRASHED, Record, measure_order, measures

PERCENTILES = (50, 90, 99)
FAILING_SHOWN = 20


def replay(path: str, seed: int, flags: str = "") -> str:
    return f"shoal sim run {shlex.quote(path)} --seed {seed}{flags} --trace run.jsonl"


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest rank: the value at rank ceil(p% of n) of the sorted values."""
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def expectations(records: Sequence[Record]) -> list[dict[str, Any]]:
    """Each verdict's passes and failures over the runs that judged it (in order of
    first appearance); a crash counts against :data:`CRASHED` in every run."""
    counts: dict[str, list[int]] = {}
    for rec in records:
        for text, passed in rec["verdicts"].items():
            counts.setdefault(text, [0, 0])[0 if passed else 1] += 1
    if CRASHED in counts:
        crashes = counts[CRASHED][1]
        counts[CRASHED] = [len(records) - crashes, crashes]
    return [
        {
            "expectation": text,
            "passed": passed,
            "failed": failed,
            "pass_rate": round(passed / (passed + failed), 6),
        }
        for text, (passed, failed) in counts.items()
    ]


def distributions(records: Sequence[Record]) -> list[dict[str, Any]]:
    """Each measure's min, percentiles, max and mean over the runs with a value, and
    how many runs had none."""
    columns: set[str] = set()
    for rec in records:
        columns.update(measures(rec))
    out = []
    for column in sorted(columns, key=measure_order):
        values = [rec.get(column) for rec in records]
        present = sorted(float(v) for v in values if v is not None)
        row: dict[str, Any] = {"measure": column, "runs": len(present)}
        row["none"] = len(records) - len(present)
        if present:
            row["min"] = present[0]
            for p in PERCENTILES:
                row[f"p{p}"] = percentile(present, p)
            row["max"] = present[-1]
            row["mean"] = round(math.fsum(present) / len(present), 6)
        else:
            row.update({"min": None, **{f"p{p}": None for p in PERCENTILES}})
            row.update({"max": None, "mean": None})
        out.append(row)
    return out


def summarize(
    *,
    scenario: str,
    path: str,
    seeds: range,
    records: Sequence[Record],
    determinism: Determinism,
    results: str | None,
    flags: str = "",
) -> dict[str, Any]:
    """The summary of the first runs' records (in seed order)."""
    failing = [rec for rec in records if not rec["passed"]]
    return {
        "scenario": scenario,
        "file": path,
        "seeds": f"{seeds.start}..{seeds.stop - 1}",
        "runs": len(records),
        "passed": len(records) - len(failing),
        "failed": len(failing),
        "expectations": expectations(records),
        "measures": distributions(records),
        "failing": [
            {
                "seed": rec["seed"],
                "failed": [f["expectation"] for f in rec["failed"]],
                "replay": replay(path, rec["seed"], flags),
            }
            for rec in failing
        ],
        "determinism": determinism.as_json(),
        "results": results,
    }


def number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}".rstrip("0").rstrip(".")


def rate(passed: int, failed: int) -> str:
    """A percentage that reads 100% only when nothing failed, 0% only when nothing passed."""
    value = 100 * passed / (passed + failed)
    if failed and value > 99.99:
        return ">99.99%"
    if passed and value < 0.01:
        return "<0.01%"
    return f"{number(round(value, 2))}%"


def text(summary: dict[str, Any]) -> str:
    lines = [
        f"{summary['scenario']} ({summary['file']}), seeds {summary['seeds']}: "
        f"{summary['runs']} runs, {summary['passed']} passed, {summary['failed']} failed",
        "",
        table(
            ("EXPECTATION", "PASSED", "FAILED", "PASS RATE"),
            [
                (
                    e["expectation"],
                    str(e["passed"]),
                    str(e["failed"]),
                    rate(e["passed"], e["failed"]),
                )
                for e in summary["expectations"]
            ],
        ),
        "",
        table(
            ("MEASURE", "MIN", "P50", "P90", "P99", "MAX", "MEAN", "NO VALUE"),
            [
                (
                    m["measure"],
                    *(number(m[k]) for k in ("min", "p50", "p90", "p99", "max", "mean")),
                    str(m["none"]),
                )
                for m in summary["measures"]
            ],
        ),
        "(seconds or counts; percentiles nearest-rank over the runs with a value; no value:",
        " converged_s, not settled by the end; a service's measures, never had the service)",
        "",
    ]
    failing = summary["failing"]
    if failing:
        lines.append(f"{len(failing)} failing seeds; replay one with its command:")
        width = max(len(f["replay"]) for f in failing[:FAILING_SHOWN])
        for f in failing[:FAILING_SHOWN]:
            lines.append(f"  {f['replay'].ljust(width)}   # {'; '.join(f['failed'])}")
        if len(failing) > FAILING_SHOWN:
            where = f" (all in {summary['results']})" if summary["results"] else ""
            lines.append(f"  ... and {len(failing) - FAILING_SHOWN} more{where}")
    else:
        lines.append("no failing seeds")
    lines.extend(_determinism(summary["determinism"]))
    if summary["results"]:
        lines.append(f"results: {summary['results']} ({summary['runs']} lines, one per seed)")
    else:
        lines.append("results: not written (--results FILE writes one JSONL line per seed)")
    return "\n".join(lines)


def _determinism(check: dict[str, Any]) -> list[str]:
    if not check["checked"]:
        return ["determinism: not checked (--determinism 0)"]
    share = f"{number(round(100 * check['fraction'], 2))}%"
    if check["held"]:
        return [
            f"determinism: {check['checked']} seeds ({share}) run again in tasks of their "
            "own gave the same trace hash, verdicts and measures"
        ]
    out = [
        f"DETERMINISM BROKEN: {len(check['mismatches'])} of {check['checked']} seeds run "
        "twice gave different runs:"
    ]
    for m in check["mismatches"]:
        out.append(f"  seed {m['seed']}: trace hash {m['first_hash']} then {m['second_hash']}")
        out.extend(f"    {d}" for d in m["differences"] if not d.startswith("trace_hash:"))
    return out


def as_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2)
