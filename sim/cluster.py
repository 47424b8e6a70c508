"""A whole simulated swarm: hosts running :class:`~core.node.SwarmNode`, each with
its own clocks, disk, simulated container runtime and place on the network.

The host is the driver of DESIGN.md's contract: it feeds the node time (one wake-up
armed for the node's ``next_deadline``), messages, executor results, fsync
confirmations and client requests, and carries out every :class:`NodeReady`: Raft's
writes to the disk (confirmed after an fsync), the agent's store and the node's
identity (kept at once), messages to the network, commands to the executor, replies
to the waiting client. A crash loses the process and what the disk had not synced;
the containers die with the host.

A host can also be paused (SIGSTOP of the swarm daemon): its clocks run on and its
containers keep running, but nothing reaches the node; messages, fsync confirmations,
executor results and client requests queue, and are handed over in arrival order when
it resumes. Its clocks take faults as :class:`sim.clock.HostClock` allows: a step of
the wall clock (skew, an NTP jump) and a drift of both (which moves its timers).
"""

from __future__ import annotations

import enum
import functools
from collections import Counter
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import simpy

from core.ca.credentials import NodeCredentials
from core.manager.autolock import human_key, locked_answer
from core.manager.mutations import NO_MUTATIONS, ManagerMutations
from core.manager.requests import INFO, ClientReply, ClientRequest
from core.messages import (
    ClusterMessage,
    ForwardedReply,
    ForwardedRequest,
    Proxied,
    RaftEnvelope,
    decode,
    encode,
)
from core.model.cluster import Cluster, JoinTokens
from core.model.common import Platform, Resources
from core.model.enums import NodeState
from core.model.node import EngineDescription, Node, NodeDescription
from core.model.task import Task
from core.model.wire import Labels
from core.node import NodeDisk, NodeIdentity, NodeReady, SwarmNode
from core.raft.config import RaftConfig
from core.store import Event, EventCommit, MemoryStore
from core.tasks.executor import ExecutorResult
from sim.cluster_checks import TaskChecker
from sim.cpu import CpuPool
from sim.dataplane import FREE, DataplaneModel, SimDataplane
from sim.disk import DiskModel, SimDisk
from sim.dockerd import IDEAL, EngineModel, SimDockerd
from sim.executor import ImageBehaviour, SimExecutor
from sim.heap import pace_collector
from sim.host import starting_clock
from sim.network import CODEC_CHECK_EVERY, LinkModel, Network
from sim.raft_checks import RaftChecker
from sim.streams import Streams
from sim.trace import Trace
from sim.traffic import SimTraffic

GIB = 1024**3
WAKE_ROUNDING_SECONDS = 1e-6


@dataclass(frozen=True)
class HostSpec:
    name: str
    manager: bool = False  # joins as a manager (the first one inits the swarm)
    cpus: int = 2
    memory_bytes: int = 4 * GIB
    labels: tuple[tuple[str, str], ...] = ()  # engine labels


@dataclass(frozen=True, slots=True)
class Envelope:
    source: str
    message: ClusterMessage


def _encode(envelope: Envelope) -> bytes:
    packed: bytes = msgpack.packb([envelope.source, encode(envelope.message)], use_bin_type=True)
    return packed


def _decode(data: bytes) -> Envelope:
    source, body = msgpack.unpackb(data, raw=False)
    return Envelope(source, decode(body))


#: Messages that carry an API request's parameters or reply (``Any``: dicts, lists,
#: models): they cross as bytes even when messages are passed as values, so that no
#: host shares a mutable value with another.
BY_CODEC = (ForwardedRequest, ForwardedReply)


def _by_codec(envelope: Envelope) -> bool:
    message = envelope.message
    if isinstance(message, Proxied):
        message = message.message
    return isinstance(message, BY_CODEC)


