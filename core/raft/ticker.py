"""Turns a host's monotonic time into Raft ticks, with a Go ticker's behaviour.

The driver passes the monotonic time in and arms one wake-up for ``next_deadline``.
After a stall (a paused process, a starved loop) a Go ``time.Ticker`` delivers one
tick, not the backlog, and then keeps its original phase: a node that slept through
ten ticks does not fire ten election timeouts at once.
"""

from __future__ import annotations

import math

from core.errors import InvalidSpec


class Ticker:
    def __init__(self, interval: float, start: float) -> None:
        if not interval > 0:
            raise InvalidSpec("tick interval", interval, "must be positive")
        self.interval = interval
        self.next_deadline = start + interval

    def advance(self, mono: float) -> int:
        """How many ticks to deliver now (0 or 1)."""
        # A wake-up armed for a deadline may read a clock a rounding error short.
        slack = self.interval * 1e-9
        if mono < self.next_deadline - slack:
            return 0
        missed = max(0, math.floor((mono + slack - self.next_deadline) / self.interval))
        self.next_deadline += (missed + 1) * self.interval
        return 1
