"""A simulated cluster of Raft managers: hosts, network, client, faults and checkers.

One seed makes one run. The run has a **safety phase** (faults on, every step
checked by :class:`RaftChecker` and the hash-chain ledger) and then a **liveness
phase** (every fault stopped, the network clean, crashed hosts restarted, members
re-added) that must reach a leader and apply every acknowledged proposal on every
host within a bound, as TigerBeetle's VOPR does. A violation stops the run and is
reported with the seed, the simulated time and the command that replays it.

The safety phase's faults come from a random schedule over ``nemeses`` or, when
``timeline`` is given, from that fixed list of (at, nemesis, duration) steps instead.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import simpy

from core.errors import InvariantViolation
from core.raft.config import Mutations, RaftConfig
from core.raft.node import RaftNode, bootstrap_state
from core.raft.types import (
    ChangeKind,
    ConfChange,
    EntryKind,
    Message,
    MessageType,
    NodeId,
    RaftError,
    Role,
    SoftState,
)
from sim.client import Client
from sim.disk import DiskModel
from sim.faults.nemesis import NEMESES
from sim.faults.schedule import FaultEngine, Step
from sim.hashchain import DigestLedger
from sim.heap import pace_collector
from sim.host import HostState, SimHost
from sim.network import LinkModel, Network
from sim.raft_checks import RaftChecker, SafetyViolation
from sim.streams import Streams
from sim.swarm import swarm_config
from sim.trace import Trace

RECONCILE_SECONDS = 1.0  # how often the membership reconciler and log checks run


@dataclass(frozen=True)
class WorldConfig:
    managers: int = 5
    tick_seconds: float = 1.0  # SwarmKit: one Raft tick per second
    raft: RaftConfig = field(default_factory=RaftConfig)
    link: LinkModel = field(default_factory=LinkModel)
    disk: DiskModel = field(default_factory=DiskModel)
    wire: bool = True  # every message crosses as bytes through the real codec
    proposal_interval: float = 1.0  # the client's mean seconds between proposals
    nemeses: tuple[str, ...] = ()  # the random schedule's choices
    fault_interval: float = 10.0  # mean seconds between fault starts is 0.6 of this
    timeline: tuple[Step, ...] = ()  # a fixed schedule instead: (at, nemesis, duration)
    safety_seconds: float = 300.0
    liveness_seconds_max: float = 180.0
    restart_seconds: tuple[float, float] = (0.5, 2.0)  # a crashed process boots this long

    def __post_init__(self) -> None:
        if self.managers < 1:
            raise ValueError(f"a cluster needs at least one manager, not {self.managers}")
        unknown = sorted(set(self.nemeses) - set(NEMESES))
        if unknown:
            raise ValueError(
                f"unknown nemesis {', '.join(unknown)} (known: {', '.join(sorted(NEMESES))})"
            )
        if not self.tick_seconds > 0:
            raise ValueError(f"tick length must be positive, not {self.tick_seconds}")
        if self.timeline and self.nemeses:
            raise ValueError("a run has one fault schedule: a timeline or random nemeses")
        for at, name, duration in self.timeline:
            if name not in NEMESES:
                raise ValueError(
                    f"unknown nemesis {name} in the timeline (known: {', '.join(sorted(NEMESES))})"
                )
            if not 0 <= at < self.safety_seconds:
                raise ValueError(
                    f"timeline step {name} at {at:g}s is outside the "
                    f"{self.safety_seconds:g}s safety phase"
                )
            if not duration > 0:
                raise ValueError(f"timeline step {name} at {at:g}s needs a positive duration")


@dataclass
class RunResult:
    seed: int
    trace_hash: str
    sim_seconds: float
    stats: Counter[str]
    faults: Counter[str]
    fault_starts: list[tuple[float, str]]  # (when, nemesis), in order
    elections: int
    max_term: int
    leader_changes: int
    leaderless_seconds: list[float]
    applied_index: int
    acknowledged: int
    violation: str | None = None
    liveness_failure: str | None = None
    converged_after: float | None = None  # seconds into the liveness phase
    safety_seconds: float = 0.0
    knobs: dict[str, Any] = field(default_factory=dict)  # swarm draws, if any

    @property
    def ok(self) -> bool:
        return self.violation is None and self.liveness_failure is None

    def fault_gaps(self) -> list[float]:
        """Seconds from the safety phase's start to the first fault start, between
        consecutive starts, and from the last to the phase's end."""
        times = [0.0, *(at for at, _ in self.fault_starts), self.safety_seconds]
        return [b - a for a, b in itertools.pairwise(times)]

    def largest_fault_gap(self) -> float | None:
        """The longest stretch of the safety phase without a fault start, if any
        fault started."""
        if not self.fault_starts:
            return None
        return round(max(self.fault_gaps()), 3)

    def summary(self) -> dict[str, Any]:
        gaps = self.leaderless_seconds
        return {
            "seed": self.seed,
            "ok": self.ok,
            "sim_seconds": round(self.sim_seconds, 3),
            "elections": self.elections,
            "max_term": self.max_term,
            "leader_changes": self.leader_changes,
            "leaderless_p50_s": round(statistics.median(gaps), 3) if gaps else None,
            "leaderless_max_s": round(max(gaps), 3) if gaps else None,
            "applied_index": self.applied_index,
            "acknowledged_proposals": self.acknowledged,
            "faults": dict(sorted(self.faults.items())),
            "largest_fault_gap_s": self.largest_fault_gap(),
            "wall_clock_steps": self.stats["wall_clock_steps"],
            "split_votes": self.stats["split_votes"],
            "prevote_rejections": self.stats["prevote_rejections"],
            "snapshots_sent": self.stats["snapshots_sent"],
            "writes_lost": self.stats["writes_lost"],
            "membership_changes": self.stats["membership_changes"],
            "messages": {k: self.stats[f"net_{k}"] for k in ("sent", "delivered", "lost", "cut")},
            "converged_after_s": (
                round(self.converged_after, 3) if self.converged_after is not None else None
            ),
            "violation": self.violation,
            "liveness_failure": self.liveness_failure,
            "swarm": self.knobs,
            "trace_hash": self.trace_hash,
        }


