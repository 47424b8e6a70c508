"""The scenario language's faults on one container, an image's pulls, a process's
pause, a host's clock and the network's shape (the host faults ``crash``, ``boot``,
``restart``, ``isolate``, ``heal``, ``join`` are the runner's own):

- ``kill web.2``: the container of slot 2 of service ``web`` is SIGKILLed (exit 137;
  the restart policy takes over); ``kill agent.worker-1``: a global service's task on
  a host;
- ``pull-fails busybox:2 on worker-1``: pulls of that image fail on that host (a
  task that needs it there is REJECTED with ``No such image``, unless the image is
  there already, as dockerd does); with ``for``, pulls work again after;
- ``pause worker-1``: the host's swarm daemon is stopped (SIGSTOP: clocks and
  containers run on, messages queue); ``resume worker-1``, or ``for``, continues it;
- ``skew manager-2 +40s``: the host's wall clock steps 40 s ahead (``-2m`` behind);
  with ``for``, it steps back onto its own course after;
- ``partition majority-ring``: every host hears a majority, no two the same one
  (Jepsen's majorities-ring, drawn from the run's seed); ``partition halves``: two
  halves that cannot talk (the smaller first: Jepsen's random halves); ``partition
  bridge``: two halves and one host that talks to both; ``heal`` or ``for`` ends it.
  A partition and the runner's isolations replace one another's graph;
- ``loss manager-2 20%``: a fifth of what the host sends, and of what is sent to
  it, is lost; ``duplicate worker-1 10%``: a tenth of what it sends arrives twice;
  ``delay worker-1 50ms``: what it sends arrives 50 ms later (one way, as the real
  daemon's transport delays its sends). ``heal`` or ``for`` ends them; the draws come
  from the network's own fault stream (``network/hosts``);
- ``stall-disk manager-1``: the host's disk finishes no fsync (the writes wait, and
  with them everything the node sends after them) until ``for`` ends the stall.

:func:`check` reads a fault's text when the file is loaded (a mistake is named
there); :class:`ScenarioFaults` carries it out in a running world.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import networkx as nx

from core.model.duration import DurationError, parse_duration
from core.model.node import Node
from core.model.service import Service
from core.model.task import Task
from core.store import MemoryStore
from core.tasks.states import TaskState
from sim.faults import topology
from sim.network import NO_FAULT

if TYPE_CHECKING:
    from sim.cluster import ClusterHost, ClusterWorld

#: The fault words this module reads, and those that may last ``for`` a while.
VERBS = (
    "kill",
    "pull-fails",
    "pause",
    "resume",
    "skew",
    "partition",
    "loss",
    "duplicate",
    "delay",
    "stall-disk",
)
LASTING = ("pull-fails", "pause", "skew", "partition", "loss", "duplicate", "delay", "stall-disk")
#: The faults on one host's links, which ``heal`` ends with the partitions.
LINK_FAULTS = ("loss", "duplicate", "delay")
PARTITIONS = ("majority-ring", "halves", "bridge")
SKEW_MAX_SECONDS = 86400.0 * 365
DELAY_MAX_SECONDS = 60.0

_PULL = re.compile(r"(?P<image>\S+) on (?P<host>\S+)")
_PERCENT = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]+)?)%")
_TASK = re.compile(r"(?P<service>[A-Za-z0-9][A-Za-z0-9_-]*)\.(?P<where>\S+)")


@dataclass(frozen=True)
class Fault:
    """One fault, read: its word, the host it strikes (if any) and its argument."""

    verb: str
    host: str = ""
    argument: str = ""  # the task (service.slot), the image, the skew, the partition


def read(text: str, hosts: list[str]) -> Fault:
    """``text`` (one of :data:`VERBS` first) as a :class:`Fault`, or a ValueError
    saying what is wrong with it."""
    verb, _, rest = text.strip().partition(" ")
    rest = rest.strip()
    if verb == "kill":
        match = _TASK.fullmatch(rest)
        if match is None:
            raise ValueError("kill needs a task: SERVICE.SLOT (web.2) or SERVICE.HOST")
        where = match["where"]
        if not (where.isdigit() and int(where) >= 1) and where not in hosts:
            raise ValueError(
                f"kill {rest}: {where!r} is neither a slot (1, 2, ...) nor a host "
                f"({', '.join(hosts)})"
            )
        return Fault(verb, argument=rest)
    if verb == "pull-fails":
        match = _PULL.fullmatch(rest)
        if match is None:
            raise ValueError("pull-fails needs an image and a host: pull-fails IMAGE on HOST")
        return Fault(verb, _host(match["host"], hosts, verb), match["image"])
    if verb in ("pause", "resume"):
        return Fault(verb, _host(rest, hosts, verb))
    if verb == "skew":
        host, _, amount = rest.rpartition(" ")  # the host may be 'a worker'
        seconds = _skew_seconds(amount)  # first: without one, the host is the amount
        return Fault(verb, _host(host, hosts, verb), str(seconds))
    if verb == "partition":
        if rest not in PARTITIONS:
            raise ValueError(f"partition needs a shape: {', '.join(PARTITIONS)}")
        return Fault(verb, argument=rest)
    if verb in ("loss", "duplicate"):
        host, _, amount = rest.rpartition(" ")
        share = _share(verb, amount)  # first: without one, the host is the amount
        return Fault(verb, _host(host, hosts, verb), str(share))
    if verb == "delay":
        host, _, amount = rest.rpartition(" ")
        seconds = _delay_seconds(amount)
        return Fault(verb, _host(host, hosts, verb), str(seconds))
    if verb == "stall-disk":
        return Fault(verb, _host(rest, hosts, verb))
    raise ValueError(f"unknown fault {verb!r}")


def check(text: str, hosts: list[str], lasting: bool) -> str:
    """What is wrong with the fault ``text`` (``lasting``: the step has a ``for``),
    or an empty string."""
    try:
        fault = read(text, hosts)
    except ValueError as error:
        return str(error)
    if lasting and fault.verb not in LASTING:
        return f"{fault.verb} does not last 'for' a while"
    return ""


def _host(name: str, hosts: list[str], verb: str) -> str:
    if name not in (*hosts, "leader", "a worker"):
        raise ValueError(f"{verb} needs a host: one of {', '.join(hosts)}, leader or 'a worker'")
    return name


def _skew_seconds(text: str) -> float:
    """``+40s``, ``-2m``, ``1h``: a signed duration in seconds."""
    sign = -1.0 if text.startswith("-") else 1.0
    try:
        seconds = parse_duration(text.lstrip("+-")) / 1e9
    except (ValueError, DurationError):
        problem = f"skew needs a host and a signed duration (+40s, -2m), not {text!r}"
        raise ValueError(problem) from None
    if seconds > SKEW_MAX_SECONDS:
        raise ValueError(f"skew {text}: more than a year")
    return sign * seconds


def _share(verb: str, text: str) -> float:
    """``20%``, ``0.5%``: a share of the packets, as a fraction in (0, 1]."""
    match = _PERCENT.fullmatch(text)
    share = float(match["number"]) / 100 if match is not None else 0.0
    if not 0.0 < share <= 1.0:
        raise ValueError(
            f"{verb} needs a host and a percentage above 0 and at most 100% "
            f"({verb} worker-1 20%), not {text!r}"
        )
    return share


def _delay_seconds(text: str) -> float:
    """``50ms``, ``1s``: how much later a host's messages arrive, in seconds."""
    try:
        seconds = parse_duration(text) / 1e9
    except (ValueError, DurationError):
        seconds = 0.0
    if not 0.0 < seconds <= DELAY_MAX_SECONDS:
        raise ValueError(
            f"delay needs a host and a duration above 0 and at most {DELAY_MAX_SECONDS:g}s "
            f"(delay worker-1 50ms), not {text!r}"
        )
    return seconds