class NoReply(AssertionError):
    """A host did not answer a request in time (it is paused, crashed or cut off):
    for tests a failed assertion, for the scenario runner a failed step."""

    def __init__(self, host: str, method: str, timeout: float) -> None:
        super().__init__(host, method, timeout)
        self.host, self.method, self.timeout = host, method, timeout

    def __str__(self) -> str:
        return f"no reply to {self.method} on {self.host} in {self.timeout:g}s"


class HostState(enum.Enum):
    UP = "up"
    PAUSED = "paused"  # stopped: clocks run on, inputs queue until it resumes
    CRASHED = "crashed"
    LOCKED = "locked"  # restarted under autolock: nothing runs until ``swarm unlock``


class ClusterHost:
    def __init__(self, world: ClusterWorld, spec: HostSpec) -> None:
        self.world = world
        self.spec = spec
        self.name = spec.name
        streams = world.streams
        self.clock = starting_clock(streams.child(f"host/{self.name}/clock"))
        self.disk = SimDisk(world.env, streams.child(f"host/{self.name}/disk"), world.disk_model)
        self.disk.on_synced = self._synced
        cores = world.cores_of(spec)
        self.dataplane = SimDataplane(
            world.env, self.name, world.trace, world.config.dataplane, cores
        )
        self.executor = SimExecutor(
            world.env,
            streams.child(f"host/{self.name}/executor"),
            world.images,
            self._result,
            wall=lambda: self.clock.wall(world.env.now),
            dockerd=SimDockerd(world.env, world.engine, cores),
            attach=self.dataplane.attach,
        )
        self._entropy = streams.child(f"host/{self.name}/entropy")
        self.identity: NodeIdentity | None = None  # its TLS credentials with it
        self.credentials: NodeCredentials | None = None  # what its TLS would present now
        self.tasks: dict[str, Task] = {}  # the agent's durable store
        # the key the data key is wrapped under on disk ("": none, it boots unlocked)
        self.unlock_key = ""
        self.state = HostState.CRASHED
        self.node: SwarmNode | None = None
        self.incarnation = 0
        self._wake_generation = 0
        self._deadline: float | None = None  # the node's last next_deadline
        #: (generation, simulated instant) of the wake-up pending, if any: a step whose
        #: deadline did not move arms no second one (most steps; each stale one was a
        #: SimPy event of its own)
        self._wake_at: tuple[int, float] | None = None
        self._held: list[Callable[[], None]] = []  # inputs queued while paused
        self.description = NodeDescription(
            hostname=self.name,
            platform=Platform(architecture="x86_64", os="linux"),
            resources=Resources(nano_cpus=spec.cpus * 10**9, memory_bytes=spec.memory_bytes),
            engine=EngineDescription(engine_version="shoal-sim", labels=Labels(dict(spec.labels))),
        )

    # -- life ----------------------------------------------------------------------------

    def boot(self) -> None:
        """Start the process: a manager whose disk is locked waits for its key."""
        if self.unlock_key and self.identity is not None:
            self.incarnation += 1  # a new process: calls to the old one are answered dead
            self.state = HostState.LOCKED
            self.world.trace.emit(self.world.env.now, self.name, "locked")
            return
        self._start_node()

    def _start_node(self) -> None:
        self.incarnation += 1
        env = self.world.env
        rng = self.world.streams.child(f"host/{self.name}/node/{self.incarnation}")
        disk = NodeDisk(self.identity, self.disk.durable.copy(), dict(self.tasks))
        self.credentials = self.identity.credentials if self.identity is not None else None
        self.executor.host_started(self._result)
        self.node = SwarmNode(
            self.name,
            self.description,
            rng,
            lambda n: self._entropy.randbytes(n),
            self.world.raft_config,
            self.world.tick_seconds,
            self.clock.mono(env.now),
            self.clock.wall(env.now),
            disk=disk,
            incarnation=self.incarnation,
            mutations=self.world.config.mutations,
        )
        self.state = HostState.UP
        self.world.trace.emit(env.now, self.name, "boot", incarnation=self.incarnation)
        self.step()

    def crash(self, power_loss: bool = True) -> None:
        """The host goes down (``power_loss``: what the disk had not synced is lost;
        otherwise only the process dies and the page cache keeps it)."""
        if self.state is HostState.CRASHED:
            return
        self.state = HostState.CRASHED
        self.node = None
        self._held = []
        self._wake_generation += 1
        self.disk.crash(power_loss=power_loss)
        self.executor.host_crashed()
        self.dataplane.crashed()
        self.world.trace.emit(self.world.env.now, self.name, "crash")

    def pause(self) -> None:
        """Stop the process (SIGSTOP): nothing is handled until :meth:`resume`."""
        if self.state is HostState.UP:
            self.state = HostState.PAUSED
            self._wake_generation += 1
            self.world.trace.emit(self.world.env.now, self.name, "pause")

    def resume(self) -> None:
        """Continue (SIGCONT): what queued meanwhile is handled in arrival order."""
        if self.state is not HostState.PAUSED:
            return
        self.state = HostState.UP
        held, self._held = self._held, []
        self.world.trace.emit(self.world.env.now, self.name, "resume", queued=len(held))
        for action in held:
            action()
        if self._advance() is not None:
            self.step()

    def _hold(self, action: Callable[[], None]) -> bool:
        """Queue ``action`` if the host is paused (and say so)."""
        if self.state is HostState.PAUSED:
            self._held.append(action)
            return True
        return False

    # -- clocks --------------------------------------------------------------------------

    def skew_clock(self, seconds: float) -> None:
        """Step the wall clock by ``seconds`` (either way), as an NTP step would."""
        self.clock.skew_by(self.world.env.now, seconds)
        self._clock_moved()

    def set_drift(self, ppm: float) -> None:
        """Both clocks run ``ppm`` fast (or slow) from now on."""
        self.clock.set_drift(self.world.env.now, ppm)
        self.clock_changed()
        self._clock_moved()

    def reset_clock(self) -> None:
        """Back onto the clock's baseline (its drift, and the wall time it would read)."""
        self.clock.reset(self.world.env.now)
        self.clock_changed()
        self._clock_moved()

    def clock_changed(self) -> None:
        """The drift changed: the pending wake-up was computed at the old rate."""
        if self.state is HostState.UP:
            self._arm(self._deadline)

    def _clock_moved(self) -> None:
        """Record the clock's new offset and drift (a ``clock`` line in the trace)."""
        now = self.world.env.now
        self.world.stats["wall_clock_steps"] += 1
        self.world.trace.emit(
            now,
            self.name,
            "clock",
            offset_s=round(self.clock.offset(now), 6),
            drift_ppm=self.clock.drift_ppm,
        )

    # -- inputs --------------------------------------------------------------------------

    def _now(self) -> tuple[float, float]:
        now = self.world.env.now
        return self.clock.mono(now), self.clock.wall(now)

    def _advance(self) -> SwarmNode | None:
        if self.state is not HostState.UP or self.node is None:
            return None
        self.node.advance(*self._now())
        return self.node

    def receive(self, envelope: Envelope) -> None:
        if self._hold(functools.partial(self.receive, envelope)):
            return
        node = self._advance()
        if node is not None:
            node.receive(envelope.source, envelope.message)
            self.step()

    def request(self, request: ClientRequest) -> None:
        if self._hold(functools.partial(self.request, request)):
            return
        if request.method == INFO and self.state is not HostState.CRASHED:
            self.world.replies[request.id] = ClientReply(request.id, True, self.info())
            return
        if self.state is HostState.LOCKED:
            self._locked_request(request)
            return
        node = self._advance()
        if node is None:
            self.world.replies[request.id] = ClientReply(
                request.id, False, error="Cannot connect to the Docker daemon", code="Unavailable"
            )
            return
        node.request(request)
        self.step()

    def info(self) -> dict[str, Any]:
        """What its daemon's ``Info`` says (:meth:`core.node.SwarmNode.info`), or who
        it is while no node runs (locked, or down)."""
        if self.node is not None:
            return self.node.info()
        locked = self.state is HostState.LOCKED
        return {"host": self.name, "hostname": self.name, "node_id": "", "manager": False,
                "locked": locked}  # fmt: skip

    def _locked_request(self, request: ClientRequest) -> None:
        """As real/driver.py: refused, or an unlock with the right key (the node then
        boots from its disk), or a forced leave (the swarm's state is forgotten)."""
        refused = locked_answer(request, lambda raw: human_key(raw) == self.unlock_key)
        if refused is not None:
            self.world.replies[request.id] = refused
            return
        if request.method == "SwarmLeave":
            self.identity, self.tasks, self.unlock_key = None, {}, ""
            self.disk.wipe()
        self.world.trace.emit(self.world.env.now, self.name, "unlocked", how=request.method)
        self._start_node()
        self.world.replies[request.id] = ClientReply(request.id, True, None)

    def _synced(self, seq: int) -> None:
        if self._hold(functools.partial(self._synced, seq)):
            return
        node = self._advance()
        if node is not None:
            node.persisted(seq)
            self.step()

    def _result(self, result: ExecutorResult) -> None:
        if self._hold(functools.partial(self._result, result)):
            return
        node = self._advance()
        if node is not None:
            node.executor_result(result)
            self.step()

    def _loopback(self, envelope: Envelope, _event: object) -> None:
        self.receive(envelope)

    def _wake(self, generation: int) -> None:
        if generation != self._wake_generation:
            return  # a wake-up a later arm, a crash or a pause replaced
        self._wake_at = None
        if self._advance() is not None:
            self.step()

    # -- outputs -------------------------------------------------------------------------

    def step(self) -> None:
        node = self.node
        if node is None:
            return
        ready = node.ready()
        self.world.observe(self, node, ready)
        self._carry_out(ready)
        self._arm(ready.next_deadline)

    def _carry_out(self, ready: NodeReady) -> None:
        disk = self.disk
        if (disk.stalled or disk.waiting) and disk.hold(
            bool(ready.raft_writes or ready.agent_writes or ready.raft_reset is not None)
            or ready.identity is not False,
            lambda: self._carry_out(ready),
        ):
            return  # behind a stalled disk, as a real driver's outputs wait for its WAL
        world = self.world
        if ready.raft_reset is not None:
            self.disk.reset(ready.raft_reset)
        for write in ready.raft_writes:
            self.disk.write(write)
        for agent_write in ready.agent_writes:
            if agent_write.task is None:
                self.tasks.pop(agent_write.task_id, None)
            else:
                self.tasks[agent_write.task_id] = agent_write.task
        if ready.unlock_key is not None:
            self.unlock_key = ready.unlock_key
        if ready.identity is not False:
            self.identity = ready.identity if isinstance(ready.identity, NodeIdentity) else None
            if self.identity is None:
                self.credentials = None
        if ready.credentials is not None:
            self.credentials = ready.credentials
            identity = ready.credentials.identity
            world.trace.emit(
                world.env.now,
                self.name,
                "certificate",
                node=identity.node_id,
                role=identity.role.value,
                serial=f"{ready.credentials.certificate.serial_number:x}",
                not_after=ready.credentials.not_after,
            )
        for target, message in ready.messages:
            if target == self.name:  # to itself: the next instant, as over loopback
                loopback = functools.partial(self._loopback, Envelope(self.name, message))
                world.env.timeout(0).callbacks.append(loopback)
            elif target in world.hosts:
                world.network.send(self.name, target, Envelope(self.name, message))
        for command in ready.commands:
            self.executor.run(command)
        if ready.networks is not None:
            node_id = self.identity.node_id if self.identity is not None else ""
            self.dataplane.program(node_id, ready.networks)
        for reply in ready.replies:
            world.replies[reply.id] = reply

    def _arm(self, deadline: float | None) -> None:
        self._deadline = deadline
        if deadline is None:
            self._wake_generation += 1
            self._wake_at = None
            return
        env = self.world.env
        delay = max(0.0, self.clock.sim_time_at_mono(deadline, env.now) - env.now)
        if delay == 0.0 and self.clock.mono(env.now) < deadline:
            # the clock's inverse rounded below a deadline a hair ahead: waking now
            # would find it not yet due, and arm the same instant again forever
            delay = WAKE_ROUNDING_SECONDS
        at = env.now + delay
        if self._wake_at == (self._wake_generation, at):
            return  # the wake-up pending for that very instant stands
        self._wake_generation += 1
        generation = self._wake_generation
        self._wake_at = (generation, at)
        env.timeout(delay).callbacks.append(lambda _e: self._wake(generation))


