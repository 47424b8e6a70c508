"""Judging a scenario's expectations, whatever runs the swarm: the verdicts, the
report, and the looks that settle them.

A runner (simulated: cli/scenario/runner.py, real: real/scenario/runner.py) calls
:meth:`Judge.look` at every look with a :class:`~cli.scenario.view.ClusterView`: a
``by`` expectation passes the first time it holds before its deadline, an ``at`` one
is judged at its instant (or the first look after it), an ``always`` one must hold
at every look of its window (from its start), a ``never`` one fails at the first
look of its window where it holds, and a ``measure`` one is judged off the looks
recorded when its window closes (at its ``until``, or at the end of the run).
``raft safety`` and ``task invariants`` are the runner's own checkers: a violation
of theirs stops the run, and :meth:`Judge.finish` fails the expectation that names
it (or, when none does, adds a failed verdict).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from cli.output.views import desired_count, running_count
from cli.scenario import quantities
from cli.scenario.conditions import BadCondition, Condition, read
from cli.scenario.metrics import Metrics, measure
from cli.scenario.schema import Expectation, Scenario, ScenarioError
from cli.scenario.view import ClusterView
from cli.timeline import Timeline
from core.errors import InvariantViolation
from core.model.service import Service
from core.model.task import Task
from core.tasks.states import TaskState
from sim.cluster_checks import TaskViolation
from sim.raft_checks import SafetyViolation

#: Seconds between looks (simulated or wall).
LOOK_EVERY = 0.5
#: Where in each period the looks fall: a quarter of the way, so that the looks of
#: a simulated run are not phase-locked with the swarm's own half-second timers
#: and with the commands the steps run on whole and half seconds (a look landing in
#: the 2 ms between a start-first task running and its predecessor told to stop saw
#: both, which real mode's looks, taken whenever the last one ends, never do).
LOOK_PHASE = 0.25


def next_look(now: float) -> float:
    """The first look instant after ``now``: ``LOOK_PHASE`` plus a whole number of
    ``LOOK_EVERY``."""
    periods = math.floor((now - LOOK_PHASE) / LOOK_EVERY + 1e-9) + 1
    return LOOK_PHASE + max(0, periods) * LOOK_EVERY


#: The verdict a runner adds when the swarm never formed.
FORMS = "the swarm forms"

CHECKED: dict[str, type[InvariantViolation]] = {
    "raft safety": SafetyViolation,
    "task invariants": TaskViolation,
}  # each checker expectation, and the violations that fail it


@dataclass
class Verdict:
    """One expectation's (or step's) outcome: when it was settled, and what was seen."""

    text: str
    passed: bool
    when: float | None = None
    seen: str = ""
    line: int | None = None


@dataclass
class Report:
    scenario: Scenario
    seed: int
    verdicts: list[Verdict] = field(default_factory=list)
    trace_hash: str = ""  # empty for a real run (wall time is not replayable)
    timeline: Timeline = field(default_factory=lambda: Timeline(title=""))  # for the plots

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)

    @property
    def metrics(self) -> Metrics:
        """What the run measured (leaderships, downtime, settling), from its looks."""
        return measure(self.timeline)


def conditions(scenario: Scenario) -> list[tuple[Expectation, Condition]]:
    """Every expectation read, or the file's mistake with its line."""
    out = []
    hosts = [name for name, _ in scenario.hosts]
    for expectation in scenario.expectations:
        try:
            condition = _read(expectation)
        except (BadCondition, quantities.BadQuantity) as error:
            raise ScenarioError(scenario.path, expectation.line, "expect", str(error)) from None
        if condition.host and condition.host not in hosts:
            raise ScenarioError(
                scenario.path,
                expectation.line,
                "expect",
                f"{expectation.check!r}: no such host {condition.host!r} "
                f"(the hosts are {', '.join(hosts)})",
            )
        out.append((expectation, condition))
    return out


def _read(expectation: Expectation) -> Condition:
    """A ``measure`` item's quantity, or a condition that its kind can judge: the
    runner's checkers watch every step of the whole run, so they take no window and
    cannot be 'never'."""
    if expectation.kind == "measure":
        return Condition(expectation.check, None, quantity=quantities.read(expectation.check))
    condition = read(expectation.check)
    if condition.checker and expectation.kind == "never":
        raise BadCondition(
            f"{expectation.check!r} is a checker's, not a condition: it cannot go under "
            f"never (say 'always: [{expectation.check}]')"
        )
    if condition.checker and (expectation.start or expectation.until is not None):
        raise BadCondition(f"{expectation.check!r} watches the whole run: it takes no window")
    return condition


def window(expectation: Expectation) -> str:
    """`` 30s..90s``, `` from 30s``, `` until 90s``, or nothing (the whole run)."""
    start, until = expectation.start, expectation.until
    if until is None:
        return f" from {start:g}s" if start else ""
    return f" {start:g}s..{until:g}s" if start else f" until {until:g}s"


def label(expectation: Expectation) -> str:
    if expectation.kind in ("by", "at"):
        since = f" from {expectation.start:g}s" if expectation.start else ""
        return f"{expectation.kind} {expectation.at:g}s{since}: {expectation.check}"
    return f"{expectation.kind}{window(expectation)}: {expectation.check}"


