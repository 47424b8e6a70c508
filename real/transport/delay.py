"""Latency added in userspace (``delay HOST 50ms`` on test hosts: this kernel has no
netem, real-backend.md §0): each message waits ``seconds`` after it is sent before it
goes on, in the order sent, whatever the delay was when later ones were sent (a FIFO
line with one timer, never a timer per message, whose ties asyncio would not order)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable


class DelayLine:
    def __init__(self) -> None:
        self.seconds = 0.0
        self._line: deque[tuple[float, Callable[[], None]]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def put(self, action: Callable[[], None]) -> None:
        """Run ``action`` after the delay (at once when there is none and nothing waits)."""
        if not self.seconds and not self._line:
            action()
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + self.seconds
        if self._line:  # never before what was sent earlier
            due = max(due, self._line[-1][0])
        self._line.append((due, action))
        if self._timer is None:
            self._timer = loop.call_at(due, self._release)

    def _release(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        while self._line and self._line[0][0] <= loop.time():
            _, action = self._line.popleft()
            action()
        if self._line:
            self._timer = loop.call_at(self._line[0][0], self._release)

    def close(self) -> None:
        """Drop what waits (the transport is closing)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._line.clear()
