"""Connectivity graphs for partitions, after Jepsen's grudges.

Each builder takes host names (sorted here, so hash seeds never matter) and returns a
directed graph whose edges are the links that still carry messages.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

import networkx as nx


def full(hosts: Iterable[str]) -> nx.DiGraph:
    return nx.complete_graph(sorted(hosts), nx.DiGraph)


def _connect(graph: nx.DiGraph, group: Iterable[str]) -> None:
    members = sorted(group)
    graph.add_edges_from((a, b) for a in members for b in members if a != b)


def components(hosts: Iterable[str], groups: Iterable[Iterable[str]]) -> nx.DiGraph:
    """Each group talks within itself only."""
    graph = nx.DiGraph()
    graph.add_nodes_from(sorted(hosts))
    for group in groups:
        _connect(graph, group)
    return graph


def random_halves(hosts: Iterable[str], rng: random.Random) -> tuple[nx.DiGraph, list[str]]:
    """Shuffle and cut in two, the smaller half first (Jepsen partition-random-halves).
    Returns the graph and the smaller half."""
    names = sorted(hosts)
    rng.shuffle(names)
    small = sorted(names[: len(names) // 2])
    return components(names, [small, names[len(names) // 2 :]]), small


def isolate(hosts: Iterable[str], victim: str) -> nx.DiGraph:
    names = sorted(hosts)
    return components(names, [[victim], [n for n in names if n != victim]])


def majorities_ring(hosts: Iterable[str], rng: random.Random) -> nx.DiGraph:
    """Every host hears a majority (itself included), but no two hear the same one
    (Jepsen's majorities-ring): on a shuffled ring each host hears its nearest
    neighbours both ways, plus one more ahead when a majority needs an odd count."""
    names = sorted(hosts)
    rng.shuffle(names)
    count = len(names)
    others = count // 2  # a majority is this many others plus the host itself
    graph = nx.DiGraph()
    graph.add_nodes_from(sorted(names))
    for position, name in enumerate(names):
        steps = [*range(1, others // 2 + 1), *range(-1, -(others // 2) - 1, -1)]
        if others % 2:
            steps.append(others // 2 + 1)
        for step in steps:
            graph.add_edge(names[(position + step) % count], name)
    return graph


def bridge(hosts: Iterable[str], rng: random.Random) -> tuple[nx.DiGraph, str]:
    """Two halves that cannot talk, and one host that talks to both (Jepsen bridge).
    Returns the graph and the bridging host."""
    names = sorted(hosts)
    rng.shuffle(names)
    middle = names[0]
    rest = names[1:]
    left, right = rest[: len(rest) // 2], rest[len(rest) // 2 :]
    return components(names, [[middle, *left], [middle, *right]]), middle


def one_way_cut(graph: nx.DiGraph, source: str, targets: Iterable[str]) -> nx.DiGraph:
    """``source`` can no longer send to ``targets``; it still hears them."""
    cut = graph.copy()
    cut.remove_edges_from((source, target) for target in targets)
    return cut
