"""Nemeses: faults that start, hold for a while, and stop (Jepsen's flip-flop).

Each nemesis belongs to a family (network, link, process, clock, membership); at
most one fault of a family is active at a time, so a partition is never silently
replaced by another half-way. ``start`` returns what it did (for the trace) or None
when it does not apply right now (no leader to isolate, the quorum budget spent).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import networkx as nx
import simpy

from core.raft.types import ChangeKind, ConfChange
from sim.clock import HostClock
from sim.faults import topology
from sim.host import HostState, SimHost
from sim.network import Network
from sim.trace import Trace

if TYPE_CHECKING:
    from sim.world import RaftWorld

Effect = dict[str, Any]


W_contra = TypeVar("W_contra", contravariant=True)


class Nemesis(Protocol[W_contra]):
    """A fault against a world of type ``W_contra`` (the Raft world, the cluster world)."""

    name: str
    family: str

    def start(self, world: W_contra, rng: random.Random) -> Effect | None: ...

    def stop(self, world: W_contra) -> None: ...


def _pick(rng: random.Random, hosts: list[SimHost]) -> SimHost | None:
    return hosts[rng.randrange(len(hosts))] if hosts else None


def _leader_or_any(world: RaftWorld, rng: random.Random) -> SimHost | None:
    return world.leader_host() or _pick(rng, world.up_hosts())


def _quorum_budget(world: RaftWorld) -> int:
    """How many more hosts may go down with a majority still up."""
    down = sum(1 for h in world.hosts.values() if h.state is not HostState.UP)
    return (len(world.hosts) - 1) // 2 - down


# -- network ------------------------------------------------------------------------


class Networked(Protocol):
    """A world with a simulated network (the Raft world, the cluster world)."""

    @property
    def network(self) -> Network: ...


N = TypeVar("N", bound=Networked)


class Partition(Generic[N]):
    """Replace the connectivity graph; heal on stop."""

    family = "network"

    def __init__(
        self, name: str, build: Callable[[N, random.Random], tuple[nx.DiGraph, Effect]]
    ) -> None:
        self.name = name
        self.build = build

    def start(self, world: N, rng: random.Random) -> Effect | None:
        graph, effect = self.build(world, rng)
        world.network.set_graph(graph)
        return {**effect, "blocked": len(world.network.blocked_links())}

    def stop(self, world: N) -> None:
        world.network.heal()


def _halves(world: RaftWorld, rng: random.Random) -> tuple[nx.DiGraph, Effect]:
    graph, small = topology.random_halves(world.names, rng)
    return graph, {"minority": small}


def _ring(world: RaftWorld, rng: random.Random) -> tuple[nx.DiGraph, Effect]:
    return topology.majorities_ring(world.names, rng), {}


def _bridge(world: RaftWorld, rng: random.Random) -> tuple[nx.DiGraph, Effect]:
    graph, middle = topology.bridge(world.names, rng)
    return graph, {"bridge": middle}


def _isolate_leader(world: RaftWorld, rng: random.Random) -> tuple[nx.DiGraph, Effect]:
    victim = _leader_or_any(world, rng)
    name = victim.name if victim else world.names[rng.randrange(len(world.names))]
    return topology.isolate(world.names, name), {"isolated": name}


def _one_way(world: RaftWorld, rng: random.Random) -> tuple[nx.DiGraph, Effect]:
    """The leader (or anyone) can no longer send, yet hears everyone: the
    asymmetric fault that livelocks naive elections."""
    victim = _leader_or_any(world, rng)
    name = victim.name if victim else world.names[0]
    others = [n for n in world.names if n != name]
    return topology.one_way_cut(topology.full(world.names), name, others), {"mute": name}


# -- link quality -------------------------------------------------------------------


class Burst(Generic[N]):
    """Extra loss or duplication on every link for a while."""

    family = "link"

    def __init__(self, name: str, attribute: str) -> None:
        self.name = name
        self.attribute = attribute

    def start(self, world: N, rng: random.Random) -> Effect | None:
        rate = round(rng.uniform(0.1, 0.5), 3)
        setattr(world.network, self.attribute, rate)
        return {"rate": rate}

    def stop(self, world: N) -> None:
        setattr(world.network, self.attribute, 0.0)


# -- processes -------------------------------------------------------------------------


class Named(Protocol):
    @property
    def name(self) -> str: ...


H = TypeVar("H", bound=Named)


H_contra = TypeVar("H_contra", bound=Named, contravariant=True)


class Crashing(Protocol[H_contra]):
    """A world whose hosts can be crashed and restarted (the Raft world, the cluster world)."""

    def crash(self, host: H_contra, power_loss: bool = False) -> None: ...

    def restart(self, host: H_contra) -> None: ...


C = TypeVar("C", bound=Crashing[Any])


class Crash(Generic[C, H]):
    """Kill the hosts ``choose`` picks from the world; restart them on stop."""

    family = "process"

    def __init__(
        self,
        name: str,
        choose: Callable[[C, random.Random], list[H]],
        power_loss: bool = False,
    ) -> None:
        self.name = name
        self.choose = choose
        self.power_loss = power_loss
        self.victims: list[H] = []

    def start(self, world: C, rng: random.Random) -> Effect | None:
        self.victims = self.choose(world, rng)
        if not self.victims:
            return None
        for host in self.victims:
            world.crash(host, self.power_loss)
        return {"victims": [h.name for h in self.victims], "power_loss": self.power_loss}

    def stop(self, world: C) -> None:
        for host in self.victims:
            world.restart(host)
        self.victims = []


def _minority(world: RaftWorld, rng: random.Random) -> list[SimHost]:
    budget = _quorum_budget(world)
    up = world.up_hosts()
    if budget < 1 or not up:
        return []
    return sorted(rng.sample(up, rng.randint(1, min(budget, len(up)))), key=lambda h: h.name)


def _majority(world: RaftWorld, rng: random.Random) -> list[SimHost]:
    """Beyond the quorum budget: the cluster must stall, then recover."""
    up = world.up_hosts()
    count = min(len(up), len(world.hosts) // 2 + 1)
    return sorted(rng.sample(up, count), key=lambda h: h.name)


def _leader(world: RaftWorld, rng: random.Random) -> list[SimHost]:
    leader = world.leader_host()
    return [leader] if leader is not None else []


def _one(world: RaftWorld, rng: random.Random) -> list[SimHost]:
    host = _leader_or_any(world, rng) if rng.random() < 0.5 else _pick(rng, world.up_hosts())
    return [host] if host is not None else []


class PowerLoss(Crash["RaftWorld", SimHost]):
    """Cut the power while a write waits for its fsync, so the tail is lost."""

    def __init__(self) -> None:
        super().__init__("power-loss", _one, power_loss=True)
        self._armed: SimHost | None = None

    def start(self, world: RaftWorld, rng: random.Random) -> Effect | None:
        chosen = self.choose(world, rng)
        if not chosen:
            return None
        host = self._armed = chosen[0]

        def strike() -> None:
            host.disk.on_write = None
            if self._armed is host and host.state is HostState.UP:
                # After the write is queued, before its fsync completes; not inside
                # the host's own output loop.
                event = world.env.timeout(0)
                event.callbacks.append(lambda _e: self._strike(world, host))

        host.disk.on_write = strike
        return {"victim": host.name, "armed": True}

    def _strike(self, world: RaftWorld, host: SimHost) -> None:
        if self._armed is host and host.state is HostState.UP:
            world.crash(host, power_loss=True)
            self.victims = [host]

    def stop(self, world: RaftWorld) -> None:
        if self._armed is not None:
            self._armed.disk.on_write = None
            self._armed = None
        super().stop(world)


class Restart:
    """Restart one host's process straight away (``kill -9`` and a supervisor, or
    ``systemctl restart``): memory is gone but the machine stays up, so the page
    cache keeps every write, even those not yet fsynced, unlike ``power-loss``. The
    host boots for the world's restart time and comes back with its disk."""

    family = "process"
    name = "restart"

    def start(self, world: RaftWorld, rng: random.Random) -> Effect | None:
        chosen = _one(world, rng)
        if not chosen:
            return None
        host = chosen[0]
        world.crash(host, power_loss=False)
        world.restart(host)
        return {"victim": host.name}

    def stop(self, world: RaftWorld) -> None:
        """Nothing to undo: the host restarted by itself."""


