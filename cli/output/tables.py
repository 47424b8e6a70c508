"""Docker's tables and ages.

Tables are laid out as the docker CLI's formatter does with Go's tabwriter (cells
padded to at least 10 columns and 3 spaces past their text; the last column as it
is). Ages are go-units' ``HumanDuration``: "Less than a second", "47 seconds",
"About a minute", "3 hours", "2 weeks".
"""

from __future__ import annotations

from collections.abc import Sequence

MIN_WIDTH = 10
PADDING = 3


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [list(header), *[list(row) for row in rows]]
    columns = len(header)
    widths = [
        max(MIN_WIDTH, max(len(line[i]) for line in lines) + PADDING) for i in range(columns - 1)
    ]
    out = []
    for line in lines:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        out.append(("".join(cells) + line[-1]).rstrip())
    return "\n".join(out)


def human_duration(seconds: float) -> str:
    """How long ago, in Docker's words (go-units ``HumanDuration``)."""
    whole = int(seconds)
    if whole < 1:
        return "Less than a second"
    if whole == 1:
        return "1 second"
    if whole < 60:
        return f"{whole} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"
