"""What a run looked like over time, for plots: running tasks per service, the
fault windows and the leaderships. Made from a scenario's report as it runs, or
read back from the run's trace (``--trace run.jsonl``), so a notebook can draw a
run long after it happened.

Times are seconds from the scenario's start (the swarm formed), the trace's
``scenario`` line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Timeline:
    title: str
    simulated: float = 0.0
    running: dict[str, list[tuple[float, int]]] = field(default_factory=dict)  # service
    # of those, the tasks of the service's current spec: a rolling update's progress
    up_to_date: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    # the tasks it should run (REPLICAS' second figure), at the same looks
    desired: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    looks: list[tuple[float, str]] = field(default_factory=list)  # when, the leader ("": none)
    faults: list[tuple[float, float, str]] = field(default_factory=list)  # start, end, what
    leaders: list[tuple[float, str]] = field(default_factory=list)  # when, host
    initial_leader: str = ""  # the leader when the scenario started

    def election_latencies(self) -> list[float]:
        """Seconds from a fault on the leader of the time to the next leader."""
        out = []
        for start, _, what in self.faults:
            holder = _leader_at([(0.0, self.initial_leader), *self.leaders], start)
            if holder is None or not what.endswith(f" {holder}"):
                continue
            later = [t for t, host in self.leaders if t > start and host != holder]
            if later:
                out.append(min(later) - start)
        return out


def _leader_at(leaders: list[tuple[float, str]], when: float) -> str | None:
    before = [host for t, host in leaders if t <= when]
    return before[-1] if before else None


def read_trace(path: str | Path) -> Timeline:
    with open(path, encoding="utf-8") as lines:
        return from_records(json.loads(line) for line in lines if line.strip())


def from_records(records: Iterable[dict[str, object]]) -> Timeline:
    """A timeline from trace records (tasks, leaders, the scenario's faults)."""
    timeline = Timeline(title="")
    start: float | None = None
    names: dict[str, str] = {}  # service id -> a name (the trace knows ids)
    states: dict[str, tuple[str, str]] = {}  # task id -> (service, state)
    opened: dict[str, float] = {}
    leaders: list[tuple[float, str]] = []
    last = 0.0
    for record in records:
        kind, t = record["kind"], float(record["t"])  # type: ignore[arg-type]
        if kind == "scenario":
            start = t
            timeline.title = f"{record['name']} (seed {record['seed']})"
            continue
        if start is None:
            if kind == "leader":
                leaders.append((t, str(record["host"])))
            continue
        now = t - start
        last = max(last, now)
        if kind == "task":
            service = str(record["service"])
            names.setdefault(service, f"service {len(names) + 1}")
            states[str(record["id"])] = (service, str(record["state"]))
            count = sum(1 for s, state in states.values() if s == service and state == "RUNNING")
            timeline.running.setdefault(names[service], []).append((now, count))
        elif kind == "leader":
            timeline.leaders.append((now, str(record["host"])))
        elif kind == "fault":
            opened[str(record["what"])] = now
        elif kind == "fault-end":
            what = str(record["what"])
            timeline.faults.append((opened.pop(what, now), now, what))
    timeline.faults += [(at, last, what) for what, at in sorted(opened.items())]
    timeline.simulated = last
    timeline.initial_leader = leaders[-1][1] if leaders else ""
    return timeline