class Resumable(Named, Protocol):
    def resume(self) -> None: ...


R = TypeVar("R", bound=Resumable)
R_contra = TypeVar("R_contra", bound=Resumable, contravariant=True)


class Pausing(Protocol[R_contra]):
    """A world whose hosts can be paused (the Raft world, the cluster world)."""

    def pause(self, host: R_contra) -> None: ...


P = TypeVar("P", bound=Pausing[Any])


class Pause(Generic[P, R]):
    """Stop the world on the host ``choose`` picks (SIGSTOP), resume on stop."""

    family = "process"

    def __init__(self, name: str, choose: Callable[[P, random.Random], list[R]]) -> None:
        self.name = name
        self.choose = choose
        self.victim: R | None = None

    def start(self, world: P, rng: random.Random) -> Effect | None:
        chosen = self.choose(world, rng)
        if not chosen:
            return None
        self.victim = chosen[0]
        world.pause(self.victim)
        return {"victim": self.victim.name}

    def stop(self, world: P) -> None:
        if self.victim is not None:
            self.victim.resume()
            self.victim = None


# -- clocks ------------------------------------------------------------------------


def _bump_seconds(rng: random.Random) -> float:
    """Jepsen's clock bump: +/- 2^(2..18) ms."""
    sign: float = rng.choice((-1.0, 1.0))
    return sign * float(2 ** rng.randint(2, 18)) / 1000


