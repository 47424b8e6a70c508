"""The network a real run's isolations and partitions make, by the simulator's rules
(cli/scenario/runner.py and sim/faults/scenario.py): an isolation cuts off every
isolated host, a partition replaces that graph with its own, and each replaces the
other; an isolation's end leaves the other isolated hosts cut off (a partition's graph
is gone by then either way); a partition's end makes the network whole (the isolations
the simulator still lists come back with the next isolation); ``heal`` forgets every
one.

For a carrier, the graph is said host by host, as :class:`HostShape`: cut off from
everyone, or unable to send to some hosts (a one-way cut: their packets still come).
:meth:`NetworkShape.changes` gives only what differs from what the carrier holds."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx


@dataclass(frozen=True)
class HostShape:
    isolated: bool = False
    unreachable: tuple[str, ...] = ()  # the hosts it cannot send to (sorted)


WHOLE = HostShape()


class NetworkShape:
    def __init__(self, names: list[str]) -> None:
        self.names = sorted(names)
        self.isolated: set[str] = set()
        self._wanted: dict[str, HostShape] = {}
        self._held: dict[str, HostShape] = {}

    def isolate(self, host: str) -> None:
        self.isolated.add(host)
        self._from_isolations()

    def end_isolation(self, host: str) -> None:
        self.isolated.discard(host)
        self._from_isolations()

    def partition(self, graph: nx.DiGraph) -> None:
        """Only ``graph``'s edges carry packets (an edge a -> b: a can send to b)."""
        self._wanted = {}
        for a in self.names:
            cut = tuple(b for b in self.names if b != a and not graph.has_edge(a, b))
            if cut:
                self._wanted[a] = HostShape(unreachable=cut)

    def end_partition(self) -> None:
        self._wanted = {}

    def heal(self) -> None:
        self.isolated.clear()
        self._wanted = {}

    def _from_isolations(self) -> None:
        self._wanted = {host: HostShape(isolated=True) for host in sorted(self.isolated)}

    def changes(self) -> list[tuple[str, HostShape, HostShape]]:
        """(host, what the carrier holds, what it must hold) for every host that
        differs, in name order; the carrier is then taken to hold what is wanted."""
        out = []
        for host in self.names:
            held, wanted = self._held.get(host, WHOLE), self._wanted.get(host, WHOLE)
            if held != wanted:
                out.append((host, held, wanted))
        self._held = dict(self._wanted)
        return out
