"""The one timing loop the benchmark scripts share (imported as a sibling module,
since each script runs as ``python benchmarks/<name>.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable


def rate(action: Callable[[], object], seconds: float) -> float:
    """Calls of ``action`` per wall second, measured over about ``seconds``."""
    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(100):
            action()
        count += 100
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started)
