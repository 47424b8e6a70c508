"""The machine's CPU time, to tell work from waiting when timing real operations
(``shoal real calibrate``: real/calibrate.py, real/dataplane_costs.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from sim.costqueue import OpCost


def busy_seconds() -> float:
    """CPU-seconds the whole machine has spent busy since boot (all cores, kernel too)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    """A run of ``count`` operations: its wall time and the machine's CPU time for it."""

    wall: float
    busy: float
    count: int

    def cost(self, op_cores: float) -> OpCost:
        """One operation: its work, and as waiting what its wall time has beyond that
        work done on ``op_cores`` cores."""
        wall, cpu = self.wall / self.count, max(0.0, self.busy / self.count)
        return OpCost(latency=max(0.0, wall - cpu / op_cores), cpu=cpu)


class Meter:
    """Times work against the machine's CPU, less what the machine burns when idle."""

    def __init__(self, idle_rate: float) -> None:
        self.idle_rate = idle_rate

    @classmethod
    def settled(cls, seconds: float = 1.0) -> Meter:
        before, start = busy_seconds(), time.monotonic()
        time.sleep(seconds)
        return cls((busy_seconds() - before) / (time.monotonic() - start))

    def run(self, count: int, work: Callable[[], None]) -> Sample:
        before, start = busy_seconds(), time.monotonic()
        work()
        wall = time.monotonic() - start
        return Sample(wall, busy_seconds() - before - self.idle_rate * wall, count)
