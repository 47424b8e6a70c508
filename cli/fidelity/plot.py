"""Sim against real as a picture: one panel per measure, a pair of bars per seed
(simulated, real), the range the simulated figure must end in to agree shaded behind
the simulated bar, a missing figure marked "none". :func:`figure` builds it (tests look
at its axes); :func:`draw` writes it as a PNG."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display: files only

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from cli.commands.flags import UsageError
from cli.fidelity.compare import COUNT_SLACK, FLOOR_S, MetricPair, SeedComparison, is_count
from cli.fidelity.table import value

COLUMNS = 3
SIM_COLOUR, REAL_COLOUR, RANGE_COLOUR = "tab:blue", "tab:orange", "0.9"
WIDTH = 0.38


def figure(title: str, seeds: Sequence[SeedComparison], tolerance: float) -> Figure:
    names = list(dict.fromkeys(m.name for each in seeds for m in each.metrics))
    rows = max(1, math.ceil(len(names) / COLUMNS))
    fig = Figure(figsize=(4.2 * COLUMNS, 3.2 * rows + 0.6), dpi=100)
    fig.suptitle(f"{title}: simulated and real, {len(seeds)} seed(s)", x=0.02, ha="left")
    for index, name in enumerate(names, start=1):
        axes = fig.add_subplot(rows, COLUMNS, index)
        pairs = [next((m for m in each.metrics if m.name == name), None) for each in seeds]
        _panel(axes, name, [each.seed for each in seeds], pairs, tolerance)
        if index == 1:  # one legend for all, above the panels, hiding no bar
            fig.legend(*axes.get_legend_handles_labels(), loc="upper right", ncols=3, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def _panel(
    axes: Axes, name: str, seeds: list[int], pairs: list[MetricPair | None], tolerance: float
) -> None:
    for x, pair in enumerate(pairs):
        sim = pair.sim if pair is not None else None
        real = pair.real if pair is not None else None
        first = x == 0
        for offset, number, colour, label in (
            (-WIDTH / 2, sim, SIM_COLOUR, "sim"),
            (WIDTH / 2, real, REAL_COLOUR, "real"),
        ):
            if number is None:
                axes.annotate("none", (x + offset, 0), ha="center", va="bottom", fontsize=7)
                continue
            bars = axes.bar(x + offset, number, WIDTH, color=colour, label=label if first else None)
            axes.bar_label(bars, labels=[value(name, number)], fontsize=7)
        if real is not None:  # behind the simulated bar: where it must end to agree
            slack = COUNT_SLACK if is_count(name) else max(tolerance * abs(real), FLOOR_S)
            low = max(0.0, real - slack)
            axes.bar(
                x - WIDTH / 2,
                real + slack - low,
                WIDTH * 1.3,
                bottom=low,
                color=RANGE_COLOUR,
                edgecolor="black",
                linestyle="--",
                linewidth=0.6,
                zorder=0,
                label="sim agrees in" if first else None,
            )
    disagree = sum(1 for p in pairs if p is not None and not p.agree)
    verdict = f"{disagree} disagree" if disagree else "agree"
    axes.set_title(f"{name} ({verdict})", fontsize=9)
    axes.set_xticks(range(len(seeds)), [f"seed {s}" for s in seeds], fontsize=7)
    axes.set_ylabel("count" if is_count(name) else "seconds")
    axes.set_xlim(-0.75, len(seeds) - 0.25)
    axes.set_ylim(bottom=0)


def draw(title: str, seeds: Sequence[SeedComparison], tolerance: float, path: str) -> None:
    try:
        figure(title, seeds, tolerance).savefig(path)
    except OSError as error:
        raise UsageError(f"cannot write the plot {path}: {error.strerror}") from None
