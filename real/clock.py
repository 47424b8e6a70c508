"""The clocks a real driver feeds its node: the machine's monotonic clock, and its wall
clock moved by an offset a test may step (``skew HOST +40s`` on test hosts), as an NTP
step would move it. The monotonic clock is never moved: ticks, timeouts and durations
keep their pace, as in the simulator (sim/clock.py)."""

from __future__ import annotations

import time


class DaemonClock:
    def __init__(self) -> None:
        self.offset = 0.0  # seconds the wall clock reads ahead of the machine's

    def mono(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time() + self.offset

    def step(self, seconds: float) -> None:
        """Step the wall clock by ``seconds`` (either way)."""
        self.offset += seconds

    def reset(self) -> None:
        """Back onto the machine's own wall clock."""
        self.offset = 0.0
