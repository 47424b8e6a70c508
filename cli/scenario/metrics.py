"""What a scenario run measured, from the looks its judge recorded: the figures a
sweep gathers over thousands of seeds (how often leadership changed, how long a
service was down, how long the swarm took to settle once the faults were over).

Every figure is read off the looks (every 0.5 s, and at every step): between two
looks, what the earlier one saw is taken to hold. Times are seconds from the
scenario's start. Leadership is what the looks saw too (a simulated and a real run
count alike): an election is a look that sees a leader the look before it did not
(after none, or another host), a leader change one that sees a host other than the
last leader seen; a leadership lost and won back between two looks is not seen.
The same functions measure a ``measure:`` expectation's window
(:mod:`cli.scenario.quantities`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from cli.timeline import Timeline

Samples = Sequence[tuple[float, int]]


@dataclass(frozen=True)
class Metrics:
    elections: int  # leaderships won, as looks see them (see the module's docstring)
    leader_changes: int  # the looks that saw leadership move to another host
    leaderless_s: float  # how long no manager led
    downtime_s: dict[str, float] = field(default_factory=dict)  # service: no task running
    max_outage_s: dict[str, float] = field(default_factory=dict)  # its longest such stretch
    # seconds from the end of the last fault until every service ran what it should
    # from then on (None: it did not by the end; 0: no fault ever ended)
    converged_s: float | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "elections": self.elections,
            "leader_changes": self.leader_changes,
            "leaderless_s": self.leaderless_s,
            "downtime_s": dict(sorted(self.downtime_s.items())),
            "max_outage_s": dict(sorted(self.max_outage_s.items())),
            "converged_s": self.converged_s,
        }


def stretches(
    samples: Sequence[tuple[float, object]],
    holds: Callable[[int], bool],
    start: float,
    end: float,
) -> list[tuple[float, float]]:
    """The stretches of [start, end] in which ``holds`` held of the looks' samples
    (each sample lasting until the next look; the last until ``end``)."""
    out: list[tuple[float, float]] = []
    for index, (when, _) in enumerate(samples):
        until = samples[index + 1][0] if index + 1 < len(samples) else end
        begin, finish = max(when, start), min(until, end)
        if finish <= begin or not holds(index):
            continue
        if out and abs(out[-1][1] - begin) < 1e-9:
            out[-1] = (out[-1][0], finish)
        else:
            out.append((begin, finish))
    return out


def outages(
    running: Samples, desired: Samples, start: float, end: float
) -> list[tuple[float, float]]:
    """When a service that had been up ran no task although it should run some."""
    first_up = next((t for t, n in running if n > 0), None)
    if first_up is None:
        return []

    def down(index: int) -> bool:
        wanted = desired[index][1] if index < len(desired) else 1
        return running[index][1] == 0 and wanted > 0 and running[index][0] >= first_up

    return stretches(running, down, start, end)


def leaderless(
    looks: Sequence[tuple[float, str]], start: float, end: float
) -> list[tuple[float, float]]:
    return stretches(looks, lambda index: looks[index][1] == "", start, end)


def within(when: float, start: float, end: float) -> bool:
    return start - 1e-9 <= when <= end + 1e-9


def elections(
    looks: Sequence[tuple[float, str]], start: float, end: float
) -> list[tuple[float, str]]:
    """The looks in [start, end] that saw a leader the look before did not: (when,
    who). The first look is where counting starts, not an election."""
    return [
        (when, host)
        for (_, before), (when, host) in pairwise(looks)
        if host and host != before and within(when, start, end)
    ]


def leader_changes(
    looks: Sequence[tuple[float, str]], start: float, end: float
) -> list[tuple[float, str, str]]:
    """The looks in [start, end] whose leader is another host than the last leader
    seen before (from before the window too): (when, from, to). A leader that lost
    its leadership and won it back changed nothing."""
    out: list[tuple[float, str, str]] = []
    last = ""
    for when, host in looks:
        if host and last and host != last and within(when, start, end):
            out.append((when, last, host))
        last = host or last
    return out


def counts(samples: Samples, start: float, end: float) -> list[tuple[float, int]]:
    """The counts in force at some instant of [start, end], each with the instant
    it took effect there; before its first sample a service ran nothing."""
    out: list[tuple[float, int]] = []
    if not samples or samples[0][0] > start + 1e-9:
        out.append((start, 0))
    for index, (when, count) in enumerate(samples):
        until = samples[index + 1][0] if index + 1 < len(samples) else end
        if when <= end + 1e-9 and (until > start + 1e-9 or index + 1 == len(samples)):
            out.append((max(when, start), count))
    return out


def converged_after(timeline: Timeline) -> float | None:
    """Seconds from the last fault's end to the first look from which every service
    ran what it should through the end of the run."""
    healed = max((end for _, end, _ in timeline.faults), default=0.0)
    settled_at: dict[float, bool] = {}  # look: every service ran what it should
    for name, running in timeline.running.items():
        desired = timeline.desired.get(name, [])
        for index, (when, count) in enumerate(running):
            wanted = desired[index][1] if index < len(desired) else count
            settled_at[when] = settled_at.get(when, True) and count == wanted
    settled: float | None = None
    for when in sorted(settled_at):
        if when < healed - 1e-9:
            continue
        if not settled_at[when]:
            settled = None
        elif settled is None:
            settled = when
    return None if settled is None else round(max(0.0, settled - healed), 6)


def measure(timeline: Timeline) -> Metrics:
    end = timeline.simulated
    downtime: dict[str, float] = {}
    longest: dict[str, float] = {}
    for name in sorted(timeline.running):
        down = outages(timeline.running[name], timeline.desired.get(name, []), 0.0, end)
        downtime[name] = round(sum((b - a for a, b in down), 0.0), 6)
        longest[name] = round(max((b - a for a, b in down), default=0.0), 6)
    return Metrics(
        elections=len(elections(timeline.looks, 0.0, end)),
        leader_changes=len(leader_changes(timeline.looks, 0.0, end)),
        leaderless_s=round(sum((b - a for a, b in leaderless(timeline.looks, 0.0, end)), 0.0), 6),
        downtime_s=downtime,
        max_outage_s=longest,
        converged_s=converged_after(timeline) if timeline.running else None,
    )
