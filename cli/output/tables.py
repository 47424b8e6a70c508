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
    return tabwrite(["\t".join(line) for line in [header, *rows]], MIN_WIDTH, PADDING)


def tabwrite(lines: Sequence[str], min_width: int = MIN_WIDTH, padding: int = PADDING) -> str:
    """Go's ``tabwriter`` as the docker CLI sets it up (cells of at least 10
    columns, 3 spaces past the widest cell of their column block; a line's text
    after its last tab is not a cell). Trailing blanks are dropped."""
    rows = [cells for line in "\n".join(lines).split("\n") for cells in [line.split("\t")]]
    widths: list[list[int]] = [[0] * (len(cells) - 1) for cells in rows]

    def layout(first: int, last: int, column: int) -> None:
        index = first
        while index < last:
            if len(rows[index]) - 1 <= column:
                index += 1
                continue
            end = index
            while end < last and len(rows[end]) - 1 > column:
                end += 1
            width = max(min_width, max(len(rows[k][column]) for k in range(index, end)) + padding)
            for k in range(index, end):
                widths[k][column] = width
            layout(index, end, column + 1)
            index = end

    layout(0, len(rows), 0)
    return "\n".join(
        ("".join(c.ljust(w) for c, w in zip(cells, sizes, strict=False)) + cells[-1]).rstrip()
        for cells, sizes in zip(rows, widths, strict=True)
    )


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
