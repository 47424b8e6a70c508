"""Measuring what the simulated data plane's model needs (sim/dataplane.py's
:class:`~sim.dataplane.DataplaneModel`) through the data plane real mode runs
(real/agent/dataplane.py), on one test host.

The routing mesh is the case that costs: every node of the swarm programs the
ingress network when a service publishes a port, and again whenever a backend
comes or goes, while the tasks' sandboxes wait on the same lock to be joined to it.
So each round, inside the test host's namespace, as its daemon would run there:

1. **network**: the ingress network programmed on a host that has none (its
   sandbox and load-balancer namespaces, bridge, VXLAN device, the host's gateway
   link, the balancer's and the host's nft tables), less a ``program``;
2. **program**: the same network programmed again ``programs`` times, a backend
   more each time (every device checked again, the nft tables rewritten);
3. **attach**: ``programs`` task sandboxes (plain namespaces here, as a container's
   would be) joined to it one after another.

A job's machine CPU time (``/proc/stat``, nft's and the kernel's included, less what
the machine burns idle) is its ``cpu``; what its wall time has beyond that, on one
core, its ``latency``. The endpoints on other nodes are static FDB entries towards
addresses of the test subnet that no host holds: nothing is sent. Everything is
removed at the end, also on failure (the test host's run is swept).
"""

from __future__ import annotations

import functools
import statistics
from collections.abc import Callable
from typing import TypeVar

from core.dataplane.state import Endpoint, NetworkState, PublishedPort, ServiceBinding
from core.model.network import Network, NetworkAttachment, NetworkSpec
from core.model.task import Task
from real.agent import netns
from real.agent.dataplane import HostDataplane
from real.meter import Meter
from real.testhosts.hosts import TestHost, TestHosts
from sim.costqueue import OpCost
from sim.dataplane import DataplaneModel

T = TypeVar("T")

#: The probe's ingress network (Docker's default: 10.0.0.0/24).
INGRESS_ID = "calibrateingress000000001"
NODE_ID = "calibratenode000000000001"
#: Nodes of the routing-mesh scenario the state stands for (each has a load balancer).
MESH_NODES = 10


def ingress_state(underlay: str, backends: int) -> NetworkState:
    """The ingress network as a node of a ``MESH_NODES``-node swarm gets it, with one
    service publishing 8080 and ``backends`` running tasks on other nodes."""
    remote = [f"10.231.{n // 250}.{n % 250 + 2}" for n in range(200, 200 + MESH_NODES)]
    balancers = [Endpoint("10.0.0.2", NODE_ID, underlay)] + [
        Endpoint(f"10.0.0.{3 + i}", f"calibratenode{i:012d}", host)
        for i, host in enumerate(remote[1:], start=2)
    ]
    tasks = [
        Endpoint(
            f"10.0.0.{100 + i}",
            f"calibratenode{i + 2:012d}",
            remote[1 + i % (MESH_NODES - 1)],
            task_id=f"calibratetask{i:012d}",
            name=f"web.{i + 1}.calibratetask{i:012d}",
        )
        for i in range(backends)
    ]
    web = ServiceBinding(
        "calibrateservice000000001",
        "web",
        "10.0.0.50",
        tuple(tasks),
        ports=(PublishedPort("tcp", 8080, 80),),
    )
    return NetworkState(
        INGRESS_ID,
        "ingress",
        4096,
        "10.0.0.0/24",
        "10.0.0.1",
        ingress=True,
        endpoints=tuple(sorted(balancers + tasks, key=lambda e: e.address)),
        services=(web,),
    )


def sandbox_task(n: int) -> Task:
    """A task of this node on the ingress network (its sandbox is what is joined)."""
    network = Network(id=INGRESS_ID, spec=NetworkSpec(name="ingress", ingress=True))
    return Task(
        id=f"calibrateattach{n:010d}",
        node_id=NODE_ID,
        networks_attachments=(
            NetworkAttachment(network=network, addresses=(f"10.0.0.{180 + n}/24",)),
        ),
    )


class Probe:
    """One test host's data plane, driven from a thread inside its namespace."""

    def __init__(self, host: TestHost) -> None:
        self.host = host
        self.dataplane = HostDataplane(f"{host.netns}-", host.address)
        self.dataplane.host_netns = host.netns_path  # its routing-mesh rules go there

    def inside(self, action: Callable[[], T]) -> T:
        return netns.run_in(self.host.netns_path, action)

    def program(self, backends: int | None) -> None:
        """Program the ingress network with ``backends`` tasks (None: no network)."""
        states = {}
        if backends is not None:
            states[INGRESS_ID] = ingress_state(self.host.address, backends)
        self.inside(lambda: self.dataplane.program(NODE_ID, states))

    def sandboxes(self, count: int, first: int) -> list[tuple[Task, str]]:
        made = []
        for n in range(first, first + count):
            name = f"{self.host.netns}-c{n}"
            netns.create(name)
            made.append((sandbox_task(n), netns.path(name)))
        return made

    def reprogram(self, programs: int) -> None:
        """The network programmed again ``programs`` times, a backend more each time."""
        for backends in range(1, programs + 1):
            self.program(backends)

    def attach(self, made: list[tuple[Task, str]]) -> None:
        for task, path in made:
            self.inside(functools.partial(self.dataplane.attach, task, path))

    def detach(self, made: list[tuple[Task, str]]) -> None:
        for task, path in made:
            self.inside(functools.partial(self.dataplane.detach, task.id))
            netns.remove(path)

    def close(self) -> None:
        self.inside(self.dataplane.close)


def measure(
    meter: Meter, rounds: int = 3, programs: int = 5, say: Callable[[str], None] = print
) -> DataplaneModel:
    """The data plane's costs on this machine, each the median of ``rounds``."""
    firsts: list[OpCost] = []
    again: list[OpCost] = []
    attaches: list[OpCost] = []
    with TestHosts(1) as hosts:
        probe = Probe(hosts.hosts[0])
        try:
            for n in range(rounds):
                firsts.append(meter.run(1, functools.partial(probe.program, 0)).cost(1.0))
                reprogram = functools.partial(probe.reprogram, programs)
                again.append(meter.run(programs, reprogram).cost(1.0))
                made = probe.sandboxes(programs, n * programs)
                join = functools.partial(probe.attach, made)
                attaches.append(meter.run(programs, join).cost(1.0))
                probe.detach(made)
                probe.program(None)
                say(
                    f"data plane round {n + 1}: first program {firsts[-1].cpu:.3f}s CPU, "
                    f"program {again[-1].cpu:.3f}s, attach {attaches[-1].cpu:.3f}s"
                )
        finally:
            probe.close()
    program, first = _median(again), _median(firsts)
    return DataplaneModel(
        program=program,
        network=OpCost(
            max(0.0, first.latency - program.latency), max(0.0, first.cpu - program.cpu)
        ),
        attach=_median(attaches),
    )


def _median(costs: list[OpCost]) -> OpCost:
    return OpCost(
        statistics.median(c.latency for c in costs), statistics.median(c.cpu for c in costs)
    )
