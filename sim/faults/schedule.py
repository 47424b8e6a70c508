"""Fault schedules: random ones drawn from the seed, fixed timelines for scenarios.

The random schedule starts a fault every U(0.2, 1.0) x ``interval`` seconds, so
never more than ``interval`` apart, and holds it for U(0.5, 3) x ``interval``. It
picks the nemesis from the enabled ones; when the pick cannot fire right now (no
leader to crash, the quorum budget spent) it draws another of the rest instead of
leaving a gap, so with any always-applicable nemesis enabled (a partition, a burst,
a clock fault) there is a fault start at least once per ``interval``. A fault whose
family is already active replaces the active one (which is stopped first).
``stop_all`` ends every fault for the liveness phase.

Randomness: the schedule (when, which, how long) draws from the stream it is given;
each nemesis draws its victims and magnitudes from its own ``nemesis/<name>`` stream,
so enabling one more nemesis does not change what the others do once chosen.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import simpy

from sim.faults.nemesis import Nemesis
from sim.trace import Trace

if TYPE_CHECKING:
    from sim.streams import Streams

Step = tuple[float, str, float]  # (at, nemesis, duration), seconds of simulated time


class FaultWorld(Protocol):
    """What the engine needs of a world: its clock and its trace."""

    @property
    def env(self) -> simpy.Environment: ...

    @property
    def trace(self) -> Trace: ...


W = TypeVar("W", bound=FaultWorld)


class FaultEngine(Generic[W]):
    def __init__(
        self,
        world: W,
        rng: random.Random,
        streams: Streams,
        registry: Mapping[str, Callable[[], Nemesis[W]]],
        safety_seconds: float,
    ) -> None:
        """``rng``: the schedule's own stream; ``streams``: where each nemesis's
        ``nemesis/<name>`` stream comes from (on first use); ``registry``: the
        nemeses by name; the random schedule ends at ``safety_seconds``."""
        self.world = world
        self.rng = rng
        self.streams = streams
        self.registry = registry
        self.safety_seconds = safety_seconds
        self.nemeses: dict[str, tuple[Nemesis[W], random.Random]] = {}
        self.active: dict[str, tuple[Nemesis[W], int]] = {}  # family -> (nemesis, token)
        self.started: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.starts: list[tuple[float, str]] = []  # (when, nemesis) of every fault started
        self._tokens = 0

    def nemesis(self, name: str) -> Nemesis[W]:
        return self._nemesis(name)[0]

    def _nemesis(self, name: str) -> tuple[Nemesis[W], random.Random]:
        if name not in self.nemeses:
            self.nemeses[name] = (self.registry[name](), self.streams.child(f"nemesis/{name}"))
        return self.nemeses[name]

    def start(self, name: str, duration: float) -> bool:
        """Start ``name`` now for ``duration`` seconds; False if it did not apply."""
        world = self.world
        nemesis, rng = self._nemesis(name)
        if nemesis.family in self.active:
            self.stop(nemesis.family)
        effect = nemesis.start(world, rng)
        if effect is None:
            self.skipped[name] += 1
            world.trace.emit(world.env.now, "-", "fault-skipped", nemesis=name)
            return False
        self._tokens += 1
        token = self._tokens
        self.active[nemesis.family] = (nemesis, token)
        self.started[name] += 1
        self.starts.append((world.env.now, name))
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

    def start_one_of(self, names: list[str], duration: float) -> str | None:
        """Start one of ``names`` (sorted), drawn at random; a draw that cannot fire
        is followed by a draw from the rest. The one started, or None if none could."""
        remaining = list(names)
        while remaining:
            name = remaining.pop(self.rng.randrange(len(remaining)))
            if self.start(name, duration):
                return name
        return None

    def run(self, names: Iterable[str], interval: float) -> Generator[simpy.Event, None, None]:
        """The random schedule, until the safety phase ends."""
        choices = sorted(set(names))
        env = self.world.env
        while True:
            yield env.timeout(self.rng.uniform(0.2, 1.0) * interval)
            if env.now >= self.safety_seconds:
                return
            self.start_one_of(choices, self.rng.uniform(0.5, 3.0) * interval)

    def timeline(self, steps: Iterable[Step]) -> Generator[simpy.Event, None, None]:
        """A fixed schedule: (at, nemesis, duration) in seconds of simulated time.
        A step that cannot fire at its time (say, no leader to crash) is skipped and
        traced as such; a timeline is what it says, nothing is drawn in its place."""
        env = self.world.env
        for at, name, duration in sorted(steps):
            if at > env.now:
                yield env.timeout(at - env.now)
            self.start(name, duration)