class RaftWorld:
    def __init__(
        self,
        config: WorldConfig,
        seed: int,
        trace_path: str | Path | None = None,
        *,
        swarm: bool = False,
    ) -> None:
        """``swarm``: draw this seed's network, disk, batching and workload knobs."""
        pace_collector()
        self.seed = seed
        self.env = simpy.Environment()
        self.streams = Streams(seed)
        self.knobs: dict[str, Any] = {}
        if swarm:
            config, self.knobs = swarm_config(config, self.streams.child("swarm"))
        self.config = config
        self.trace = Trace(trace_path)
        self.stats: Counter[str] = Counter()
        self.checker = RaftChecker()
        self.ledger = DigestLedger()
        self.tick_seconds = config.tick_seconds
        self.disk_model = config.disk
        self.names = [f"m{i}" for i in range(1, config.managers + 1)]
        self.network = Network(
            self.env, self.streams.child("network"), list(self.names), config.link, config.wire
        )
        self.hosts: dict[str, SimHost] = {}
        self.by_raft_id: dict[NodeId, SimHost] = {}
        self._next_raft_id = config.managers + 1
        self.leader: SimHost | None = None  # the newest elected leader
        self.leader_term = 0
        self.leaderless_since: float | None = 0.0
        self.leaderless: list[float] = []
        self.candidate_terms: set[int] = set()
        self.leader_terms: set[int] = set()
        self.elected: list[tuple[float, str, int]] = []  # (when, who, term) per election
        self.faults = FaultEngine(
            self, self.streams.child("faults"), self.streams, NEMESES, config.safety_seconds
        )
        voters = list(range(1, config.managers + 1))
        for raft_id, name in enumerate(self.names, start=1):
            host = SimHost(self, name, raft_id)
            host.disk.durable = bootstrap_state(voters)
            self.hosts[name] = host
            self.by_raft_id[raft_id] = host
            self.network.receivers[name] = host.receive
            host.on_applied.append(self._count_membership_change)
        self.client = Client(self, self.streams.child("client"))
        self._config_trace()

    def _config_trace(self) -> None:
        c = self.config
        self.trace.emit(
            0.0,
            "-",
            "config",
            seed=self.seed,
            managers=c.managers,
            tick=c.tick_seconds,
            election_ticks=c.raft.election_ticks,
            heartbeat_ticks=c.raft.heartbeat_ticks,
            nemeses=list(c.nemeses),
            timeline=[list(step) for step in c.timeline],
            clocks={
                name: {
                    "offset_s": self.hosts[name].clock.base_offset,
                    "drift_ppm": self.hosts[name].clock.base_drift_ppm,
                }
                for name in self.names
            },
            wire=c.wire,
            snapshot_interval=c.raft.snapshot_interval,
            mutations=[k for k in Mutations.__dataclass_fields__ if getattr(c.raft.mutations, k)],
            swarm=self.knobs,
        )

    # -- the hosts' view of the world --------------------------------------------------

    def send(self, host: SimHost, message: Message) -> None:
        self.checker.on_send(message, host.disk.durable)
        if message.type is MessageType.PRE_VOTE_RESP and message.reject:
            self.stats["prevote_rejections"] += 1
        elif message.type is MessageType.SNAP:
            self.stats["snapshots_sent"] += 1
        target = self.by_raft_id.get(message.to)
        if target is not None:
            self.network.send(host.name, target.name, message)

    def on_role_change(self, host: SimHost, before: SoftState, now: SoftState) -> None:
        if now.role is Role.CANDIDATE:
            self.candidate_terms.add(now.term)
        if now.role is Role.LEADER:
            self.stats["elections"] += 1
            self.leader_terms.add(now.term)
            self.elected.append((self.env.now, host.name, now.term))
            if now.term > self.leader_term:
                if self.leader is not None and self.leader is not host:
                    self.stats["leader_changes"] += 1
                self.leader, self.leader_term = host, now.term
                if self.leaderless_since is not None:
                    self.leaderless.append(self.env.now - self.leaderless_since)
                    self.leaderless_since = None
        elif before.role is Role.LEADER and host is self.leader:
            self._leader_lost()

    def _leader_lost(self) -> None:
        if self.leaderless_since is None:
            self.leaderless_since = self.env.now

    def leader_host(self) -> SimHost | None:
        """The up host that leads in the highest term, if any."""
        leaders = [h for h in self.up_hosts() if h.role is Role.LEADER]
        return max(leaders, key=lambda h: (h.raft.term if h.raft else 0, h.name), default=None)

    def up_hosts(self) -> list[SimHost]:
        return [self.hosts[n] for n in self.names if self.hosts[n].state is HostState.UP]

    # -- operations the nemeses and the liveness phase use --------------------------------

    def start_host(self, host: SimHost) -> None:
        raft_id, config = host.raft_id, self.config.raft
        durable = host.disk.durable
        if durable.hard_state.term == 0 and not durable.entries and not durable.snapshot.index:
            host.start(lambda rng: RaftNode.join(raft_id, config, rng))
        else:
            host.start(lambda rng: RaftNode(raft_id, config, rng, durable.copy()))

    def crash(self, host: SimHost, power_loss: bool = False) -> None:
        if host is self.leader and host.role is Role.LEADER:
            self._leader_lost()
        lost = host.crash(power_loss)
        self.stats["writes_lost"] += lost

    def restart(self, host: SimHost) -> None:
        """Boot a crashed host again after a short, random boot time."""
        low, high = self.config.restart_seconds
        host.boot_after(host.boot_rng.uniform(low, high), lambda: self.start_host(host))

    def pause(self, host: SimHost) -> None:
        if host is self.leader and host.role is Role.LEADER:
            self._leader_lost()
        host.pause()

    def propose_membership(self, change: ConfChange) -> bool:
        leader = self.leader_host()
        if leader is None or leader.raft is None:
            return False
        try:
            leader.raft.propose_conf_change(change)
        except RaftError:
            return False
        leader.process()
        return True

    def _count_membership_change(self, host: SimHost, entry: Any) -> None:
        if entry.kind is EntryKind.CONF_CHANGE and host is self.leader_host():
            self.stats["membership_changes"] += 1

    def _reconcile_membership(self) -> None:
        """Swarm's demote-then-promote: a host whose member id was removed wipes its
        state and rejoins under a new id, which the leader then adds."""
        leader = self.leader_host()
        if leader is None or leader.raft is None:
            return
        conf = leader.raft.conf
        for name in self.names:
            host = self.hosts[name]
            if host.raft_id in conf.removed and host.state is HostState.UP:
                self._rejoin(host)
        for name in self.names:
            host = self.hosts[name]
            joining = host.raft_id not in conf.voters and host.raft_id not in conf.removed
            if joining and host.state is HostState.UP:
                if self.propose_membership(ConfChange(ChangeKind.ADD, host.raft_id)):
                    self.trace.emit(self.env.now, name, "member-add", raft_id=host.raft_id)
                return  # one change at a time

    def _rejoin(self, host: SimHost) -> None:
        host.crash(power_loss=True)
        host.disk.wipe()
        del self.by_raft_id[host.raft_id]
        host.raft_id, self._next_raft_id = self._next_raft_id, self._next_raft_id + 1
        self.by_raft_id[host.raft_id] = host
        self.trace.emit(self.env.now, host.name, "rejoin", raft_id=host.raft_id)
        self.restart(host)

    # -- running -------------------------------------------------------------------------

    def _every(self, seconds: float, action: Any) -> Generator[simpy.Event, None, None]:
        while True:
            yield self.env.timeout(seconds)
            action()

    def _check_logs(self) -> None:
        up = [(h.raft_id, h.raft) for h in self.up_hosts() if h.raft is not None]
        self.checker.check_logs(up)

    def boot(self) -> None:
        """Start every host and the background loops (client, membership reconciler,
        log checks); no faults. ``run`` does this first; experiments may drive the
        world by hand afterwards."""
        for name in self.names:
            self.start_host(self.hosts[name])
        self.env.process(self._every(RECONCILE_SECONDS, self._reconcile_membership))
        self.env.process(self._every(RECONCILE_SECONDS, self._check_logs))
        self.env.process(self.client.run())

    def run(self) -> RunResult:
        config = self.config
        try:
            self.boot()
            if config.timeline:
                self.env.process(self.faults.timeline(config.timeline))
            elif config.nemeses:
                self.env.process(self.faults.run(config.nemeses, config.fault_interval))
            self.env.run(until=config.safety_seconds)
            self.trace.emit(self.env.now, "-", "liveness-phase")
            self.faults.stop_all()
            self.client.stop()
            self.heal_everything()
            converged = self._await_convergence()
        except InvariantViolation as error:
            members = " ".join(f"{h.name}=id{h.raft_id}" for h in self.hosts.values())
            return self._result(violation=f"{error} (at {self.env.now:.3f}s; {members})")
        if isinstance(converged, str):
            return self._result(liveness_failure=converged)
        return self._result(converged_after=converged)

    def heal_everything(self) -> None:
        """The liveness phase's world: a clean network (no partition, no burst, and
        no loss, duplication or reordering on any link, only latency), every paused
        host resumed and every down host booting."""
        self.network.clean()
        for name in self.names:
            host = self.hosts[name]
            if host.state is HostState.PAUSED:
                host.resume()
            self.restart(host)

    def _await_convergence(self) -> float | str:
        """Seconds until a leader has applied a fresh proposal everywhere together with
        every acknowledged one; or why not."""
        started, deadline = self.env.now, self.env.now + self.config.liveness_seconds_max
        final: tuple[SimHost, int] | None = None
        while self.env.now < deadline:
            self.env.run(until=min(deadline, self.env.now + RECONCILE_SECONDS))
            leader = self.leader_host()
            if leader is None or leader.raft is None:
                final = None
                continue
            if final is None or final[0] is not leader:
                index = self.client.propose_on(leader, b"final")
                final = (leader, index) if index else None
                continue
            if self._converged(leader, final[1]) is None:
                return self.env.now - started
        leader = self.leader_host()
        if leader is None:
            return f"no leader {self.config.liveness_seconds_max:g}s after healing"
        if final is None:
            return f"leader {leader.name} accepted no proposal after healing"
        return self._converged(leader, final[1]) or "did not converge"

    def _converged(self, leader: SimHost, final_index: int) -> str | None:
        assert leader.raft is not None
        voters = leader.raft.conf.voters
        need = max(final_index, self.client.acknowledged_index())
        for name in self.names:
            host = self.hosts[name]
            if host.raft_id not in voters:
                return f"{name} (id {host.raft_id}) is not a member again"
            if host.chain.applied_index < need:
                return f"{name} applied {host.chain.applied_index} < {need}"
        return None

    def _result(self, **outcome: Any) -> RunResult:
        self.stats["split_votes"] = len(self.candidate_terms - self.leader_terms)
        for key, value in self.network.stats.items():
            self.stats[f"net_{key}"] = value
        violation = outcome.get("violation")
        self.trace.emit(
            self.env.now,
            "-",
            "end",
            violation=violation,
            liveness_failure=outcome.get("liveness_failure"),
            stats=dict(sorted(self.stats.items())),
        )
        self.trace.close()
        terms = [h.raft.term for h in self.hosts.values() if h.raft is not None]
        return RunResult(
            seed=self.seed,
            trace_hash=self.trace.hexdigest(),
            sim_seconds=self.env.now,
            stats=self.stats,
            faults=self.faults.started,
            fault_starts=list(self.faults.starts),
            safety_seconds=self.config.safety_seconds,
            elections=self.stats["elections"],
            max_term=max(terms, default=self.leader_term),
            leader_changes=self.stats["leader_changes"],
            leaderless_seconds=list(self.leaderless),
            applied_index=max(h.chain.applied_index for h in self.hosts.values()),
            acknowledged=len(self.client.acknowledged),
            knobs=self.knobs,
            **outcome,
        )


def mutated(config: WorldConfig, mutation: str | None) -> WorldConfig:
    """``config`` with one of :class:`Mutations`' switches on."""
    if not mutation:
        return config
    if mutation not in Mutations.__dataclass_fields__:
        known = ", ".join(sorted(Mutations.__dataclass_fields__))
        raise ValueError(f"unknown mutation {mutation!r} (known: {known})")
    raft = replace(config.raft, mutations=Mutations(**{mutation: True}))
    return replace(config, raft=raft)


__all__ = ["RaftWorld", "RunResult", "SafetyViolation", "WorldConfig", "mutated"]