class Judge:
    """The expectations of one run, settled look by look."""

    def __init__(self, watched: list[tuple[Expectation, Condition]], report: Report) -> None:
        self.watched, self.report = watched, report
        self.settled: dict[int, Verdict] = {}

    def look(self, now: float, view: ClusterView) -> None:
        self.record(now, view)  # first: a measure closing now counts this look
        for index, (expectation, condition) in enumerate(self.watched):
            if index in self.settled or condition.checker:
                continue
            settled = self._judge(expectation, condition, now, view)
            if settled is not None:
                passed, seen = settled
                self.settled[index] = Verdict(
                    label(expectation), passed, now, seen, expectation.line
                )

    def _judge(
        self, expectation: Expectation, condition: Condition, now: float, view: ClusterView
    ) -> tuple[bool, str] | None:
        """The verdict this look settles (passed?, what was seen), if it settles one."""
        kind, at = expectation.kind, expectation.at
        if kind == "measure":
            assert condition.quantity is not None
            if expectation.until is None or now < expectation.until - 1e-9:
                return None
            return condition.quantity.judge(
                self.report.timeline, expectation.start, expectation.until
            )
        assert condition.probe is not None
        if kind in ("always", "never"):
            if not expectation.covers(now) or now < condition.after:
                return None
            holds, seen = condition.probe(view)
            breached = holds if kind == "never" else not holds
            return (False, seen) if breached else None
        assert at is not None
        if kind == "by" and expectation.covers(now) and now <= at + 1e-9:
            holds, seen = condition.probe(view)
            return (True, seen) if holds else None
        if kind == "at" and now >= at - 1e-9:
            # judged at its instant (or at the first look after it, when a step's
            # command held the run past it)
            return condition.probe(view)
        return None

    def instants(self) -> list[float]:
        """The instants a runner must look at: the ``at`` expectations', and where
        windows begin and end."""
        out = []
        for expectation, _ in self.watched:
            if expectation.kind == "at" and expectation.at is not None:
                out.append(expectation.at)
            if expectation.start:
                out.append(expectation.start)
            if expectation.until is not None:
                out.append(expectation.until)
        return sorted(out)

    def record(self, now: float, view: ClusterView) -> None:
        """The leader, and per service its running tasks, how many of them are up to
        date (an update's progress) and how many it should run: for the plots and
        the run's measures."""
        timeline = self.report.timeline
        timeline.looks.append((now, view.leader()))
        store = view.leader_store()
        if store is None:
            return
        services = {s.id: s for s in store.tables["services"].values() if isinstance(s, Service)}
        tasks: dict[str, list[Task]] = {service_id: [] for service_id in services}
        for task in store.tables["tasks"].values():
            if isinstance(task, Task) and task.service_id in services:
                tasks[task.service_id].append(task)
        for service_id, service in sorted(services.items(), key=lambda s: s[1].spec.name):
            running = [t for t in tasks[service_id] if t.status.state is TaskState.RUNNING]
            current = sum(1 for t in running if t.spec_version == service.spec_version)
            name = service.spec.name
            # REPLICAS' first figure, as 'service web running < 2' counts
            timeline.running.setdefault(name, []).append((now, running_count(tasks[service_id])))
            timeline.up_to_date.setdefault(name, []).append((now, current))
            desired = desired_count(service, tasks[service_id])
            timeline.desired.setdefault(name, []).append((now, desired))

    def finish(self, view: ClusterView, failure: InvariantViolation | None) -> None:
        """Every expectation's verdict into the report (``failure``: the checker
        violation that stopped the run, if one did)."""
        for index, (expectation, condition) in enumerate(self.watched):
            verdict = self.settled.get(index)
            if verdict is None:
                verdict = self._unsettled(expectation, condition, failure, view)
            self.report.verdicts.append(verdict)
        if failure is not None and not any(
            c.checker and isinstance(failure, CHECKED[c.text]) for _, c in self.watched
        ):  # a broken invariant no expectation names is a failed verdict all the same
            self.report.verdicts.append(Verdict("invariants hold", False, None, str(failure)))

    def _unsettled(
        self,
        expectation: Expectation,
        condition: Condition,
        failure: InvariantViolation | None,
        view: ClusterView,
    ) -> Verdict:
        text, line = label(expectation), expectation.line
        if condition.checker:  # did its own violation stop the run?
            broken = isinstance(failure, CHECKED[condition.text])
            return Verdict(text, not broken, None, str(failure) if broken else "", line)
        if failure is not None:
            return Verdict(text, False, None, f"the run stopped: {failure}", line)
        formed = all(v.text != FORMS for v in self.report.verdicts)
        if expectation.kind in ("always", "never", "measure") and not formed:
            return Verdict(text, False, None, "the swarm did not form", line)
        if expectation.kind in ("always", "never"):
            return Verdict(text, True, None, "", line)
        if condition.quantity is not None:  # a window still open when the run ended
            end = self.report.timeline.looks[-1][0] if self.report.timeline.looks else 0.0
            passed, seen = condition.quantity.judge(self.report.timeline, expectation.start, end)
            return Verdict(text, passed, end, seen, line)
        assert condition.probe is not None
        _, seen = condition.probe(view)
        return Verdict(text, False, None, f"not by {expectation.at:g}s: {seen}", line)


def close_fault(
    open_faults: list[tuple[float, str]], timeline: Timeline, what: str, now: float
) -> bool:
    """End the open fault ``what`` (begun at some instant) at ``now``, drawn on the
    plot's timeline; whether one was open."""
    closed = False
    for at, open_what in list(open_faults):
        if open_what == what:
            open_faults.remove((at, open_what))
            timeline.faults.append((at, now, what))
            closed = True
    return closed
