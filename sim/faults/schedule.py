"""Fault schedules: random ones drawn from the seed, fixed timelines for scenarios.

The random schedule starts a fault every U(0.2, 1.0) x ``interval`` seconds (so at
least one per interval on average), picks the nemesis from the enabled ones, and
holds it for U(0.5, 3) x ``interval``. A fault whose family is already active
replaces the active one (which is stopped first). ``stop_all`` ends every fault
for the liveness phase.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING

import simpy

from sim.faults.nemesis import NEMESES, Nemesis

if TYPE_CHECKING:
    from sim.world import RaftWorld


class FaultEngine:
    def __init__(self, world: RaftWorld, rng: random.Random) -> None:
        self.world = world
        self.rng = rng
        self.nemeses: dict[str, Nemesis] = {}
        self.active: dict[str, tuple[Nemesis, int]] = {}  # family -> (nemesis, token)
        self.started: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self._tokens = 0

    def nemesis(self, name: str) -> Nemesis:
        if name not in self.nemeses:
            self.nemeses[name] = NEMESES[name]()
        return self.nemeses[name]

    def start(self, name: str, duration: float) -> bool:
        """Start ``name`` now for ``duration`` seconds; False if it did not apply."""
        world, nemesis = self.world, self.nemesis(name)
        if nemesis.family in self.active:
            self.stop(nemesis.family)
        effect = nemesis.start(world, self.rng)
        if effect is None:
            self.skipped[name] += 1
            world.trace.emit(world.env.now, "-", "fault-skipped", nemesis=name)
            return False
        self._tokens += 1
        token = self._tokens
        self.active[nemesis.family] = (nemesis, token)
        self.started[name] += 1
        world.trace.emit(world.env.now, "-", "fault", nemesis=name, duration=duration, **effect)
        end = world.env.timeout(duration)
        end.callbacks.append(lambda _event: self._expire(nemesis.family, token))
        return True

    def _expire(self, family: str, token: int) -> None:
        active = self.active.get(family)
        if active is not None and active[1] == token:
            self.stop(family)

    def stop(self, family: str) -> None:
        nemesis, _ = self.active.pop(family)
        nemesis.stop(self.world)
        self.world.trace.emit(self.world.env.now, "-", "fault-end", nemesis=nemesis.name)

    def stop_all(self) -> None:
        for family in sorted(self.active):
            self.stop(family)

    def run(self, names: Iterable[str], interval: float) -> Generator[simpy.Event, None, None]:
        """The random schedule, until the safety phase ends."""
        choices = sorted(set(names))
        env = self.world.env
        while True:
            yield env.timeout(self.rng.uniform(0.2, 1.0) * interval)
            if env.now >= self.world.config.safety_seconds:
                return
            name = choices[self.rng.randrange(len(choices))]
            self.start(name, self.rng.uniform(0.5, 3.0) * interval)

    def timeline(
        self, steps: Iterable[tuple[float, str, float]]
    ) -> Generator[simpy.Event, None, None]:
        """A fixed schedule: (at, nemesis, duration) in seconds of simulated time."""
        env = self.world.env
        for at, name, duration in sorted(steps):
            if at > env.now:
                yield env.timeout(at - env.now)
            self.start(name, duration)
