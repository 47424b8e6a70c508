"""A host's two clocks as functions of simulated time.

Monotonic time drives ticks and timeouts; wall time stamps objects. Both run at
``1 + drift_ppm / 1e6`` times the simulated rate; skew and jumps move only the wall
clock (as NTP steps do); a monotonic clock never goes back. Each change re-anchors the
piecewise-linear mapping at the moment it happens, so the past is never rewritten.

A host's clock starts with its own small offset and drift (:meth:`HostClock.started`);
that starting state is the clock's *baseline*, the course it keeps when no fault
disturbs it, and :meth:`HostClock.reset` brings a disturbed clock back onto it.
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
    base_offset: float = 0.0  # the undisturbed course: offset at time 0 ...
    base_drift_ppm: float = 0.0  # ... and drift

    @classmethod
    def started(cls, offset: float, drift_ppm: float) -> HostClock:
        """A clock whose wall reads ``offset`` seconds off at time 0 and which runs
        ``drift_ppm`` fast (both clocks); that is its baseline."""
        if drift_ppm <= -1e6:
            raise ValueError(f"a clock cannot run at {drift_ppm} ppm: it would stop or run back")
        return cls(
            wall_at_anchor=WALL_EPOCH + offset,
            drift_ppm=drift_ppm,
            base_offset=offset,
            base_drift_ppm=drift_ppm,
        )

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

    def base_offset_at(self, now: float) -> float:
        """The offset the clock would show at ``now`` had nothing disturbed it."""
        return self.base_offset + now * self.base_drift_ppm / 1e6

    def reset(self, now: float) -> None:
        """Back onto the baseline from ``now`` on: its drift again, and the wall
        clock stepped to where the undisturbed clock would read (the monotonic clock
        keeps the time it has counted; it never goes back)."""
        self.set_drift(now, self.base_drift_ppm)
        self.skew_by(now, self.base_offset_at(now) - self.offset(now))

    def _reanchor(self, now: float) -> None:
        self.mono_at_anchor, self.wall_at_anchor = self.mono(now), self.wall(now)
        self.anchor = now