@dataclass
class ClusterConfig:
    hosts: tuple[HostSpec, ...]
    images: dict[str, ImageBehaviour] = field(default_factory=dict)
    link: LinkModel = field(default_factory=LinkModel)
    disk: DiskModel = field(default_factory=DiskModel)
    engine: EngineModel = IDEAL  # what each dockerd operation costs (sim/dockerd.py)
    dataplane: DataplaneModel = FREE  # what programming networks costs (sim/dataplane.py)
    raft: RaftConfig = field(default_factory=RaftConfig)
    tick_seconds: float = 1.0
    # messages as values (every CODEC_CHECK_EVERY-th through the codec), or all as
    # bytes (``--strict-codec``): sim/network.py
    wire: bool = False
    mutations: ManagerMutations = NO_MUTATIONS  # test-only orchestrator/scheduler bugs
    checks: bool = False  # run the Raft and task checkers on every step


def standard_hosts(managers: int, workers: int) -> tuple[HostSpec, ...]:
    return tuple(HostSpec(f"manager-{i}", manager=True) for i in range(1, managers + 1)) + tuple(
        HostSpec(f"worker-{i}") for i in range(1, workers + 1)
    )


class ClusterWorld:
    def __init__(self, config: ClusterConfig, seed: int, trace_path: str | Path | None = None):
        pace_collector()
        self.config = config
        self.seed = seed
        self.env = simpy.Environment()
        self.streams = Streams(seed)
        self.trace = Trace(trace_path)
        self.images = dict(config.images)
        self.engine = config.engine
        # test hosts on one machine share its cores; otherwise each host has its own
        shared, op_cores = config.engine.shared_cores, config.engine.op_cores
        self.shared_cores = CpuPool(self.env, shared, op_cores) if shared > 0 else None
        self.disk_model = config.disk
        self.raft_config = config.raft
        self.tick_seconds = config.tick_seconds
        names = [h.name for h in config.hosts]
        self.traffic = SimTraffic(self, self.streams.child("traffic"))
        self.network = Network(
            self.env,
            self.streams.child("network"),
            names,
            config.link,
            config.wire,
            codec_check_every=CODEC_CHECK_EVERY,
            by_codec=_by_codec,
            encode=_encode,
            decode=_decode,
        )
        self.hosts: dict[str, ClusterHost] = {}
        for spec in config.hosts:
            host = ClusterHost(self, spec)
            self.hosts[spec.name] = host
            self.network.receivers[spec.name] = host.receive
        self.replies: dict[str, ClientReply] = {}
        self._request_seq = 0
        self.stats: Counter[str] = Counter()
        self.raft_checker = RaftChecker() if config.checks else None
        self.task_checker = TaskChecker() if config.checks else None
        self.traced_index = 0  # the newest committed entry written to the trace
        self.leaders: list[tuple[float, str, int]] = []  # (when, host, term) per leadership
        self._led: dict[str, int] = {}  # host -> the term it last led in
        self._commit_seen = 0  # the leader's commit index at the last sample
        if config.checks:
            self.env.process(self._every(1.0, self._sample))

    def cores_of(self, spec: HostSpec) -> CpuPool | None:
        """The cores a host's dockerd and data plane work on: the machine's shared
        ones, or the host's own (None: nothing costs CPU)."""
        if self.engine.free and self.config.dataplane.free:
            return None
        return self.shared_cores or CpuPool(self.env, spec.cpus, self.engine.op_cores)

    # -- watching ----------------------------------------------------------------------------

    def observe(self, host: ClusterHost, node: SwarmNode, ready: NodeReady) -> None:
        """Everything a node hands out, before the host carries it out: the checkers'
        inputs, and the trace's record of commits and leaders."""
        manager = node.manager
        raft_checker, task_checker = self.raft_checker, self.task_checker
        if raft_checker is not None:
            for _, message in ready.messages:
                if isinstance(message, RaftEnvelope):
                    raft_checker.on_send(message.message, host.disk.durable)
            if manager is not None:
                for entry, _ in ready.applied:
                    raft_checker.on_apply(manager.raft.id, entry)
                raft_checker.on_state(manager.raft.id, manager.raft)
        if manager is None:
            return
        if task_checker is not None and ready.applied:
            events = [event for _, applied in ready.applied for event in applied.events]
            task_checker.on_applied(manager.store, events)
        for entry, applied in ready.applied:
            if entry.index > self.traced_index:
                self.traced_index = entry.index
                self._trace_entry(host.name, entry.index, applied.events)
        term = manager.raft.term
        if manager.is_leader and self._led.get(host.name) != term:
            self._led[host.name] = term
            self.leaders.append((self.env.now, host.name, term))
            self.trace.emit(self.env.now, host.name, "leader", term=term)

    def _trace_entry(self, host: str, index: int, events: Iterable[Event | EventCommit]) -> None:
        for event in events:
            if isinstance(event, Event) and event.table == "tasks":
                task = event.new if isinstance(event.new, Task) else event.old
                assert isinstance(task, Task)
                self.trace.emit_task(
                    self.env.now,
                    host,
                    index=index,
                    id=task.id,
                    service=task.service_id,
                    slot=task.slot,
                    node=task.node_id,
                    state=task.status.state.name if event.new is not None else "DELETED",
                    desired=task.desired_state.name,
                )

    def _every(self, seconds: float, action: Callable[[], None]) -> Generator[simpy.Event]:
        while True:
            yield self.env.timeout(seconds)
            action()

    def _sample(self) -> None:
        leader = self.leader()
        if self.raft_checker is not None:
            self.raft_checker.check_logs(
                (h.node.manager.raft.id, h.node.manager.raft)
                for h in self.up_hosts()
                if h.node is not None and h.node.manager is not None
            )
        if leader is None or self.task_checker is None or leader.name not in self._led:
            return
        store = self.leader_store()
        assert leader.node is not None and leader.node.manager is not None
        log = leader.node.manager.raft.log
        stalled = log.committed < log.last_index() and log.committed == self._commit_seen
        self._commit_seen = log.committed
        if store is not None:
            lead = (leader.name, self._led[leader.name])
            self.task_checker.sample(self.env.now, store, lead, stalled)

    # -- driving ---------------------------------------------------------------------------

    def boot_all(self) -> None:
        for name in sorted(self.hosts):
            self.hosts[name].boot()

    def run_for(self, seconds: float) -> None:
        self.env.run(until=self.env.now + seconds)

    def run_until(self, done: Callable[[], bool], timeout: float, step: float = 0.5) -> bool:
        deadline = self.env.now + timeout
        while self.env.now < deadline:
            if done():
                return True
            self.env.run(until=min(deadline, self.env.now + step))
        return done()

    def send_request(self, host: str, method: str, **params: Any) -> str:
        self._request_seq += 1
        request_id = f"req-{self._request_seq}"
        self.hosts[host].request(ClientRequest(request_id, method, params))
        return request_id

    def call(self, host: str, method: str, timeout: float = 30.0, **params: Any) -> ClientReply:
        """A request and its reply (running the world until it comes)."""
        request_id = self.send_request(host, method, **params)
        self.run_until(lambda: request_id in self.replies, timeout, step=0.05)
        reply = self.replies.get(request_id)
        if reply is None:
            raise NoReply(host, method, timeout)
        return reply

    # -- building a swarm ------------------------------------------------------------------

    def form_swarm(self, timeout: float = 120.0, spare: Iterable[str] = ()) -> None:
        """Boot every host, init the swarm on the first manager, join the others;
        ``spare`` hosts stay off (to :meth:`join` later, as a swarm grows)."""
        left_out = set(spare)
        specs = [s for s in self.config.hosts if s.name not in left_out]
        for spec in sorted(specs, key=lambda s: s.name):
            self.hosts[spec.name].boot()
        first = next(s for s in specs if s.manager)
        reply = self.call(first.name, "SwarmInit")
        if not reply.ok:
            raise AssertionError(f"swarm init failed: {reply.error}")
        tokens = self.join_tokens(first.name)
        for spec in specs:
            if spec is not first:
                self._join(spec, first.name, tokens)
        ok = self.run_until(lambda: self.all_ready(len(specs)), timeout)
        if not ok:
            raise AssertionError("the swarm did not form in time")

    def join(self, name: str, via: str) -> None:
        """Boot a spare host and join it through the manager ``via``."""
        host = self.hosts[name]
        if host.state is HostState.CRASHED:
            host.boot()
        self._join(host.spec, via, self.join_tokens(via))

    def _join(self, spec: HostSpec, via: str, tokens: JoinTokens) -> None:
        token = tokens.manager if spec.manager else tokens.worker
        joined = self.call(spec.name, "SwarmJoin", remote=via, token=token)
        if not joined.ok:
            raise AssertionError(f"{spec.name} could not join: {joined.error}")

    def join_tokens(self, host: str) -> JoinTokens:
        store = self.leader_store()
        assert store is not None
        cluster = next(iter(store.tables["clusters"].values()))
        assert isinstance(cluster, Cluster)
        return cluster.join_tokens

    # -- looking at it ---------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return sorted(self.hosts)

    def crash(self, host: ClusterHost, power_loss: bool = False) -> None:
        host.crash(power_loss)

    def restart(self, host: ClusterHost) -> None:
        """Boot the host again; one that runs (or is paused) is killed first, so that
        nothing of the old process (held inputs, fsyncs in flight) reaches the new."""
        if host.state is not HostState.CRASHED:
            host.crash(power_loss=False)
        host.boot()

    def pause(self, host: ClusterHost) -> None:
        host.pause()

    def up_hosts(self) -> list[ClusterHost]:
        return [self.hosts[n] for n in sorted(self.hosts) if self.hosts[n].state is HostState.UP]

    def leader(self) -> ClusterHost | None:
        """The running host whose node leads in the highest term (a leader cut off
        from the rest believes it leads until check-quorum unseats it; one elected
        since, in a higher term, is the one that can commit), the first by name in a
        tie; a paused one cannot act. Real mode's judge picks the same way."""
        found: ClusterHost | None = None
        best = -1
        for host in self.up_hosts():
            node = host.node
            manager = node.manager if node is not None else None
            if manager is not None and manager.is_leader and manager.raft.term > best:
                found, best = host, manager.raft.term
        return found

    def leader_store(self) -> MemoryStore | None:
        leader = self.leader()
        if leader is None or leader.node is None or leader.node.manager is None:
            return None
        return leader.node.manager.store

    def all_ready(self, count: int | None = None) -> bool:
        """Every node (``count`` of them, by default one per host) known and READY."""
        store = self.leader_store()
        if store is None:
            return False
        nodes = [n for n in store.tables["nodes"].values() if isinstance(n, Node)]
        wanted = len(self.hosts) if count is None else count
        return len(nodes) == wanted and all(n.status.state is NodeState.READY for n in nodes)

    def tasks(self) -> list[Task]:
        store = self.leader_store()
        if store is None:
            return []
        tasks = store.tables["tasks"]
        return [t for _, t in sorted(tasks.items()) if isinstance(t, Task)]

    def running_containers(self) -> dict[str, list[str]]:
        """Task ids whose containers run, per host: the executors' truth."""
        return {
            name: [c.task_id for c in self.hosts[name].executor.running()]
            for name in sorted(self.hosts)
        }