class Clocked(Protocol):
    """A host with clocks a nemesis can disturb (told when their rate changed)."""

    @property
    def name(self) -> str: ...

    @property
    def clock(self) -> HostClock: ...

    def clock_changed(self) -> None: ...


class ClockWorld(Protocol):
    """A world whose hosts' clocks a nemesis can disturb."""

    @property
    def env(self) -> simpy.Environment: ...

    @property
    def trace(self) -> Trace: ...

    @property
    def stats(self) -> Counter[str]: ...

    @property
    def names(self) -> list[str]: ...

    @property
    def hosts(self) -> Mapping[str, Clocked]: ...


def _wall_changed(world: ClockWorld, host: Clocked, nemesis: str) -> float:
    """Record that ``host``'s wall clock moved (a ``clock`` line with the new offset):
    nothing in the Raft-only world reads wall time, so the trace is where such a
    step shows (in the whole swarm, wall time stamps statuses and objects)."""
    now = world.env.now
    offset = round(host.clock.offset(now), 6)
    world.stats["wall_clock_steps"] += 1
    world.trace.emit(
        now, host.name, "clock", nemesis=nemesis, offset_s=offset, drift_ppm=host.clock.drift_ppm
    )
    return offset


class ClockSkew:
    """Step one host's wall clock and make both its clocks drift; back to the host's
    baseline on stop.

    The drift (up to +/- 5%) changes how fast the host's monotonic clock counts, so it
    changes the pace of that host's Raft ticks: its heartbeats and election timeouts
    run early or late. The step moves only the wall clock, which the Raft-only world
    does not read; it shows in the trace (the fault line's ``offset_s``)."""

    family = "clock"
    name = "clock-skew"

    def __init__(self) -> None:
        self.victim: Clocked | None = None

    def start(self, world: ClockWorld, rng: random.Random) -> Effect | None:
        host = self.victim = world.hosts[world.names[rng.randrange(len(world.names))]]
        bump, ppm = _bump_seconds(rng), round(rng.uniform(-50_000, 50_000))
        now = world.env.now
        host.clock.skew_by(now, bump)
        host.clock.set_drift(now, ppm)
        host.clock_changed()
        world.stats["wall_clock_steps"] += 1
        offset = round(host.clock.offset(now), 6)
        return {"victim": host.name, "bump_s": bump, "drift_ppm": ppm, "offset_s": offset}

    def stop(self, world: ClockWorld) -> None:
        if self.victim is not None:
            reset_clock(world, self.victim, self.name)
            self.victim = None


