"""A simulated swarm that a test drives one step at a time, in Docker's words, and
that writes down what it did as a scenario file ``shoal sim run`` replays.

Each call is a scenario step at the swarm's current instant (the next half second
once an instant has been looked at), run by the scenario runner itself
(:class:`cli.scenario.runner.ScenarioRun`): so the scenario it writes is not a
description of the test but the same run, which replays to the same trace hash.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from functools import partial
from types import TracebackType
from typing import Self

from cli.output.views import running_count
from cli.scenario.conditions import read
from cli.scenario.judging import LOOK_EVERY, Report, Verdict, conditions
from cli.scenario.runner import ScenarioRun, scenario_world
from cli.scenario.schema import SECONDS_MAX, Expectation, Scenario, ScenarioError, Step, parse
from cli.scenario.view import SimView
from cli.scenario.writing import dump
from cli.timeline import Timeline
from core.errors import InvariantViolation
from core.model.service import Service
from core.model.task import Task
from shoal.testing.strategies import TimedFault
from sim.cluster import ClusterWorld
from sim.executor import ImageBehaviour

CHECKERS = ("raft safety", "task invariants")


class SwarmFailure(AssertionError):
    """The swarm broke a rule a test relies on; the message ends with the scenario
    that replays the run so far (``shoal sim run FILE``)."""

    def __init__(self, problem: str, scenario: str) -> None:
        self.problem, self.scenario = problem, scenario
        super().__init__(
            f"{problem}\n\nreplay it with `shoal sim run FILE`, FILE being:\n\n{scenario}"
        )


class SimSwarm:
    """``managers`` managers and ``workers`` workers formed into a swarm (time 0),
    watched throughout by the Raft and task checkers.

    >>> with SimSwarm(managers=3, workers=2, seed=7) as swarm:
    ...     swarm.docker("service create --name web --replicas 4 nginx")
    ...     swarm.wait_for("service web running 4/4", within=30)
    """

    def __init__(
        self,
        managers: int = 3,
        workers: int = 3,
        *,
        seed: int = 1,
        name: str = "a swarm driven by a test",
        images: Mapping[str, ImageBehaviour] | None = None,
        labels: Mapping[str, Mapping[str, str]] | None = None,
        mutations: Iterable[str] = (),
        files: Mapping[str, str] | None = None,
    ) -> None:
        if managers < 1 or workers < 0:
            raise ValueError(
                f"a swarm has 1 manager or more and 0 workers or more, not {managers} and {workers}"
            )
        hosts = tuple((f"manager-{i}", True) for i in range(1, managers + 1))
        hosts += tuple((f"worker-{i}", False) for i in range(1, workers + 1))
        self._base = Scenario(
            path="<shoal.testing>",
            name=name,
            seed=seed,
            managers=managers,
            workers=workers,
            hosts=hosts,
            labels={h: dict(v) for h, v in sorted((labels or {}).items())},
            images=dict(images or {}),
            expectations=tuple(Expectation("always", c) for c in CHECKERS),
            duration=SECONDS_MAX,  # open-ended: the written scenario ends where the test did
            mutations=tuple(mutations),
            files=dict(files or {}),
        )
        self.seed = seed
        self.world: ClusterWorld = scenario_world(self._base, seed, None)
        self.report = Report(self._base, seed, timeline=Timeline(f"{name} (seed {seed})"))
        watched = [(e, read(e.check)) for e in self._base.expectations]
        self._run = ScenarioRun(self.world, self._base, watched, self.report, None)
        self._steps: list[Step] = []
        self._expectations: list[Expectation] = list(self._base.expectations)
        self.broken: InvariantViolation | None = None
        self._watching: list[tuple[Callable[[], Verdict | None], str]] = []
        self._finished = False
        self._guard(self._run.begin)
        formed = [v for v in self.report.verdicts if not v.passed]
        if formed:  # a planted bug can keep the swarm from forming
            raise self._failure(f"{formed[0].text}: {formed[0].seen}")

    # -- what a test does --------------------------------------------------------------

    @property
    def now(self) -> float:
        """Seconds since the swarm formed (the scenario's clock)."""
        return self.world.env.now - self._run.start

    def docker(
        self, command: str, *, on: str = "", fails: bool = False, check: bool = True
    ) -> bool:
        """Run a docker command line (``service create --name web nginx``) on ``on``
        (default the leader) and wait for the manager's answer; whether it did what
        was asked (refused, with ``fails``). A refusal raises :class:`SwarmFailure`
        unless ``check`` is false."""
        verdict = self._add(Step(at=self._next_instant(), run=command, on=on, fails=fails))
        if verdict is not None and check:
            raise self._failure(f"`{command}`: {verdict.seen}")
        return verdict is None

    def fault(self, fault: str, *, lasting: float | None = None) -> bool:
        """A scenario fault (``isolate leader``, ``crash worker-1``, ``kill web.2``,
        ``partition majority-ring`` …), undone after ``lasting`` seconds; whether it
        could strike."""
        step = Step(at=self._next_instant(), fault=fault, duration=_millis(lasting))
        return self._add(step) is None

    def play(self, schedule: Iterable[TimedFault]) -> None:
        """Strike each fault of ``schedule`` (:func:`shoal.testing.strategies.fault_schedules`)
        at its instant from now; two at one instant strike half a second apart. A
        fault that cannot strike (no leader, just then) fails its step's verdict, as
        in a scenario, and the schedule goes on."""
        start = self._next_instant()
        for timed in schedule:
            at = max(round(start + timed.at, 3), self._next_instant())
            self._add(Step(at=at, fault=timed.fault, duration=_millis(timed.lasting)))

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass (whole milliseconds)."""
        _check_seconds("wait", seconds, least=0.0)
        self._usable()
        self._guard(lambda: self._run.advance(round(self.now + seconds, 3)))

    def wait_for(self, condition: str, within: float) -> float:
        """Look every half second until ``condition`` holds (any scenario
        expectation); when it first did. The wait is an expectation of the written
        scenario (``by`` the deadline, looked for from the next instant), so a replay
        judges it as the test did; not holding within ``within`` seconds raises
        :class:`SwarmFailure`."""
        _check_seconds("within", within)
        start = self._next_instant()
        deadline = round(start + within, 3)
        verdict = self._expect(Expectation("by", condition, at=deadline, start=start))
        run = self._run
        while verdict() is None and self.now < deadline - 1e-9:
            target = min(run.next_stop(run.now) if run.looked else run.now, deadline)
            self._guard(partial(run.advance, target))
        settled = verdict()
        if settled is None or not settled.passed:
            probe = read(condition).probe
            seen = probe(SimView(self.world))[1] if probe is not None else ""
            raise self._failure(f"{condition!r} did not hold within {within:g}s: {seen}")
        assert settled.when is not None
        return settled.when

    def never(self, condition: str, *, lasting: float | None = None) -> None:
        """From the next instant on (for ``lasting`` seconds, or to the end),
        ``condition`` must not hold at any look: judged as the run goes, and a
        ``never`` of the written scenario. A breach raises :class:`SwarmFailure`
        at the next call that runs the swarm, or at :meth:`finish`."""
        self._window("never", condition, lasting)

    def always(self, condition: str, *, lasting: float | None = None) -> None:
        """From the next instant on, ``condition`` must hold at every look (see
        :meth:`never`)."""
        self._window("always", condition, lasting)

    def holds(self, condition: str) -> bool:
        """Whether ``condition`` holds now (a look, written down as nothing)."""
        probe = read(condition).probe
        if probe is None:
            return self.broken is None
        return probe(SimView(self.world))[0]

    def running(self, service: str) -> int:
        """Running tasks of ``service`` now, as ``docker service ls`` counts them
        (REPLICAS' first figure: running and still meant to)."""
        store = self.world.leader_store()
        if store is None:
            return 0
        ids = {
            s.id
            for s in store.tables["services"].values()
            if isinstance(s, Service) and s.spec.name == service
        }
        tasks = [t for t in store.tables["tasks"].values() if isinstance(t, Task)]
        return running_count([t for t in tasks if t.service_id in ids])

    @property
    def leader(self) -> str:
        leader = self.world.leader()
        return leader.name if leader is not None else ""

    def scenario(self) -> Scenario:
        """What the test did so far, as a scenario (its steps and ``by`` waits)."""
        end = math.ceil(self.now / LOOK_EVERY - 1e-9) * LOOK_EVERY
        end = max([end, LOOK_EVERY] + [e.start for e in self._expectations])  # windows begun
        return replace(
            self._base,
            steps=tuple(self._steps),
            expectations=tuple(self._expectations),
            duration=end,
        )

    def scenario_yaml(self) -> str:
        return dump(self.scenario())

    def finish(self) -> Report:
        """Run on to the written scenario's end (as its replay does) and judge every
        expectation; the run's report (its metrics too). A ``never`` or ``always``
        broken at the last look raises :class:`SwarmFailure`, the report finished
        all the same; the swarm takes no step after."""
        if self._finished:
            return self.report
        self._finished = True
        try:
            if self.broken is None:
                end = self.scenario().duration
                self._guard(lambda: self._run.close_at(end))
        finally:
            self._run.finish(self.broken)
            self.report.trace_hash = self.world.trace.hexdigest()
            self.world.trace.close()
        return self.report

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.finish()

    # -- the run underneath --------------------------------------------------------------

    def _next_instant(self) -> float:
        """The instant a new step takes: now, unless now has been looked at (then the
        next half second), on the half-second grid, so the file says it exactly."""
        run, now = self._run, self.now
        free = not run.looked or now > run.now + 1e-9  # nothing looked at this instant yet
        if free and abs(now - round(now / LOOK_EVERY) * LOOK_EVERY) < 1e-9:
            return round(now, 3)
        return (math.floor(now / LOOK_EVERY + 1e-9) + 1) * LOOK_EVERY

    def _add(self, step: Step) -> Verdict | None:
        """Run ``step`` at its instant; its verdict when it failed."""
        self._usable()
        self._replayable(steps=(step,))
        before = len(self.report.verdicts)
        self._steps.append(step)

        def run_it() -> None:
            self._run.add(step)
            self._run.advance(step.at)

        self._guard(run_it)
        failed = [v for v in self.report.verdicts[before:] if not v.passed]
        return failed[0] if failed else None

    def _expect(self, expectation: Expectation) -> Callable[[], Verdict | None]:
        """Watch ``expectation`` from now on; its verdict once settled."""
        self._usable()
        self._replayable(expectations=(expectation,))
        condition = read(expectation.check)
        self._expectations.append(expectation)
        self._run.judge.watched.append((expectation, condition))
        index = len(self._run.judge.watched) - 1
        return lambda: self._run.judge.settled.get(index)

    def _replayable(
        self, steps: tuple[Step, ...] = (), expectations: tuple[Expectation, ...] = ()
    ) -> None:
        """Refuse (ValueError, the scenario format's own words) what the written
        scenario could not say: a fault or condition it cannot read, a host it lacks."""
        scenario = self.scenario()
        candidate = replace(
            scenario,
            steps=scenario.steps + steps,
            expectations=scenario.expectations + expectations,
            duration=max(
                [scenario.duration]
                + [s.at + (s.duration or 0) for s in steps]
                + [e.start for e in expectations]
            ),
        )
        try:
            conditions(parse(dump(candidate), "<shoal.testing>"))
        except ScenarioError as error:
            raise ValueError(error.problem) from None

    def _window(self, kind: str, condition: str, lasting: float | None) -> None:
        if lasting is not None:
            _check_seconds("lasting", lasting)
        start = self._next_instant()
        until = None if lasting is None else round(start + lasting, 3)
        verdict = self._expect(Expectation(kind, condition, start=start, until=until))
        self._watching.append((verdict, f"{kind}: {condition}"))

    def _breached(self) -> None:
        """A ``never`` or ``always`` the last looks settled as failed (each is told
        once)."""
        for entry in list(self._watching):
            verdict, text = entry
            settled = verdict()
            if settled is not None and not settled.passed:
                self._watching.remove(entry)
                when = f" at {settled.when:g}s" if settled.when is not None else ""
                raise self._failure(f"{text!r} broke{when}: {settled.seen}")

    def _usable(self) -> None:
        if self._finished:
            raise self._failure("the swarm's run is finished: it takes no more steps")
        if self.broken is not None:
            raise self._failure(f"the swarm is already broken: {self.broken}")

    def _guard(self, action: Callable[[], object]) -> None:
        """Run ``action``; a checker's violation breaks the swarm for good."""
        if self.broken is not None:
            raise self._failure(f"the swarm is already broken: {self.broken}")
        try:
            action()
            self._breached()
        except SwarmFailure:
            raise
        except Exception as error:
            self.broken = self._run.failure(error)
            if self.broken is None:
                raise self._failure(str(error)) from error
            raise self._failure(f"{type(self.broken).__name__}: {self.broken}") from None

    def _failure(self, problem: str) -> SwarmFailure:
        return SwarmFailure(problem, self.scenario_yaml())


def _millis(seconds: float | None) -> float | None:
    if seconds is not None:
        _check_seconds("lasting", seconds)
    return None if seconds is None else round(seconds, 3)


def _check_seconds(what: str, seconds: float, least: float = 0.001) -> None:
    """Simulated seconds a scenario can say: finite, whole milliseconds' worth."""
    if not math.isfinite(seconds) or seconds < least:
        raise ValueError(f"{what} must be {least:g} s or more (and finite), not {seconds!r}")


__all__ = ["CHECKERS", "SimSwarm", "SwarmFailure"]
