"""Swarm testing: each seed draws its own network, disk, batching and workload knobs.

A fixed configuration explores one corner; VOPR and FoundationDB draw the knobs per
seed so that a sweep covers slow disks with fast links, tiny appends with heavy
proposal rates, and so on. The draws come from the seed's own ``swarm`` stream, so
``--swarm --seed N`` replays exactly; the chosen knobs go into the trace.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sim.disk import DiskModel

if TYPE_CHECKING:
    from sim.world import WorldConfig


def swarm_config(base: WorldConfig, rng: random.Random) -> tuple[WorldConfig, dict[str, Any]]:
    knobs: dict[str, Any] = {
        "latency_min_s": round(rng.uniform(0.0001, 0.005), 6),
        "latency_extra_s": round(rng.uniform(0.0001, 0.01), 6),
        "loss": round(rng.choice((0.0, 0.0, rng.uniform(0.0, 0.05))), 4),
        "duplicate": round(rng.choice((0.0, rng.uniform(0.0, 0.05))), 4),
        "reorder": round(rng.choice((0.0, rng.uniform(0.0, 0.2))), 4),
        "fsync_min_s": round(rng.uniform(0.0001, 0.005), 6),
        "fsync_extra_s": round(rng.uniform(0.0001, 0.02), 6),
        "entries_per_append_max": rng.choice((1, 4, 16, 64)),
        "inflight_max": rng.choice((1, 4, 256)),
        "proposal_interval_s": rng.choice((0.1, 0.5, 1.0, 2.0)),
    }
    link = replace(
        base.link,
        latency_min=knobs["latency_min_s"],
        latency_mean_extra=knobs["latency_extra_s"],
        loss=knobs["loss"],
        duplicate=knobs["duplicate"],
        reorder=knobs["reorder"],
    )
    disk = DiskModel(knobs["fsync_min_s"], knobs["fsync_extra_s"])
    raft = replace(
        base.raft,
        entries_per_append_max=knobs["entries_per_append_max"],
        inflight_max=knobs["inflight_max"],
    )
    config = replace(
        base, link=link, disk=disk, raft=raft, proposal_interval=knobs["proposal_interval_s"]
    )
    return config, knobs
