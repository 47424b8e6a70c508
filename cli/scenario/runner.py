"""Running a scenario in a simulated swarm: the steps at their times, the
expectations watched, a verdict for each.

Time 0 is when the swarm has formed (every host booted, the first manager's
``swarm init``, every join done, every node ready). Every 0.5 simulated seconds
the runner looks at the swarm: a ``by`` expectation passes the first time it holds
before its deadline, an ``at`` one is judged at its instant, an ``always`` one must
hold at every look from its start (the Raft and task checkers look at every step
of every node). A command a step runs that the manager refuses, or that Docker
would refuse, fails that step's verdict.

Faults: ``crash HOST``, ``boot HOST``, ``restart HOST``, ``isolate HOST``,
``heal``, ``join HOST`` (a spare host boots and joins), ``force-new-cluster HOST``
(``swarm init --force-new-cluster`` there), where HOST may be ``leader`` or ``a
worker`` (drawn from the run's seed); with ``for``, a crash is booted and an
isolation healed when it ends. The faults on a container, an image's pulls, a
process, a clock, a disk, the network's shape and a host's links (``kill web.2``,
``pull-fails IMAGE on HOST``, ``pause HOST``, ``resume HOST``, ``skew HOST +40s``,
``partition majority-ring``, ``loss HOST 20%``, ``duplicate HOST 10%``, ``delay HOST
50ms``, ``stall-disk HOST``) are :mod:`sim.faults.scenario`'s; ``heal`` ends the
isolations, partitions, losses, duplications and delays. A step's command runs
until the manager answers (a write waits for its commit, or 20 s without quorum).
Each step runs at its instant of simulated time, however long the commands before
it took; only a step whose instant passed while an earlier command waited runs
late, when it is answered.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli.scenario.conditions import Condition
from cli.scenario.judging import (
    FORMS,
    LOOK_EVERY,
    Judge,
    Report,
    Verdict,
    close_fault,
    conditions,
    next_look,
)
from cli.scenario.schema import Expectation, Scenario, ScenarioError, Step
from cli.scenario.step_command import run_step
from cli.scenario.view import SimView
from cli.timeline import Timeline
from core.errors import InvariantViolation
from core.manager.mutations import ManagerMutations
from core.raft.config import Mutations, RaftConfig
from sim.calibration import Calibration
from sim.calibration import default as default_calibration
from sim.cluster import ClusterConfig, ClusterHost, ClusterWorld, HostSpec, HostState, NoReply
from sim.faults import scenario as scenario_faults
from sim.faults.topology import components
from sim.network import LinkModel

#: The open faults a ``heal`` ends (their timeline lines start so).
HEALED = tuple(f"{verb} " for verb in ("isolate", "partition", *scenario_faults.LINK_FAULTS))

__all__ = ["LOOK_EVERY", "Report", "Verdict", "conditions", "run"]


def run(
    scenario: Scenario,
    seed: int | None = None,
    trace_path: str | Path | None = None,
    progress: Callable[[float], None] | None = None,
    calibration: Calibration | None = None,
) -> Report:
    """Run ``scenario`` with ``seed`` (default: the file's); ``calibration``: what dockerd
    and messages cost (default: this machine's, sim/calibration.py)."""
    seed = scenario.seed if seed is None else seed
    watched = conditions(scenario)
    world = scenario_world(scenario, seed, trace_path, calibration)
    report = Report(scenario, seed, timeline=Timeline(f"{scenario.name} (seed {seed})"))
    try:
        ScenarioRun(world, scenario, watched, report, progress).go()
    finally:
        report.trace_hash = world.trace.hexdigest()
        world.trace.close()
    return report


def scenario_world(
    scenario: Scenario,
    seed: int,
    trace_path: str | Path | None,
    calibration: Calibration | None = None,
) -> ClusterWorld:
    """The simulated swarm of ``scenario``: its hosts, with dockerd, images and links as
    ``calibration`` measured them (the file's own images and network come first)."""
    measured = calibration if calibration is not None else default_calibration()
    hosts = tuple(
        HostSpec(
            name,
            manager=manager,
            labels=_labels(scenario, name),
            **_resources(scenario, name),
        )
        for name, manager in scenario.hosts
    )
    planted = set(scenario.mutations)
    raft = RaftConfig(
        mutations=Mutations(**{n: True for n in Mutations.__dataclass_fields__ if n in planted})
    )
    manager = ManagerMutations(
        **{n: True for n in ManagerMutations.__dataclass_fields__ if n in planted}
    )
    config = ClusterConfig(
        hosts=hosts,
        images={**measured.images, **scenario.images},
        link=scenario.link if scenario.link != LinkModel() else measured.link,
        engine=measured.engine_model(),
        dataplane=measured.dataplane,
        wire=measured.strict_codec,
        raft=raft,
        mutations=manager,
        checks=True,
    )
    try:
        return ClusterWorld(config, seed, trace_path)
    except OSError as error:
        raise ScenarioError(str(trace_path), None, "", f"cannot write the trace: {error}") from None


def _resources(scenario: Scenario, host: str) -> dict[str, int]:
    if host not in scenario.resources:
        return {}
    cpus, memory = scenario.resources[host]
    return {"cpus": cpus, "memory_bytes": memory}


def _labels(scenario: Scenario, host: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(scenario.labels.get(host, {}).items()))


class _Stopped(Exception):
    """The run cannot go on (its verdict already says why)."""


def _record_violations(world: ClusterWorld) -> list[InvariantViolation]:
    """Every violation the world's checkers raise, as raised.

    A violation raised inside a SimPy process reaches the runner as SimPy's copy,
    ``type(error)(*error.args)``, or as the ``TypeError`` of a constructor that
    cannot be called so: keeping the original makes a broken invariant a verdict
    whatever its exception's constructor looks like."""
    seen: list[InvariantViolation] = []

    def kept(method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except InvariantViolation as violation:
                seen.append(violation)
                raise

        return call

    for checker in (world.raft_checker, world.task_checker):
        if checker is None:
            continue
        for name in sorted(vars(type(checker))):
            if not name.startswith("_") and callable(getattr(type(checker), name)):
                setattr(checker, name, kept(getattr(checker, name)))
    return seen


class ScenarioRun:
    def __init__(
        self,
        world: ClusterWorld,
        scenario: Scenario,
        watched: list[tuple[Expectation, Condition]],
        report: Report,
        progress: Callable[[float], None] | None,
    ) -> None:
        self.world, self.scenario, self.watched, self.report = world, scenario, watched, report
        self.progress = progress
        self.rng: random.Random = world.streams.child("scenario")
        self.start = 0.0
        self.open_faults: list[tuple[float, str]] = []
        self.isolated: set[str] = set()  # hosts cut off now
        self.faults = scenario_faults.ScenarioFaults(world, self.rng)  # kill, pause, skew ...
        self.violations = _record_violations(world)
        self.judge = Judge(watched, report)
        self.steps: list[Step] = list(scenario.steps)  # the steps still to come
        self.undo_at: list[tuple[float, Step, str]] = []  # faults to undo: when, step, victim
        self.now = 0.0  # the scenario's clock: seconds since the swarm formed
        self.looked = False  # whether the instant ``now`` has had its steps and look

    def go(self) -> None:
        """The whole scenario: its steps, faults and looks to its duration, then the
        verdicts."""
        failure: InvariantViolation | None = None
        try:
            self.begin()
            self.advance(self.scenario.duration)
            if not self.looked:
                self.instant()
        except Exception as error:
            failure = self.failure(error)
        self.finish(failure)

    # -- the run, in pieces a driver can call one by one (shoal.testing does) -------------

    def begin(self) -> None:
        """Form the swarm (the checkers watch this too); time 0 is now."""
        world = self.world
        try:
            world.form_swarm(spare=self.scenario.spare)
        except InvariantViolation:
            raise
        except AssertionError as error:  # (a planted bug can keep a swarm from forming)
            self.report.verdicts.append(Verdict(FORMS, False, None, str(error)))
            raise _Stopped from None
        self.start = world.env.now
        name, seed = self.scenario.name, self.report.seed
        world.trace.emit(world.env.now, "-", "scenario", name=name, seed=seed)

    def instant(self) -> None:
        """What happens at ``self.now``: the steps due (a command runs the world on),
        the faults whose ``for`` is over, then a look."""
        world = self.world
        while self.steps and self.steps[0].at <= self.now + 1e-9:
            self.undo_at += self._step(self.steps.pop(0), self.now)
            self.now = world.env.now - self.start  # a command runs the world on
        for when, step, victim in [u for u in self.undo_at if u[0] <= self.now + 1e-9]:
            self.undo_at.remove((when, step, victim))
            self.undo(step, victim, self.now)
        self.judge.look(self.now, SimView(world))
        if self.progress is not None:
            self.progress(self.now)
        self.looked = True

    def advance(self, until: float, inclusive: bool = True) -> None:
        """Every instant before ``until`` (and ``until`` itself when something is due
        then, unless not ``inclusive``), leaving the world at ``until``: an instant it
        reaches only because a driver stopped there is not looked at unless a step is
        added for it, so a run driven piece by piece is the run of the scenario its
        steps make."""
        while True:
            if not self.looked:
                if not inclusive and self.now >= until - 1e-9:
                    return  # the instant ``until`` is still to come
                self.instant()
            if self.now >= until - 1e-9:
                return
            stop = self.next_stop(self.now)
            if not inclusive:  # ``until`` is a step's instant: the run stops there exactly
                stop = min(stop, until)
            if stop > until + 1e-9:
                if self.world.env.now < self.start + until:
                    self.world.env.run(until=self.start + until)
                return
            # to the instant itself, not 'that long from now': a command above
            # ran the world on, and a step must not slip by the time it took (a
            # driver may have parked the world at the instant already)
            if self.world.env.now < self.start + stop:
                self.world.env.run(until=self.start + stop)
            self.now, self.looked = self.world.env.now - self.start, False

    def add(self, step: Step) -> None:
        """A step for the driver's current instant or later (never an instant
        already looked at: the run would not be the scenario's)."""
        parked = self.world.env.now - self.start
        if step.at < parked - 1e-9 or (self.looked and step.at <= self.now + 1e-9):
            raise ValueError(f"a step at {step.at:g}s is in the past (now {parked:g}s)")
        self.advance(step.at, inclusive=False)  # the world at step.at, not looked at
        self.steps.append(step)
        self.steps.sort(key=lambda s: s.at)
        self.now, self.looked = self.world.env.now - self.start, False

    def close_at(self, end: float) -> None:
        """Run on to ``end`` and look at it: the last instant, as a scenario whose
        duration is ``end`` has it."""
        self.advance(end)
        if self.now < end - 1e-9:  # parked there: the end is an instant of the scenario's
            self.now, self.looked = self.world.env.now - self.start, False
        if not self.looked:
            self.instant()

    def failure(self, error: BaseException) -> InvariantViolation | None:
        """The checker violation an error stands for (None: the run just stopped)."""
        if isinstance(error, InvariantViolation):
            return self.violations[0] if self.violations else error
        if isinstance(error, _Stopped):
            return None
        if not self.violations:  # SimPy could not rebuild a checker's violation
            raise error
        return self.violations[0]

    def finish(self, failure: InvariantViolation | None) -> None:
        """The timeline's leaders and open faults, and every expectation's verdict."""
        world, report = self.world, self.report
        report.timeline.simulated = world.env.now - self.start
        report.timeline.leaders = [
            (t - self.start, h) for t, h, _ in world.leaders if t >= self.start
        ]
        before = [h for t, h, _ in world.leaders if t < self.start]
        report.timeline.initial_leader = before[-1] if before else ""
        for at, what in self.open_faults:
            report.timeline.faults.append((at, report.timeline.simulated, what))
        self.judge.finish(SimView(world), failure)

    def next_stop(self, now: float) -> float:
        """The next instant to look at: the next half second, step, fault's end or
        ``at`` expectation, whichever comes first (and never past the end)."""
        times = [next_look(now), self.scenario.duration]
        times += [s.at for s in self.steps[:1]] + [u[0] for u in self.undo_at]
        times += self.judge.instants()
        return min(t for t in times if t > now + 1e-9)

    # -- steps ---------------------------------------------------------------------------

    def _step(self, step: Step, now: float) -> list[tuple[float, Step, str]]:
        if step.run:
            self._command(step, now)
            return []
        victim = self.fault(step, now)
        if step.duration is not None and victim:
            return [(step.at + step.duration, step, victim)]
        return []

    def _command(self, step: Step, now: float) -> None:
        """Run the step's command (until the manager answers); a refusal fails the
        step, unless the step says it ``fails``, when only success does."""
        leader = self.world.leader()
        host = step.on or (leader.name if leader is not None else self.first_manager())
        self.world.trace.emit(self.world.env.now, host, "step", run=step.run)
        verdict = run_step(
            step,
            now,
            self.rng,
            lambda m, p: self.world.call(host, m, **p),
            host,
            (NoReply,),
            self.scenario.files,
        )
        if verdict is not None:
            self.report.verdicts.append(verdict)

    def first_manager(self) -> str:
        return next(name for name, manager in self.scenario.hosts if manager)

    def fault(self, step: Step, now: float) -> str:
        verb, _, target = step.fault.partition(" ")
        world = self.world
        if verb == "heal":
            self.isolated.clear()
            world.network.heal()
            self.faults.heal_links()
            for _, what in list(self.open_faults):
                if what.startswith(HEALED):
                    self._close_fault(what, now)
            return ""
        if verb in scenario_faults.VERBS:
            return self._world_fault(step, now)
        host = self._host(target, step)
        if host is None:  # no leader, or no worker up, to strike: the step fails
            missing = "no leader to fault" if target == "leader" else "no worker is up"
            self.report.verdicts.append(
                Verdict(f"fault: {step.fault}", False, now, missing, step.line)
            )
            return ""
        if verb == "join":
            leader = world.leader()
            via = leader.name if leader is not None else self.first_manager()
            try:
                world.join(host.name, via)
            except AssertionError as error:  # already in a swarm, or no manager to answer
                self.report.verdicts.append(
                    Verdict(f"fault: {step.fault}", False, now, str(error), step.line)
                )
            return ""
        if verb == "force-new-cluster":
            reply = world.call(host.name, "SwarmInit", force_new_cluster=True)
            if not reply.ok:
                self.report.verdicts.append(
                    Verdict(f"fault: {step.fault}", False, now, reply.error, step.line)
                )
            return ""
        if verb == "crash":
            host.crash()
        elif verb == "boot":
            if host.state is HostState.CRASHED:
                host.boot()
            self._close_fault(f"crash {host.name}", now)
        elif verb == "restart":
            world.restart(host)
        elif verb == "isolate":
            self.isolated.add(host.name)
            self._cut_off()
        else:
            raise ScenarioError(
                self.scenario.path,
                step.line,
                "fault",
                f"unknown fault {verb!r} (crash, boot, restart, isolate, heal, join, "
                "force-new-cluster)",
            )
        if verb in ("crash", "isolate"):
            self.open_faults.append((now, f"{verb} {host.name}"))
            world.trace.emit(world.env.now, "-", "fault", what=f"{verb} {host.name}")
        return host.name

    def _host(self, target: str, step: Step) -> ClusterHost | None:
        """The host a fault names (None: the leader or 'a worker' it names is not
        there now, which fails the step)."""
        world = self.world
        if target == "leader":
            return world.leader()
        if target == "a worker":
            workers = [h for h in world.up_hosts() if not h.spec.manager]
            if not workers:
                return None
            return workers[self.rng.randrange(len(workers))]
        if target not in world.hosts:
            raise ScenarioError(
                self.scenario.path,
                step.line,
                "fault",
                f"no host {target!r} (the hosts are {', '.join(world.names)})",
            )
        return world.hosts[target]

    def _cut_off(self) -> None:
        """The network with every isolated host on its own (or whole again)."""
        world, cut = self.world, sorted(self.isolated)
        if not cut:
            world.network.heal()
            return
        rest = [n for n in world.names if n not in self.isolated]
        world.network.set_graph(components(world.names, [[h] for h in cut] + [rest]))

    def _world_fault(self, step: Step, now: float) -> str:
        """A fault of :mod:`sim.faults.scenario`; one that cannot strike fails its step."""
        try:
            victim = self.faults.start(step.fault)
        except scenario_faults.FaultFailed as error:
            verdict = Verdict(f"fault: {step.fault}", False, now, str(error), step.line)
            self.report.verdicts.append(verdict)
            return ""
        verb = step.fault.partition(" ")[0]
        if verb == "resume":
            self._close_fault(f"pause {victim}", now)
        elif verb in scenario_faults.LASTING:
            self.open_faults.append((now, f"{verb} {victim}"))
        self.world.trace.emit(self.world.env.now, "-", "fault", what=f"{verb} {victim}")
        return victim

    def undo(self, step: Step, victim: str, now: float) -> None:
        """A fault's ``for`` is over: only this fault is undone."""
        verb = step.fault.partition(" ")[0]
        if verb in scenario_faults.VERBS:
            self.faults.undo(step.fault, victim)
        if verb == "crash":
            host = self.world.hosts[victim]
            if host.state is HostState.CRASHED:
                host.boot()
        elif verb == "isolate":
            self.isolated.discard(victim)
            self._cut_off()
        self._close_fault(f"{verb} {victim}", now)

    def _close_fault(self, what: str, now: float) -> None:
        if close_fault(self.open_faults, self.report.timeline, what, now):
            self.world.trace.emit(self.world.env.now, "-", "fault-end", what=what)
