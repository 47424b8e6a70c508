"""A host's two clocks as functions of simulated time.

Monotonic time drives ticks and timeouts; wall time stamps objects. Both run at
``1 + drift_ppm / 1e6`` times the simulated rate; skew and jumps move only the wall
clock (as NTP steps do); a monotonic clock never goes back. Each change re-anchors the
piecewise-linear mapping at the moment it happens, so the past is never rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass

WALL_EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z: simulated wall clocks start here


@dataclass
class HostClock:
    anchor: float = 0.0  # simulated time of the last re-anchoring
    mono_at_anchor: float = 0.0
    wall_at_anchor: float = WALL_EPOCH
    drift_ppm: float = 0.0

    @property
    def rate(self) -> float:
        return 1.0 + self.drift_ppm / 1e6

    def mono(self, now: float) -> float:
        return self.mono_at_anchor + (now - self.anchor) * self.rate

    def wall(self, now: float) -> float:
        return self.wall_at_anchor + (now - self.anchor) * self.rate

    def sim_time_at_mono(self, mono: float, now: float) -> float:
        """When (in simulated time, never before ``now``) this host's monotonic
        clock reads ``mono``."""
        return max(now, self.anchor + (mono - self.mono_at_anchor) / self.rate)

    def skew_by(self, now: float, seconds: float) -> None:
        """Step the wall clock by ``seconds`` (either way)."""
        self._reanchor(now)
        self.wall_at_anchor += seconds

    def set_drift(self, now: float, ppm: float) -> None:
        if ppm <= -1e6:
            raise ValueError(f"a clock cannot run at {ppm} ppm: it would stop or run back")
        self._reanchor(now)
        self.drift_ppm = ppm

    def offset(self, now: float) -> float:
        """Wall clock minus the true (simulated) wall time."""
        return self.wall(now) - (WALL_EPOCH + now)

    def _reanchor(self, now: float) -> None:
        self.mono_at_anchor, self.wall_at_anchor = self.mono(now), self.wall(now)
        self.anchor = now