def reset_clock(world: ClockWorld, host: Clocked, nemesis: str) -> None:
    """Put ``host``'s clocks back on their baseline (its starting drift, and the wall
    time its undisturbed clock would show) and record the step."""
    host.clock.reset(world.env.now)
    host.clock_changed()
    _wall_changed(world, host, nemesis)


class ClockStrobe:
    """Flip one host's wall clock back and forth every period (Jepsen's strobe).

    Only the wall clock moves: the monotonic clock, and so the host's Raft ticks, are
    untouched, and nothing in the Raft-only world reads wall time, so this nemesis
    cannot change what Raft does. It is here for the layers that stamp objects and
    check certificate validity with wall time. Every flip is a ``clock`` line in the
    trace with the new offset, so a strobe run's trace records what happened."""

    family = "clock"
    name = "clock-strobe"

    def __init__(self) -> None:
        self.victim: SimHost | None = None
        self._run = 0

    def start(self, world: RaftWorld, rng: random.Random) -> Effect | None:
        host = self.victim = world.hosts[world.names[rng.randrange(len(world.names))]]
        delta, period = abs(_bump_seconds(rng)), 2 ** rng.randint(6, 10) / 1000
        self._run += 1
        world.env.process(self._strobe(world, host, delta, period, self._run))
        return {"victim": host.name, "delta_s": delta, "period_s": period}

    def _strobe(
        self, world: RaftWorld, host: SimHost, delta: float, period: float, run: int
    ) -> Generator[simpy.Event, None, None]:
        sign = 1.0
        while run == self._run:
            host.clock.skew_by(world.env.now, sign * delta)
            _wall_changed(world, host, self.name)
            sign = -sign
            yield world.env.timeout(period)

    def stop(self, world: RaftWorld) -> None:
        self._run += 1
        if self.victim is not None:
            reset_clock(world, self.victim, self.name)
            self.victim = None


# -- membership ----------------------------------------------------------------------


class ReplaceMember:
    """Demote a follower out of the Raft group; the world's reconciler then wipes it
    and promotes it back under a new member id (as `docker node demote` and
    `promote` do)."""

    family = "membership"
    name = "replace-member"

    def start(self, world: RaftWorld, rng: random.Random) -> Effect | None:
        leader = world.leader_host()
        if leader is None or leader.raft is None:
            return None
        voters = leader.raft.conf.voters
        followers = [h for h in world.up_hosts() if h is not leader and h.raft_id in voters]
        victim = _pick(rng, followers)
        if victim is None:
            return None
        if not world.propose_membership(ConfChange(ChangeKind.REMOVE, victim.raft_id)):
            return None
        return {"victim": victim.name, "raft_id": victim.raft_id}

    def stop(self, world: RaftWorld) -> None:
        """Nothing to undo: re-admission is the reconciler's job."""


def _factories() -> dict[str, Callable[[], Nemesis[RaftWorld]]]:
    return {
        "partition-random-halves": lambda: Partition("partition-random-halves", _halves),
        "majorities-ring": lambda: Partition("majorities-ring", _ring),
        "bridge": lambda: Partition("bridge", _bridge),
        "isolate-leader": lambda: Partition("isolate-leader", _isolate_leader),
        "one-way-cut": lambda: Partition("one-way-cut", _one_way),
        "loss-burst": lambda: Burst("loss-burst", "burst_loss"),
        "duplicate-burst": lambda: Burst("duplicate-burst", "burst_duplicate"),
        "crash-minority": lambda: Crash("crash-minority", _minority),
        "crash-majority": lambda: Crash("crash-majority", _majority),
        "crash-leader": lambda: Crash("crash-leader", _leader),
        "power-loss": PowerLoss,
        "restart": Restart,
        "pause": lambda: Pause("pause", _one),
        "clock-skew": ClockSkew,
        "clock-strobe": ClockStrobe,
        "replace-member": ReplaceMember,
    }


NEMESES: dict[str, Callable[[], Nemesis[RaftWorld]]] = _factories()
