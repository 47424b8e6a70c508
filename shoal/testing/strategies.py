"""Hypothesis strategies for the things a swarm test varies: the cluster's shape,
the services it runs, and a schedule of faults to meet them with.

Everything drawn is plain data in Docker's words (a ``service create`` command
line, a scenario fault), so a failing example reads as what a user would type,
and shrinks towards fewer hosts, fewer replicas and fewer, shorter, later faults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hypothesis import strategies as st

#: Instants of a schedule fall on this grid (seconds), so a written scenario says
#: them exactly.
GRID = 0.5
FAULT_KINDS = ("crash", "isolate", "pause", "restart", "partition")


@dataclass(frozen=True)
class ClusterShape:
    managers: int
    workers: int

    def hosts(self) -> list[str]:
        return [f"manager-{i}" for i in range(1, self.managers + 1)] + [
            f"worker-{i}" for i in range(1, self.workers + 1)
        ]


def clusters(
    managers: Sequence[int] = (1, 3, 5), min_workers: int = 0, max_workers: int = 6
) -> st.SearchStrategy[ClusterShape]:
    """Swarms of an odd number of managers (Raft's advice) and some workers."""
    return st.builds(
        ClusterShape, st.sampled_from(sorted(managers)), st.integers(min_workers, max_workers)
    )


@dataclass(frozen=True)
class ServiceSketch:
    name: str
    image: str
    replicas: int | None  # None: a global service
    update_parallelism: int = 1
    update_delay: int = 0  # seconds
    update_order: str = "stop-first"

    def create_command(self) -> str:
        """The ``docker service create`` line that makes it."""
        mode = "--mode global" if self.replicas is None else f"--replicas {self.replicas}"
        return (
            f"service create --name {self.name} {mode} "
            f"--update-parallelism {self.update_parallelism} "
            f"--update-delay {self.update_delay}s --update-order {self.update_order} {self.image}"
        )


def services(
    names: Sequence[str] = ("web",),
    images: Sequence[str] = ("nginx:1.25", "nginx:1.27"),
    max_replicas: int = 8,
    global_mode: bool = True,
) -> st.SearchStrategy[ServiceSketch]:
    """A service of one of ``names``: replicated (0 to ``max_replicas``) or global,
    with an update policy."""
    replicas: st.SearchStrategy[int | None] = st.integers(0, max_replicas)
    if global_mode:
        replicas = st.one_of(replicas, st.none())
    return st.builds(
        ServiceSketch,
        name=st.sampled_from(list(names)),
        image=st.sampled_from(list(images)),
        replicas=replicas,
        update_parallelism=st.integers(0, 3),
        update_delay=st.integers(0, 10),
        update_order=st.sampled_from(("stop-first", "start-first")),
    )


@dataclass(frozen=True)
class TimedFault:
    at: float  # seconds from when the schedule is played
    fault: str  # a scenario fault: ``crash worker-1``, ``partition majority-ring`` ...
    lasting: float | None = None  # undone after this long (None: it happens once)


def fault_schedules(
    hosts: Sequence[str],
    within: float = 60.0,
    kinds: Sequence[str] = FAULT_KINDS,
    max_faults: int = 4,
    max_lasting: int = 30,
) -> st.SearchStrategy[list[TimedFault]]:
    """Up to ``max_faults`` faults on ``hosts`` (or the leader of the moment), each
    at a half second of [0, ``within``), the lasting ones for 1 to ``max_lasting``
    seconds; in time order."""
    unknown = sorted(set(kinds) - set(FAULT_KINDS))
    if unknown:
        raise ValueError(f"unknown fault kinds {unknown} (known: {', '.join(FAULT_KINDS)})")
    targets = st.sampled_from([*hosts, "leader"])
    instants = st.integers(0, max(0, int(within / GRID) - 1)).map(lambda n: n * GRID)
    lasting = st.integers(1, max_lasting).map(float)

    def fault(kind: str) -> st.SearchStrategy[TimedFault]:
        if kind == "partition":
            return st.builds(TimedFault, instants, st.just("partition majority-ring"), lasting)
        if kind == "restart":
            return st.builds(TimedFault, instants, targets.map(lambda h: f"restart {h}"))
        return st.builds(TimedFault, instants, targets.map(lambda h: f"{kind} {h}"), lasting)

    one = st.sampled_from(list(kinds)).flatmap(fault)
    return st.lists(one, max_size=max_faults).map(lambda faults: sorted(faults, key=_when))


def _when(fault: TimedFault) -> float:
    return fault.at
