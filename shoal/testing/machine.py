"""A Hypothesis state machine over a whole simulated swarm: Docker API operations,
node lifecycle and faults are its rules; the Raft and task checkers judge every step
(they watch every entry every manager applies); once the faults are over the swarm
must converge. A failure shrinks to a short schedule, printed as a scenario file
that ``shoal sim run`` replays to the same failure.

Subclass it to test your own assumptions (add rules, ``@invariant``\\ s, or plant a
bug with ``mutations``), and run it with ``SwarmMachine.TestCase`` under pytest::

    class MySwarm(SwarmMachine):
        managers, workers = 3, 4

    TestMySwarm = MySwarm.TestCase
"""

from __future__ import annotations

from typing import ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from shoal.testing.swarm import SimSwarm

SERVICES = ("web", "api", "db")
IMAGES = ("nginx:1.25", "nginx:1.27", "redis:7")
#: Simulated seconds the swarm has, once every fault is over, to run what it should.
CONVERGE_WITHIN = 120.0


class SwarmMachine(RuleBasedStateMachine):
    managers: ClassVar[int] = 3
    workers: ClassVar[int] = 3
    #: planted bugs by name (core/manager/mutations.py, core/raft/config.py)
    mutations: ClassVar[tuple[str, ...]] = ()
    #: the simulation's seeds to draw from (``st.just(7)``: one seed, a quicker shrink)
    seeds: ClassVar[st.SearchStrategy[int]] = st.integers(min_value=1, max_value=2**16)

    def __init__(self) -> None:
        super().__init__()
        self.swarm: SimSwarm | None = None
        self.services: dict[str, int] = {}  # name: replicas asked for
        self.drained: set[str] = set()
        self.faults_until = 0.0  # when the last lasting fault is undone

    # -- the swarm ---------------------------------------------------------------------

    @initialize(data=st.data())
    def form(self, data: st.DataObject) -> None:
        seed = data.draw(self.seeds, label="seed")
        self.swarm = SimSwarm(
            self.managers,
            self.workers,
            seed=seed,
            name="a whole-swarm state machine's schedule",
            mutations=self.mutations,
        )

    @property
    def sim(self) -> SimSwarm:
        assert self.swarm is not None, "the swarm forms first"
        return self.swarm

    def hosts(self) -> list[str]:
        return [f"manager-{i}" for i in range(1, self.managers + 1)] + [
            f"worker-{i}" for i in range(1, self.workers + 1)
        ]

    # -- the API ----------------------------------------------------------------------

    @rule(
        name=st.sampled_from(SERVICES),
        replicas=st.integers(0, 6),
        image=st.sampled_from(IMAGES),
        parallelism=st.integers(0, 3),
    )
    def create_service(self, name: str, replicas: int, image: str, parallelism: int) -> None:
        command = (
            f"service create --name {name} --replicas {replicas} "
            f"--update-parallelism {parallelism} --update-delay 2s {image}"
        )
        if self.sim.docker(command, check=False):
            self.services[name] = replicas

    @precondition(lambda self: self.services)
    @rule(data=st.data(), replicas=st.integers(0, 8))
    def scale(self, data: st.DataObject, replicas: int) -> None:
        name = data.draw(st.sampled_from(sorted(self.services)), label="service")
        if self.sim.docker(f"service scale {name}={replicas}", check=False):
            self.services[name] = replicas

    @precondition(lambda self: self.services)
    @rule(data=st.data(), image=st.sampled_from(IMAGES))
    def update_image(self, data: st.DataObject, image: str) -> None:
        name = data.draw(st.sampled_from(sorted(self.services)), label="service")
        self.sim.docker(f"service update --image {image} {name}", check=False)

    @precondition(lambda self: self.services)
    @rule(data=st.data())
    def remove_service(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.services)), label="service")
        if self.sim.docker(f"service rm {name}", check=False):
            del self.services[name]

    # -- node lifecycle ---------------------------------------------------------------

    @rule(data=st.data())
    def drain(self, data: st.DataObject) -> None:
        host = data.draw(st.sampled_from(self.hosts()), label="host")
        if self.sim.docker(f"node update --availability drain {host}", check=False):
            self.drained.add(host)

    @precondition(lambda self: self.drained)
    @rule(data=st.data())
    def activate(self, data: st.DataObject) -> None:
        host = data.draw(st.sampled_from(sorted(self.drained)), label="host")
        if self.sim.docker(f"node update --availability active {host}", check=False):
            self.drained.discard(host)

    # -- faults -----------------------------------------------------------------------

    @rule(
        data=st.data(),
        verb=st.sampled_from(("crash", "isolate", "pause")),
        seconds=st.integers(1, 40),
    )
    def lasting_fault(self, data: st.DataObject, verb: str, seconds: int) -> None:
        host = data.draw(st.sampled_from([*self.hosts(), "leader"]), label="host")
        if self.sim.fault(f"{verb} {host}", lasting=seconds):
            self.faults_until = max(self.faults_until, self.sim.now + seconds)

    @rule(seconds=st.integers(1, 40))
    def partition(self, seconds: int) -> None:
        if self.sim.fault("partition majority-ring", lasting=seconds):
            self.faults_until = max(self.faults_until, self.sim.now + seconds)

    @rule(data=st.data())
    def restart(self, data: st.DataObject) -> None:
        host = data.draw(st.sampled_from(self.hosts()), label="host")
        self.sim.fault(f"restart {host}")

    @precondition(lambda self: any(self.services.values()))
    @rule(data=st.data(), slot=st.integers(1, 6))
    def kill_task(self, data: st.DataObject, slot: int) -> None:
        name = data.draw(st.sampled_from(sorted(self.services)), label="service")
        self.sim.fault(f"kill {name}.{slot}")  # no such container: the fault just misses

    @rule(seconds=st.integers(1, 30))
    def wait(self, seconds: int) -> None:
        self.sim.wait(seconds)

    # -- liveness ---------------------------------------------------------------------

    def teardown(self) -> None:
        """Once every fault is over and every node active again, the swarm runs what
        it should within :data:`CONVERGE_WITHIN` simulated seconds."""
        if self.swarm is None:
            return
        try:
            if self.swarm.broken is None:
                if self.faults_until > self.sim.now:
                    self.sim.wait(self.faults_until - self.sim.now)
                for host in sorted(self.drained):
                    self.sim.docker(f"node update --availability active {host}", check=False)
                if self.services:
                    self.sim.wait_for("services converged", within=CONVERGE_WITHIN)
        finally:
            self.swarm.finish()
