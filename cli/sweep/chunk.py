"""What a worker process runs: a chunk of seeds, one record each.

The scenario comes as its YAML text and is parsed once per process (the parse is
cached on the text), so a Dask worker on another machine runs it without the file.
A run that raises is recorded as a crash (:func:`cli.sweep.record.crashed`) rather
than losing the chunk: a sweep of 100,000 seeds reports the seed that found the bug.
"""

from __future__ import annotations

import functools
import time

from cli.scenario.runner import run
from cli.scenario.schema import Scenario, parse
from cli.sweep.plan import Chunk
from cli.sweep.record import Record, crashed, record


@functools.lru_cache(maxsize=4)
def scenario(source: str, path: str) -> Scenario:
    return parse(source, path)


def run_chunk(chunk: Chunk) -> list[Record]:
    """Every seed of the chunk run, in the chunk's order."""
    parsed = scenario(chunk.source, chunk.path)
    calibration = chunk.calibration.calibration() if chunk.calibration else None
    out = []
    for seed in chunk.seeds:
        started = time.perf_counter()
        try:
            report = run(parsed, seed, calibration=calibration)
        except Exception as error:  # a bug in shoal: keep the seed that shows it
            out.append(crashed(seed, error, time.perf_counter() - started))
        else:
            out.append(record(report, time.perf_counter() - started))
    return out
