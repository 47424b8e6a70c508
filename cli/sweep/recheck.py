"""The determinism check: a sample of seeds (:func:`cli.sweep.plan.sample`) run a
second time, in tasks of their own, must give records that agree with their first
runs in every column but the wall time (:func:`cli.sweep.record.differences`): the
same trace hash, the same verdicts, the same measures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cli.sweep.record import Record, differences


@dataclass(frozen=True)
class Mismatch:
    seed: int
    first_hash: str
    second_hash: str
    differences: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "first_hash": self.first_hash,
            "second_hash": self.second_hash,
            "differences": list(self.differences),
        }


@dataclass(frozen=True)
class Determinism:
    fraction: float
    seeds: tuple[int, ...]  # the sample, each run twice
    mismatches: tuple[Mismatch, ...] = field(default=())

    @property
    def held(self) -> bool:
        return not self.mismatches

    def as_json(self) -> dict[str, Any]:
        return {
            "fraction": self.fraction,
            "checked": len(self.seeds),
            "held": self.held,
            "mismatches": [m.as_json() for m in self.mismatches],
        }


def compare(
    fraction: float, first: Mapping[int, Record], second: Mapping[int, Record]
) -> Determinism:
    """Each second run against its seed's first run (in seed order)."""
    mismatches = []
    for seed in sorted(second):
        found = differences(first[seed], second[seed])
        if found:
            mismatches.append(
                Mismatch(seed, first[seed]["trace_hash"], second[seed]["trace_hash"], tuple(found))
            )
    return Determinism(fraction, tuple(sorted(second)), tuple(mismatches))
