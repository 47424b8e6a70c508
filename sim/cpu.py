"""Cores shared by processor sharing: what makes container starts slow down together.

A real dockerd spends CPU on every container it creates, starts, stops and removes;
when several dockerds (test hosts on one machine) or several operations run at once,
they share the cores. With ``n`` jobs on ``c`` cores each job progresses at
``min(j, c / n)`` seconds of work per second, ``j`` being how many cores one job can
keep busy at once (dockerd, containerd and runc work on one container side by side:
about 1.3 here), so a burst of ``k`` starts of ``w`` seconds of work each ends after
about ``k * w / c`` seconds, as measured here.

Jobs finishing at one instant are told in the order they were given, and every
change re-plans a single timer (stale timers are recognised by a generation), so
the pool is as deterministic as the rest of the simulation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import simpy

#: Work below this many seconds counts as done (float rounding of ``remaining``).
DONE_BELOW = 1e-9


@dataclass
class CpuJob:
    seq: int
    remaining: float  # seconds of one core's work still to do
    done: Callable[[], None]


class CpuPool:
    """``cores`` cores shared equally by the jobs running on them, each job using at most
    ``job_cores`` of them."""

    def __init__(self, env: simpy.Environment, cores: float, job_cores: float = 1.0) -> None:
        if cores <= 0 or job_cores <= 0:
            raise ValueError(f"a CPU pool needs cores, not {cores} (and {job_cores} a job)")
        self.env = env
        self.cores = cores
        self.job_cores = job_cores
        self.jobs: dict[int, CpuJob] = {}
        self._seq = 0
        self._stamp = 0.0  # when ``remaining`` was last brought up to date
        self._generation = 0
        self.busy_seconds = 0.0  # core-seconds of work done, for tests and reports

    def rate(self) -> float:
        """Seconds of work each job does per second now."""
        return min(self.job_cores, self.cores / len(self.jobs)) if self.jobs else 0.0

    def run(self, work: float, done: Callable[[], None]) -> CpuJob:
        """Do ``work`` seconds of one core's work among the others; ``done`` after."""
        self._advance()
        self._seq += 1
        job = CpuJob(self._seq, max(0.0, work), done)
        self.jobs[job.seq] = job
        self._plan()
        return job

    def cancel(self, job: CpuJob) -> None:
        """Drop a job (its host died): it is never told, and frees its share."""
        if job.seq in self.jobs:
            self._advance()
            del self.jobs[job.seq]
            self._plan()

    def _advance(self) -> None:
        now = float(self.env.now)
        elapsed, self._stamp = now - self._stamp, now
        if elapsed <= 0 or not self.jobs:
            return
        step = elapsed * self.rate()
        for job in self.jobs.values():
            self.busy_seconds += min(step, job.remaining)
            job.remaining -= step

    def _plan(self) -> None:
        self._generation += 1
        if not self.jobs:
            return
        generation = self._generation
        soonest = min(job.remaining for job in self.jobs.values()) / self.rate()
        self.env.timeout(max(0.0, soonest)).callbacks.append(lambda _e: self._due(generation))

    def _due(self, generation: int) -> None:
        if generation != self._generation:
            return
        self._advance()
        finished = [job for job in self.jobs.values() if job.remaining <= DONE_BELOW]
        if not finished:  # rounding left the soonest a hair short: finish it now
            finished = [min(self.jobs.values(), key=lambda j: (j.remaining, j.seq))]
        for job in finished:
            del self.jobs[job.seq]
        self._plan()
        for job in finished:  # in the order given (dict order is insertion order)
            job.done()
