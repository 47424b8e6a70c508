"""The core's timers: a heap ordered by (deadline, sequence), as DESIGN.md's driver
contract asks. A component keeps one of these; the driver arms a single wake-up at
:attr:`TimerHeap.next_deadline` and hands the time back, and the component pops
what is due. One live timer per key: arming a key again replaces its timer (the
old heap entry is skipped when it surfaces), so rescheduling is O(log n).
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class TimerHeap(Generic[K]):
    """Deadlines by key. Invariant: ``_live[key]`` is the sequence number of the
    key's only valid heap entry."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K]] = []
        self._live: dict[K, int] = {}
        self._sequence = 0

    def arm(self, key: K, deadline: float) -> None:
        self._sequence += 1
        self._live[key] = self._sequence
        heapq.heappush(self._heap, (deadline, self._sequence, key))

    def cancel(self, key: K) -> None:
        self._live.pop(key, None)

    def armed(self, key: K) -> bool:
        return key in self._live

    @property
    def next_deadline(self) -> float | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[K]:
        """The keys whose deadline is at or before ``now``, earliest first (ties in
        the order they were armed); they are disarmed."""
        heap = self._heap
        if not heap or heap[0][0] > now:
            return []  # nothing due, stale or live: the common case, asked every step
        due: list[K] = []
        while True:
            self._drop_stale()
            if not heap or heap[0][0] > now:
                return due
            _, _, key = heapq.heappop(heap)
            del self._live[key]
            due.append(key)

    def __len__(self) -> int:
        return len(self._live)

    def _drop_stale(self) -> None:
        heap = self._heap
        while heap and self._live.get(heap[0][2]) != heap[0][1]:
            heapq.heappop(heap)