def partition_graph(shape: str, names: list[str], rng: random.Random) -> nx.DiGraph:
    """The links that still carry packets under ``partition SHAPE`` (one of
    :data:`PARTITIONS`) over the hosts ``names``, drawn from ``rng`` (the simulator's
    and the real runner's ``scenario`` stream, so one seed draws one shape in both)."""
    if shape == "halves":
        return topology.random_halves(names, rng)[0]
    if shape == "bridge":
        return topology.bridge(names, rng)[0]
    return topology.majorities_ring(names, rng)


class FaultFailed(Exception):
    """The fault could not strike (no such task running, no leader to pause): the
    scenario's step fails with this message."""


class ScenarioFaults:
    """Carries out :data:`VERBS` in a running swarm (``rng``: the run's scenario
    stream, which draws 'a worker' and the partitions' shapes)."""

    def __init__(self, world: ClusterWorld, rng: random.Random) -> None:
        self.world = world
        self.rng = rng

    def start(self, text: str) -> str:
        """Strike; returns the victim (a host name, the task, or the partition's shape)
        that :meth:`undo` takes back, or raises :class:`FaultFailed`."""
        world = self.world
        fault = read(text, world.names)
        if fault.verb == "kill":
            return self._kill(fault.argument)
        if fault.verb == "partition":
            world.network.set_graph(partition_graph(fault.argument, world.names, self.rng))
            return fault.argument
        host = self._host(fault.host)
        if fault.verb == "pull-fails":
            host.executor.fail_pulls(fault.argument)
        elif fault.verb == "pause":
            host.pause()
        elif fault.verb == "resume":
            host.resume()
        elif fault.verb == "skew":
            host.skew_clock(float(fault.argument))
        elif fault.verb in LINK_FAULTS:
            self._link_fault(host.name, fault.verb, float(fault.argument))
        elif fault.verb == "stall-disk":
            host.disk.stall()
        return host.name

    def undo(self, text: str, victim: str) -> None:
        """The fault's ``for`` is over: take back what :meth:`start` did to ``victim``."""
        world = self.world
        fault = read(text, world.names)
        if fault.verb == "partition":
            world.network.heal()
        elif fault.verb == "pull-fails":
            world.hosts[victim].executor.fail_pulls(fault.argument, failing=False)
        elif fault.verb == "pause":
            world.hosts[victim].resume()
        elif fault.verb == "skew":
            world.hosts[victim].reset_clock()
        elif fault.verb in LINK_FAULTS:
            self._link_fault(victim, fault.verb, 0.0)
        elif fault.verb == "stall-disk":
            world.hosts[victim].disk.unstall()

    def heal_links(self) -> None:
        """``heal``: every host's loss, duplication and delay end."""
        network = self.world.network
        for host in sorted(network.host_faults):
            network.set_host_fault(host, NO_FAULT)

    def _link_fault(self, host: str, verb: str, amount: float) -> None:
        """Set one of ``host``'s link faults (loss, duplicate or delay) to ``amount``."""
        network = self.world.network
        if network.fault_rng is None:
            network.fault_rng = self.world.streams.child("network/hosts")
        fault = replace(network.host_faults.get(host, NO_FAULT), **{verb: amount})
        network.set_host_fault(host, fault)

    def _host(self, name: str) -> ClusterHost:
        world = self.world
        if name == "leader":
            leader = world.leader()
            if leader is None:
                raise FaultFailed("no leader to fault")
            return leader
        if name == "a worker":
            workers = [h for h in world.up_hosts() if not h.spec.manager]
            if not workers:
                raise FaultFailed("no worker is up")
            return workers[self.rng.randrange(len(workers))]
        return world.hosts[name]

    def _kill(self, name: str) -> str:
        """SIGKILL the running container of the task ``name`` (service.slot or
        service.host), the one meant to run first."""
        match = _TASK.fullmatch(name)
        assert match is not None
        store = self._store()
        if store is None:
            raise FaultFailed(f"no manager is up to find {name}")
        tasks = _tasks_of(store, match["service"], match["where"])
        running = {
            container.task_id: host
            for host in self.world.up_hosts()
            for container in host.executor.running()
        }
        for task in sorted(tasks, key=lambda t: (t.desired_state > TaskState.RUNNING, t.id)):
            host = running.get(task.id)
            if host is not None and host.executor.kill(task.id):
                return task.id
        raise FaultFailed(f"no container of {name} is running")

    def _store(self) -> MemoryStore | None:
        """The leader's store, or any running manager's (the tasks are everywhere)."""
        store = self.world.leader_store()
        for host in self.world.up_hosts():
            if store is None and host.node is not None and host.node.manager is not None:
                store = host.node.manager.store
        return store


def _tasks_of(store: MemoryStore, service_name: str, where: str) -> list[Task]:
    """The tasks of ``service_name`` in slot ``where`` (a number) or on host ``where``."""
    services = [s for s in store.tables["services"].values() if isinstance(s, Service)]
    service = next((s for s in services if s.spec.name == service_name), None)
    if service is None:
        raise FaultFailed(f"no such service: {service_name}")
    hostnames = {
        n.id: n.description.hostname for n in store.tables["nodes"].values() if isinstance(n, Node)
    }
    return [
        t
        for t in store.tables["tasks"].values()
        if isinstance(t, Task)
        and t.service_id == service.id
        and (str(t.slot) == where if where.isdigit() else hostnames.get(t.node_id) == where)
    ]
