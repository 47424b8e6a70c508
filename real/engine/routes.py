"""Every standard route of the Engine API, by resource."""

from __future__ import annotations

from real.engine import control, nodes, objects, services, swarm, system, tasks
from real.engine.app import Routes

STANDARD: tuple[Routes, ...] = (
    system.routes,
    swarm.routes,
    nodes.routes,
    services.routes,
    tasks.routes,
    objects.routes,
    control.routes,
)
