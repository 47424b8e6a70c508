"""Work a host does in turn: each job waits its place, then takes its ``latency``
(waiting that burns no CPU) and its ``cpu`` seconds of work on a shared
:class:`~sim.cpu.CpuPool`.

A host's dockerd carries out a few operations at once (sim/dockerd.py); its data
plane programs one thing at a time under one lock (sim/dataplane.py). Both are this
queue with a different ``concurrency``. A job that costs nothing is done at once, so a
free model leaves a run exactly as it was before the work had a cost.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import simpy

from sim.cpu import CpuJob, CpuPool


@dataclass(frozen=True)
class OpCost:
    """One job: ``latency`` seconds of waiting, ``cpu`` seconds of work."""

    latency: float = 0.0
    cpu: float = 0.0

    @property
    def free(self) -> bool:
        return self.latency <= 0 and self.cpu <= 0

    def __add__(self, other: OpCost) -> OpCost:
        return OpCost(self.latency + other.latency, self.cpu + other.cpu)


#: A job's cost, or how to work it out when the job's turn comes.
Cost = OpCost | Callable[[], OpCost]


class CostQueue:
    """Jobs carried out ``concurrency`` at a time, in the order they were given."""

    def __init__(self, env: simpy.Environment, concurrency: int, cores: CpuPool | None) -> None:
        self.env = env
        self.concurrency = concurrency
        self.cores = cores
        self.queue: deque[tuple[Cost, Callable[[], None]]] = deque()
        self.active: list[CpuJob] = []
        self.busy = 0  # jobs under way
        self.life = 0  # a crash ends what was under way

    def run(self, cost: Cost, then: Callable[[], None]) -> None:
        """Do a job of ``cost``, then call ``then`` (at once if it is free)."""
        if isinstance(cost, OpCost) and cost.free:
            then()
            return
        self.queue.append((cost, then))
        self._pump()

    def crash(self) -> None:
        """The process died: what waited is dropped, what ran frees its cores."""
        self.life += 1
        self.queue.clear()
        for job in self.active:
            if self.cores is not None:
                self.cores.cancel(job)
        self.active.clear()
        self.busy = 0

    def _pump(self) -> None:
        while self.queue and self.busy < self.concurrency:
            wanted, then = self.queue.popleft()
            cost = wanted if isinstance(wanted, OpCost) else wanted()
            self.busy += 1
            self.env.timeout(cost.latency).callbacks.append(
                functools.partial(self._waited, cost, then, self.life)
            )

    def _waited(self, cost: OpCost, then: Callable[[], None], life: int, _event: object) -> None:
        if self.life == life:
            self._work(cost, then)

    def _work(self, cost: OpCost, then: Callable[[], None]) -> None:
        if cost.cpu <= 0 or self.cores is None:
            self._done(None, then)
            return
        job = self.cores.run(cost.cpu, lambda: self._done(job, then))
        self.active.append(job)

    def _done(self, job: CpuJob | None, then: Callable[[], None]) -> None:
        if job is not None:
            self.active.remove(job)
        self.busy -= 1
        then()
        self._pump()
