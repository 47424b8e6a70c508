"""Running a scenario against real daemons: the steps at their instants of wall
time, a look every half second, the verdicts judged as ``shoal sim run`` judges
them (cli/scenario/judging.py).

Time 0 is when the swarm has formed. A step runs when its instant comes (a command
blocks the run until the manager answers, at worst after its 20 s request timeout,
as in simulation); a look asks the managers the runner has not crashed or paused
for their Info and the leader for its state (real/scenario/view.py), feeds the
checkers (real/scenario/checks.py) and judges the expectations. Faults go to the
carrier (test hosts, or an inventory's commands); ``leader`` is the leader of the
last look, ``a worker`` one of the workers not crashed, drawn from the seed (from the
simulator's ``scenario`` stream, as a partition's shape is). Isolations and partitions
replace one another's graph as in the simulator (real/scenario/shape.py); ``heal``
ends them and every host's loss, duplication and delay.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from cli.scenario.conditions import Condition
from cli.scenario.judging import Judge, Report, Verdict, close_fault, conditions, next_look
from cli.scenario.schema import Expectation, Scenario, Step
from cli.scenario.step_command import run_step
from cli.timeline import Timeline
from core.errors import InvariantViolation
from core.model.node import Node
from core.tasks.states import TaskState
from real.control import ControlError
from real.scenario.carrier import AMOUNT_FAULTS, Carrier, FaultFailed
from real.scenario.checks import RaftWatch, TaskWatch
from real.scenario.shape import NetworkShape
from real.scenario.support import UNDO
from real.scenario.view import Connections, RealView, holders, look, with_traffic
from sim.faults import scenario as scenario_faults
from sim.streams import Streams

#: Seconds a step's command may wait for its reply (the manager's own request
#: timeout is 20 s).
COMMAND_SECONDS = 30.0
LASTING = ("crash", "isolate", "pause")  # (a partition and the amount faults: _fault)
#: The open faults a ``heal`` ends (their timeline lines start so).
HEALED = tuple(f"{verb} " for verb in ("isolate", "partition", *scenario_faults.LINK_FAULTS))


def run(
    scenario: Scenario,
    carrier: Carrier,
    seed: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> Report:
    """Run ``scenario`` on the (formed) swarm ``carrier`` holds; its report."""
    seed = scenario.seed if seed is None else seed
    watched = conditions(scenario)
    report = Report(scenario, seed, timeline=Timeline(f"{scenario.name} (real, seed {seed})"))
    looks = Connections(carrier.socket)
    commands = Connections(carrier.socket, COMMAND_SECONDS)
    try:
        _Run(scenario, carrier, watched, report, looks, commands, progress).go()
    finally:
        looks.close()
        commands.close()
    return report


class _Run:
    def __init__(
        self,
        scenario: Scenario,
        carrier: Carrier,
        watched: list[tuple[Expectation, Condition]],
        report: Report,
        looks: Connections,
        commands: Connections,
        progress: Callable[[float], None] | None,
    ) -> None:
        self.scenario, self.carrier, self.report = scenario, carrier, report
        self.looks, self.commands, self.progress = looks, commands, progress
        self.judge = Judge(watched, report)
        self.rng: random.Random = Streams(report.seed).child("scenario")
        self.raft, self.tasks = RaftWatch(), TaskWatch()
        self.view = RealView()
        self.down: set[str] = set()  # crashed by the run, not booted since
        self.paused: set[str] = set()
        self.network = NetworkShape([name for name, _ in carrier.hosts])
        self.links: set[tuple[str, str]] = set()  # (verb, host) of the link faults on
        self.open_faults: list[tuple[float, str]] = []
        self.start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def go(self) -> None:
        scenario, timeline = self.scenario, self.report.timeline
        steps = list(scenario.steps)
        undo: list[tuple[float, Step, str]] = []
        failure: InvariantViolation | None = None
        self.start = time.monotonic()
        now = 0.0
        try:
            self._look(now)
            timeline.initial_leader = self.view.leader()
            while True:
                while steps and steps[0].at <= now + 1e-9:
                    undo += self._step(steps.pop(0), now)
                    now = self.elapsed()
                for due in [u for u in undo if u[0] <= now + 1e-9]:
                    undo.remove(due)
                    self._undo(due[1], due[2], now)
                self._look(now)
                if self.progress is not None:
                    self.progress(now)
                if now >= scenario.duration - 1e-9:
                    break
                stop = self._next_stop(now, steps, undo)
                time.sleep(max(0.0, self.start + stop - time.monotonic()))
                now = self.elapsed()
        except InvariantViolation as violation:
            failure = violation
        timeline.simulated = now
        for at, what in self.open_faults:
            timeline.faults.append((at, now, what))
        self.judge.finish(self.view, failure)

    def _next_stop(
        self, now: float, steps: list[Step], undo: list[tuple[float, Step, str]]
    ) -> float:
        times = [next_look(now), self.scenario.duration]
        times += [s.at for s in steps[:1]] + [u[0] for u in undo] + self.judge.instants()
        return min(t for t in times if t > now + 1e-9)

    def _look(self, now: float) -> None:
        managers = [
            n for n, m in self.carrier.hosts if m and n not in self.down and n not in self.paused
        ]
        view = with_traffic(look(self.looks, managers, self.carrier.containers_on), self.carrier)
        up = [n for n, _ in self.carrier.hosts if n not in self.down and n not in self.paused]
        view.held = holders(self.looks, up)
        leaders = self.report.timeline.leaders
        if view.leader() and view.leader() != (leaders[-1][1] if leaders else self.view.leader()):
            leaders.append((now, view.leader()))
        self.view = view
        self.raft.look(view)
        self.tasks.look(now, view)
        self.judge.look(now, view)

    # -- steps -----------------------------------------------------------------------------

    def _step(self, step: Step, now: float) -> list[tuple[float, Step, str]]:
        if step.run:
            host = step.on or self.view.leader() or self._first_manager()
            verdict = run_step(
                step,
                now,
                self.rng,
                lambda m, p: self.commands.call(host, m, p),
                host,
                (ControlError,),
                self.scenario.files,
            )
            if verdict is not None:
                self.report.verdicts.append(verdict)
            return []
        try:
            victim = self._fault(step, now)
        except FaultFailed as error:
            self.report.verdicts.append(
                Verdict(f"fault: {step.fault}", False, now, str(error), step.line)
            )
            return []
        if step.duration is not None and victim:
            return [(step.at + step.duration, step, victim)]
        return []

    def _first_manager(self) -> str:
        return next(name for name, manager in self.carrier.hosts if manager)

    def _fault(self, step: Step, now: float) -> str:
        verb, _, target = step.fault.partition(" ")
        if verb == "heal":
            self.network.heal()
            self._reshape()
            for link, host in sorted(self.links):
                self._amount(link, host, 0.0)
            for _, what in list(self.open_faults):
                if what.startswith(HEALED):
                    self._close_fault(what, now)
            return ""
        if verb == "kill":
            return self._kill(target.strip())
        if verb == "partition":
            names = [name for name, _ in self.carrier.hosts]
            self.network.partition(scenario_faults.partition_graph(target, names, self.rng))
            self._reshape()
            self.open_faults.append((now, step.fault))
            return target
        if verb in AMOUNT_FAULTS:
            fault = scenario_faults.read(step.fault, [name for name, _ in self.carrier.hosts])
            host = self._host(fault.host)
            self._amount(verb, host, float(fault.argument) if fault.argument else 1.0)
            self.open_faults.append((now, f"{verb} {host}"))
            return host
        host = self._host(target)
        if verb == "isolate":
            self.network.isolate(host)
            self._reshape()
        else:
            self._strike(verb, host)
        if verb == "boot":
            self._close_fault(f"crash {host}", now)
        elif verb == "resume":
            self._close_fault(f"pause {host}", now)
        elif verb in LASTING:
            self.open_faults.append((now, f"{verb} {host}"))
        return host

    def _reshape(self) -> None:
        """Give the carrier the network the run's isolations and partitions make."""
        for host, held, wanted in self.network.changes():
            self.carrier.shape(host, held, wanted)

    def _amount(self, verb: str, host: str, amount: float) -> None:
        """A fault with an amount on ``host`` (0 ends it)."""
        self.carrier.fault(verb, host, amount)
        if verb in scenario_faults.LINK_FAULTS:
            (self.links.add if amount else self.links.discard)((verb, host))

    def _strike(self, verb: str, host: str) -> None:
        if verb == "boot" and host not in self.down:
            return
        self.carrier.strike(verb, host)
        if verb in ("crash", "restart"):
            self.raft.forget(host)  # its commit index starts again
        if verb == "crash":
            self.down.add(host)
            self.paused.discard(host)
        elif verb in ("boot", "restart"):
            self.down.discard(host)
        elif verb == "pause":
            self.paused.add(host)
        elif verb == "resume":
            self.paused.discard(host)

    def _host(self, target: str) -> str:
        if target == "leader":
            leader = self.view.leader()
            if not leader:
                raise FaultFailed("no leader to fault")
            return leader
        if target == "a worker":
            workers = sorted(n for n, m in self.carrier.hosts if not m and n not in self.down)
            if not workers:
                raise FaultFailed("no worker is up")
            return workers[self.rng.randrange(len(workers))]
        return target

    def _kill(self, name: str) -> str:
        """SIGKILL the running container of the task ``name`` (service.slot or
        service.host), the one meant to run first, as the simulator does."""
        service, _, where = name.partition(".")
        store = self.view.leader_store()
        if store is None:
            raise FaultFailed(f"no leader to find {name}")
        tasks = scenario_faults._tasks_of(store, service, where)
        hostnames = {
            n.id: n.description.hostname
            for n in store.tables["nodes"].values()
            if isinstance(n, Node)
        }
        problems = []
        for task in sorted(tasks, key=lambda t: (t.desired_state > TaskState.RUNNING, t.id)):
            host = hostnames.get(task.node_id, "")
            if task.status.state is not TaskState.RUNNING or not host:
                continue
            try:
                self.carrier.strike("kill", host, task.id)
            except FaultFailed as error:
                problems.append(str(error))
                continue
            return task.id
        raise FaultFailed(
            f"no container of {name} is running" + "".join(f"; {p}" for p in problems)
        )

    def _undo(self, step: Step, victim: str, now: float) -> None:
        """A fault's ``for`` is over: only this fault is undone."""
        verb = step.fault.partition(" ")[0]
        try:
            if verb == "isolate":
                self.network.end_isolation(victim)
                self._reshape()
            elif verb == "partition":
                self.network.end_partition()
                self._reshape()
            elif verb in AMOUNT_FAULTS:
                self._amount(verb, victim, 0.0)
            else:
                self._strike(UNDO[verb], victim)
        except FaultFailed as error:
            self.report.verdicts.append(
                Verdict(f"fault: {step.fault} (its end)", False, now, str(error), step.line)
            )
        self._close_fault(f"{verb} {victim}", now)

    def _close_fault(self, what: str, now: float) -> None:
        close_fault(self.open_faults, self.report.timeline, what, now)
