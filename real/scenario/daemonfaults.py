"""The faults a test host's daemon should have (``delay``, ``skew``, ``stall-disk``) and
the test-only requests (real/testfaults.py) that give a daemon exactly those, whatever it
had: a daemon that died has none, one that was paused missed what was asked meanwhile,
so the requests are derived from the wanted state, never replayed."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class DaemonFaults:
    delay: float = 0.0  # seconds added to what it sends
    offset: float = 0.0  # seconds its wall clock is stepped by (the skews added up)
    stalled: bool = False

    def with_fault(self, verb: str, amount: float) -> DaemonFaults:
        """After the scenario's ``verb`` with ``amount`` (0: its end)."""
        if verb == "delay":
            return replace(self, delay=amount)
        if verb == "skew":
            return replace(self, offset=self.offset + amount if amount else 0.0)
        if verb == "stall-disk":
            return replace(self, stalled=bool(amount))
        raise ValueError(f"not a daemon fault: {verb}")

    def requests(self, only: str = "") -> list[tuple[str, float]]:
        """(fault, amount) requests that leave a daemon with exactly these faults (of
        ``only`` that one, if given): a skew is a reset, then one step."""
        wanted = [("delay", self.delay), ("skew", 0.0)]
        if self.offset:
            wanted.append(("skew", self.offset))
        wanted.append(("stall-disk", 1.0 if self.stalled else 0.0))
        return [(verb, amount) for verb, amount in wanted if not only or verb == only]
