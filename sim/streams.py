"""Named child random streams of one run's seed.

Every consumer (the network, each host, each nemesis) draws from its own stream,
derived from the root seed and a stable name, so adding a host or a fault does not
shift the draws of any other stream. Seeding ``random.Random`` with a string hashes
it with SHA-512, which does not depend on ``PYTHONHASHSEED``.
"""

from __future__ import annotations

import random


class Streams:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._made: set[str] = set()

    def child(self, name: str) -> random.Random:
        """The stream called ``name``; asking twice for one name is a bug (two
        consumers would share draws), so it raises."""
        if name in self._made:
            raise ValueError(f"random stream {name!r} was already handed out")
        self._made.add(name)
        return random.Random(f"shoal/{self.seed}/{name}")
