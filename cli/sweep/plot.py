"""A sweep as a picture: a histogram per measure (over the runs with a value) and
each expectation's pass rate as a bar. :func:`figure` builds it (tests look at its
axes); :func:`draw` writes it as a PNG."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: files only

from matplotlib.figure import Figure

from cli.commands.flags import UsageError
from cli.sweep.record import Record

COLUMNS = 3


def figure(title: str, records: Sequence[Record], summary: dict[str, Any]) -> Figure:
    measures = [m["measure"] for m in summary["measures"]]
    rows = math.ceil((len(measures) + 1) / COLUMNS)
    fig = Figure(figsize=(4.2 * COLUMNS, 3.2 * rows + 0.6), dpi=100)
    fig.suptitle(f"{title}: {len(records)} runs")
    rates = fig.add_subplot(rows, COLUMNS, 1)
    expectations = summary["expectations"]
    names = [e["expectation"] for e in expectations]
    rates.barh(range(len(names)), [100 * e["pass_rate"] for e in expectations], color="tab:green")
    rates.set_yticks(range(len(names)), names, fontsize=7)
    rates.invert_yaxis()
    rates.set_xlim(0, 100)
    rates.set_xlabel("runs passed (%)")
    rates.set_title("pass rate per expectation", fontsize=9)
    for index, measure in enumerate(measures, start=2):
        axes = fig.add_subplot(rows, COLUMNS, index)
        values = [float(r[measure]) for r in records if r.get(measure) is not None]
        missing = len(records) - len(values)
        if values:
            axes.hist(values, bins=min(30, max(1, len(set(values)))), color="tab:blue")
        axes.set_title(measure + (f" ({missing} without)" if missing else ""), fontsize=9)
        axes.set_ylabel("runs")
    fig.tight_layout()
    return fig


def draw(title: str, records: Sequence[Record], summary: dict[str, Any], path: str) -> None:
    try:
        figure(title, records, summary).savefig(path)
    except OSError as error:
        raise UsageError(f"cannot write the plot {path}: {error.strerror}") from None


def check_path(path: str) -> None:
    if not path.lower().endswith(".png"):
        raise UsageError(f"--plot writes a PNG: give a path ending in .png, not {path!r}")
