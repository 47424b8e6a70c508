"""A scenario run as a picture: running replicas per service over simulated time
(and, while an update rolls, how many run the current spec: its progress), each
fault as a shaded band, each leadership as a dashed vertical line; and the
election latencies as a histogram.

:func:`figure` builds the matplotlib figure from a :class:`~cli.timeline.Timeline`
(a run's report, or its trace read back); tests look at it as a figure: its
labels, legend, spans and lines. :func:`draw` writes it as a PNG.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display: files only

from matplotlib.figure import Figure

from cli.commands.flags import UsageError
from cli.timeline import Timeline

FAULT_COLOUR = "tab:red"
LEADER_COLOUR = "tab:gray"


def figure(report: Timeline) -> Figure:
    fig = Figure(figsize=(10, 4.5), dpi=100)
    axes = fig.add_subplot(1, 1, 1)
    for name in sorted(report.up_to_date):
        points = report.up_to_date[name]
        if any(
            n != m for (_, n), (_, m) in zip(points, report.running.get(name, ()), strict=False)
        ):
            xs, ys = [t for t, _ in points], [n for _, n in points]
            axes.step(xs, ys, where="post", linestyle=":", label=f"{name} on the current spec")
    for name in sorted(report.running):
        points = report.running[name]
        axes.step(
            [t for t, _ in points], [n for _, n in points], where="post", label=f"{name} running"
        )
    for index, (start, end, what) in enumerate(report.faults):
        axes.axvspan(
            start, end, color=FAULT_COLOUR, alpha=0.15, label="fault" if index == 0 else None
        )
        axes.annotate(what, (start, 0), xytext=(2, 2), textcoords="offset points", fontsize=8)
    for index, (when, host) in enumerate(report.leaders):
        axes.axvline(
            when,
            color=LEADER_COLOUR,
            linestyle="--",
            linewidth=1,
            label="new leader" if index == 0 else None,
        )
        axes.annotate(host, (when, 0), xytext=(2, 12), textcoords="offset points", fontsize=8)
    axes.set_xlabel("simulated time since the swarm formed (s)")
    axes.set_ylabel("tasks running")
    axes.set_title(report.title)
    axes.set_xlim(0, max(report.simulated, 1.0))
    axes.set_ylim(bottom=0)
    axes.legend(loc="lower right")
    axes.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def latency_figure(latencies: list[float]) -> Figure:
    """How long each election took after a fault on the leader (of one run or many:
    :meth:`~cli.timeline.Timeline.election_latencies`)."""
    fig = Figure(figsize=(6, 3.5), dpi=100)
    axes = fig.add_subplot(1, 1, 1)
    axes.hist(latencies, bins=max(1, min(20, len(latencies))), color="tab:blue")
    axes.set_xlabel("seconds from the leader's fault to a new leader")
    axes.set_ylabel("elections")
    axes.set_title(f"election latency ({len(latencies)} elections)")
    fig.tight_layout()
    return fig


def draw(report: Timeline, path: str) -> None:
    if not path.lower().endswith(".png"):
        raise UsageError(f"--plot writes a PNG: give a path ending in .png, not {path!r}")
    try:
        figure(report).savefig(path)
    except OSError as error:
        raise UsageError(f"cannot write the plot {path}: {error.strerror}") from None
