"""What the Engine API serves from: a swarm node that takes control API calls.

Two kinds back it, and only they differ: a real daemon's driver (real/driver.py)
and a simulated swarm at wall-clock pace (``shoal sim serve``). Both answer the
same calls with the same core handlers behind them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from core.manager.requests import ClientReply


class Backend(Protocol):
    async def call(self, method: str, params: dict[str, Any]) -> ClientReply:
        """A control API call (``ServiceCreate``, ``NodeList``...) and its reply."""
        ...

    def info(self) -> Mapping[str, Any]:
        """Who the node is (:meth:`core.node.SwarmNode.info`, and ``host``: its
        address)."""
        ...
