"""The record of one seed's run: one line of the sweep's JSONL, flat enough that
``pandas.read_json(path, lines=True)`` reads it into one row per seed.

Columns, in this order:

- ``seed`` (int), ``passed`` (bool), ``trace_hash`` (hex text);
- ``failed``: the failed verdicts, a list of ``{"expectation": text, "seen": text}``;
- ``verdicts``: every verdict, ``{expectation text: passed}`` (two verdicts with the
  same text share a key, which passes when both did);
- the run's measures (:mod:`cli.scenario.metrics`), flattened: ``converged_s``
  (null: the swarm had not settled by the end), ``elections``, ``leader_changes``,
  ``leaderless_s``, then per service ``downtime_s.<service>`` and
  ``max_outage_s.<service>`` (a nested measure becomes ``measure.key``);
- ``error``: null, or the exception that stopped the run (a bug in shoal: the run
  counts as failed, with the failed verdict :data:`CRASHED`);
- ``wall_s``: the run's wall-clock seconds (the only column that differs between
  two runs of one seed).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cli.scenario.judging import Report

Record = dict[str, Any]

#: The columns every record has, in order, around its measures.
HEAD = ("seed", "passed", "trace_hash", "failed", "verdicts")
TAIL = ("error", "wall_s")
#: The measures' order in a record and in the summary (others follow, by name).
MEASURES = ("converged_s", "elections", "leader_changes", "leaderless_s")
PER_SERVICE = ("downtime_s", "max_outage_s")
#: The columns that may differ between two runs of one seed.
UNREPEATABLE = frozenset({"wall_s"})
#: The failed verdict of a run that raised instead of ending.
CRASHED = "the run ends without an internal error (a bug in shoal)"


def record(report: Report, wall_s: float) -> Record:
    """The record of a finished run."""
    out: Record = {
        "seed": report.seed,
        "passed": report.passed,
        "trace_hash": report.trace_hash,
        "failed": [
            {"expectation": v.text, "seen": v.seen} for v in report.verdicts if not v.passed
        ],
        "verdicts": _verdicts((v.text, v.passed) for v in report.verdicts),
    }
    out.update(flatten(report.metrics.as_json()))
    out.update({"error": None, "wall_s": round(wall_s, 4)})
    return out


def crashed(seed: int, error: BaseException, wall_s: float) -> Record:
    """The record of a run that raised (no measures: it did not end)."""
    seen = f"{type(error).__name__}: {error}"
    return {
        "seed": seed,
        "passed": False,
        "trace_hash": "",
        "failed": [{"expectation": CRASHED, "seen": seen}],
        "verdicts": {CRASHED: False},
        "error": seen,
        "wall_s": round(wall_s, 4),
    }


def _verdicts(pairs: Iterable[tuple[str, bool]]) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for text, passed in pairs:
        out[text] = out.get(text, True) and passed
    return out


def flatten(metrics: Mapping[str, object]) -> Record:
    """The measures as columns: a mapping's entries become ``name.key`` (sorted)."""
    flat: Record = {}
    for name, value in metrics.items():
        if isinstance(value, Mapping):
            for key in sorted(value):
                flat[f"{name}.{key}"] = value[key]
        else:
            flat[name] = value
    return dict(sorted(flat.items(), key=lambda item: measure_order(item[0])))


def measure_order(column: str) -> tuple[int, str, str]:
    """Where a measure's column goes: :data:`MEASURES`, then each service's
    :data:`PER_SERVICE` columns, then any other measure, by name."""
    name, _, key = column.partition(".")
    order = (*MEASURES, *PER_SERVICE)
    return (order.index(name) if name in order else len(order), name, key)


def measures(rec: Record) -> dict[str, object]:
    """A record's measure columns (neither its head nor its tail)."""
    return {k: v for k, v in rec.items() if k not in HEAD and k not in TAIL}


def differences(first: Record, second: Record) -> list[str]:
    """How two runs of one seed differ (the columns that must not), as
    ``column: first value then second value``; empty when they agree."""
    out = []
    for column in dict.fromkeys([*first, *second]):
        if column in UNREPEATABLE:
            continue
        a, b = first.get(column), second.get(column)
        if a != b:
            out.append(f"{column}: {json.dumps(a)} then {json.dumps(b)}")
    return out


def line(rec: Record) -> str:
    return json.dumps(rec, separators=(",", ":"))


def write(records: Iterable[Record], path: str | Path) -> int:
    """The records as JSONL (in the order given); how many lines."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as file:
        for rec in records:
            file.write(line(rec) + "\n")
            count += 1
    return count


def read(path: str | Path) -> list[Record]:
    with Path(path).open(encoding="utf-8") as file:
        return [json.loads(text) for text in file if text.strip()]
