"""What a host's dockerd costs: each container operation's wait and CPU, in a queue.

The simulated executor (sim/executor.py) says what a container does; this says how
long dockerd takes to do it. Measured here (``shoal real calibrate``), creating and
starting a container is CPU work (tens of milliseconds of dockerd, containerd, runc
and the kernel, on up to ``op_cores`` cores at once), a dockerd works on a few
operations at a time (``concurrency``), and the host's cores, or the machine's when
test hosts share one, are divided among all the work under way. So an operation
waits its turn in its host's dockerd, then takes its ``latency`` (waiting that burns
no CPU) and its ``cpu`` seconds of work on the shared :class:`~sim.cpu.CpuPool`
(sim/costqueue.py).

An operation that costs nothing is carried out at once, so a model of zero cost
(:data:`IDEAL`, the library's default) leaves every run exactly as it was before
dockerd had a cost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import simpy

from sim.costqueue import CostQueue, OpCost
from sim.cpu import CpuPool

__all__ = ["IDEAL", "OPERATIONS", "EngineModel", "OpCost", "SimDockerd"]


@dataclass(frozen=True)
class EngineModel:
    """A dockerd's costs. ``pull`` is the pull attempt every prepare makes (an image
    already on the host costs only this; a registry pull adds the image's own
    ``pull_seconds``); ``sandbox`` is the network sandbox a task on an overlay network
    (or with host-mode ports) gets before its container: a container with a network
    namespace of its own, made and started (real/agent/sandbox.py), about twice a
    plain start here; ``stop`` is the teardown after the container has exited."""

    pull: OpCost = field(default_factory=OpCost)
    sandbox: OpCost = field(default_factory=OpCost)
    create: OpCost = field(default_factory=OpCost)
    start: OpCost = field(default_factory=OpCost)
    stop: OpCost = field(default_factory=OpCost)
    remove: OpCost = field(default_factory=OpCost)
    concurrency: int = 1  # operations one dockerd carries out at once
    op_cores: float = 1.0  # cores one operation keeps busy at most (its processes side by side)
    shared_cores: float = 0.0  # > 0: every host's dockerd shares these cores (one machine)

    @property
    def free(self) -> bool:
        return all(getattr(self, op).free for op in OPERATIONS)


#: The operations that cost: the :class:`OpCost` fields of :class:`EngineModel`.
OPERATIONS = ("pull", "sandbox", "create", "start", "stop", "remove")

#: No cost at all: operations complete as the executor alone says.
IDEAL = EngineModel()


class SimDockerd:
    """One host's dockerd: its queue of operations and its share of the cores."""

    def __init__(self, env: simpy.Environment, model: EngineModel, cores: CpuPool | None) -> None:
        self.model = model
        self.queue = CostQueue(env, model.concurrency, cores)

    def do(self, operation: str, then: Callable[[], None]) -> None:
        """Carry out ``operation`` (one of :data:`OPERATIONS`), then call ``then``."""
        self.queue.run(getattr(self.model, operation), then)

    def crash(self) -> None:
        """dockerd died: what waited is dropped, what ran frees its cores."""
        self.queue.crash()
