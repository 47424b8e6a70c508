"""The work a sweep sends out: its seeds in chunks (one task each), and the sample
of seeds run a second time, in chunks of their own, to check that a run depends on
its seed alone.

A chunk amortizes a task's cost (a message each way, and on Dask the scheduler's
bookkeeping: a few milliseconds, against about 0.3 s of CPU for a seed of the
flagship); small chunks keep the workers busy to the end (the last chunks finish at
about the same time) and the progress bar moving. :func:`chunk_size` aims for
:data:`CHUNKS_PER_WORKER` chunks per worker, of at most :data:`CHUNK_MAX` seeds.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from cli.calibration_flags import Choice

CHUNKS_PER_WORKER = 16
CHUNK_MAX = 20
SAMPLE_SALT = "shoal sim sweep: determinism sample"


@dataclass(frozen=True)
class Chunk:
    """One task: seeds of one scenario, carried as its YAML text (a remote worker
    need not have the file) with its path (for messages)."""

    source: str
    path: str
    seeds: tuple[int, ...]
    #: A determinism re-run. The run does not read it (a seed's run is the same
    #: either way); it makes the task distinct, and lets a test plant a difference.
    second: bool = False
    #: What dockerd and messages cost (None: this machine's, the default).
    calibration: Choice | None = None


def chunk_size(seeds: int, workers: int) -> int:
    """Seeds per chunk: :data:`CHUNKS_PER_WORKER` chunks per worker, at most
    :data:`CHUNK_MAX` seeds each, at least one."""
    return max(1, min(CHUNK_MAX, math.ceil(seeds / (CHUNKS_PER_WORKER * max(1, workers)))))


def sample(seeds: range, fraction: float) -> list[int]:
    """The seeds run twice: ``fraction`` of them (at least one when it is above 0),
    drawn by a generator seeded from a fixed text and the range, so the same range
    always gives the same sample (in seed order)."""
    if fraction <= 0 or not seeds:
        return []
    count = min(len(seeds), max(1, round(len(seeds) * fraction)))
    rng = random.Random(f"{SAMPLE_SALT} {seeds.start}..{seeds.stop - 1}")
    return sorted(rng.sample(seeds, count))


def chunks(
    source: str,
    path: str,
    seeds: Sequence[int],
    size: int,
    second: bool = False,
    calibration: Choice | None = None,
) -> list[Chunk]:
    return [
        Chunk(source, path, tuple(seeds[i : i + size]), second, calibration)
        for i in range(0, len(seeds), size)
    ]


def interleave(first: list[Chunk], seconds: list[Chunk]) -> list[Chunk]:
    """The re-runs spread among the first runs (the k-th of n after about k/n of
    them), so a re-run usually lands on another process than its seed's first run
    and the sweep's last minutes are not all re-runs."""
    out: list[Chunk] = []
    placed = 0
    for index, chunk in enumerate(first, start=1):
        out.append(chunk)
        due = len(seconds) * index // len(first)
        out.extend(seconds[placed:due])
        placed = due
    out.extend(seconds[placed:])
    return out
