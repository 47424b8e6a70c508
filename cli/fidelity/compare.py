"""The simulated and the real run of one scenario and seed, compared: whether each
verdict is the same, and whether each measure is near enough.

The rules (what ``shoal fidelity`` documents):

- **Verdicts** are paired by their text (a text given twice, by its occurrences in
  order). Expectations are judged in every run; a step's, a fault's, ``the swarm
  forms`` and ``invariants hold`` are reported only when they fail, so a verdict one
  run lacks passed there. They agree when both passed or both failed.
- **Times** (``converged_s``, ``leaderless_s``, ``downtime_s.*``,
  ``max_outage_s.*``) agree when ``|sim - real| <= max(tolerance * |real|, 1.0 s)``:
  relative to the real figure, with a floor of two looks (a run looks every 0.5 s,
  so two runs seeing the same moment may place it a look apart each). Exactly at the
  bound agrees.
- **Counts** (``elections``, ``leader_changes``) agree when they differ by at most
  one: a look can miss a leadership won and lost between two looks in one run and
  not in the other.
- A measure with a value in one run and none in the other (``converged_s``: did not
  settle by the end; a service's: no such service in that run) disagrees; none in
  both agrees.
- The ratio is sim / real, when both have a value and real's is not 0.

A seed's runs **agree** when every verdict agrees and ``converged_s`` does: the other
measures are shown, with their agreement, but decide nothing. Over several seeds,
each side's measures are summarized by their median (over the seeds with a value),
and the medians compared by the same rules.

**The answer.** With one seed, whether its runs agree. With several, whether every
seed's verdicts agree and the two medians of ``converged_s`` do. A real run does not
replay the simulated run of its seed: which manager's election timer fires first,
where an update stood when a fault struck, are drawn anew by the machine, so where
convergence is mostly chance two runs of a seed are two samples, not a copy and its
original. Over seeds the two distributions are what can be compared; each seed's own
agreement is still shown (``SEEDS AGREE``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from cli.scenario.judging import Report
from cli.sweep.record import flatten, measure_order

#: The measures that count events; every other is seconds.
COUNTS = ("elections", "leader_changes")
#: How far two counts may be apart and agree.
COUNT_SLACK = 1
#: Seconds two times may always be apart: two looks.
FLOOR_S = 1.0
#: The measure whose agreement, with the verdicts', decides a seed.
DECIDES = "converged_s"
DEFAULT_TOLERANCE = 0.3
_EPSILON = 1e-9  # a bound met to within float rounding is met


@dataclass(frozen=True)
class VerdictPair:
    text: str
    sim: bool | None  # None: the run did not report it (it reports only failures)
    real: bool | None

    @property
    def agree(self) -> bool:
        return (self.sim is not False) == (self.real is not False)


@dataclass(frozen=True)
class MetricPair:
    name: str
    sim: float | None
    real: float | None
    agree: bool

    @property
    def ratio(self) -> float | None:
        if self.sim is None or self.real is None or self.real == 0:
            return None
        return self.sim / self.real


@dataclass(frozen=True)
class SeedComparison:
    seed: int
    verdicts: tuple[VerdictPair, ...]
    metrics: tuple[MetricPair, ...]

    @property
    def verdicts_agree(self) -> bool:
        return all(v.agree for v in self.verdicts)

    @property
    def decided_agree(self) -> bool:
        return all(m.agree for m in self.metrics if m.name == DECIDES)

    @property
    def agree(self) -> bool:
        return self.verdicts_agree and self.decided_agree


def is_count(name: str) -> bool:
    return name in COUNTS


def within(name: str, sim: float | None, real: float | None, tolerance: float) -> bool:
    """Whether the measure ``name``'s two values agree (the module's rules)."""
    if sim is None or real is None:
        return sim is None and real is None
    if is_count(name):
        return abs(sim - real) <= COUNT_SLACK
    return abs(sim - real) <= max(tolerance * abs(real), FLOOR_S) + _EPSILON


def compare(sim: Report, real: Report, tolerance: float = DEFAULT_TOLERANCE) -> SeedComparison:
    """One seed's two runs, side by side."""
    return SeedComparison(
        seed=real.seed,
        verdicts=pair_verdicts(sim, real),
        metrics=pair_metrics(measures(sim), measures(real), tolerance),
    )


def measures(report: Report) -> dict[str, float | None]:
    """A run's measures, flattened (``downtime_s.web``) as a sweep's record has them."""
    flat = flatten(report.metrics.as_json())
    return {name: None if value is None else float(value) for name, value in flat.items()}


def pair_verdicts(sim: Report, real: Report) -> tuple[VerdictPair, ...]:
    """Each verdict of either run with its counterpart: the simulated run's order,
    then what only the real run reported."""
    sim_keyed, real_keyed = _keyed(sim), _keyed(real)
    keys = list(dict.fromkeys([*sim_keyed, *real_keyed]))
    return tuple(VerdictPair(key[0], sim_keyed.get(key), real_keyed.get(key)) for key in keys)


def _keyed(report: Report) -> dict[tuple[str, int], bool]:
    seen: dict[str, int] = {}
    out = {}
    for verdict in report.verdicts:
        occurrence = seen.get(verdict.text, 0)
        seen[verdict.text] = occurrence + 1
        out[(verdict.text, occurrence)] = verdict.passed
    return out


def pair_metrics(
    sim: dict[str, float | None], real: dict[str, float | None], tolerance: float
) -> tuple[MetricPair, ...]:
    names = sorted({*sim, *real}, key=measure_order)
    return tuple(
        MetricPair(n, sim.get(n), real.get(n), within(n, sim.get(n), real.get(n), tolerance))
        for n in names
    )


@dataclass(frozen=True)
class VerdictTally:
    text: str
    sim_passed: int
    real_passed: int
    agreed: int  # seeds whose two verdicts agree
    seeds: int


@dataclass(frozen=True)
class MetricSummary:
    name: str
    sim: float | None  # the median over the seeds with a value
    real: float | None
    agree: bool  # of the medians
    agreed: int  # seeds whose two values agree
    seeds: int

    @property
    def ratio(self) -> float | None:
        return MetricPair(self.name, self.sim, self.real, self.agree).ratio


@dataclass(frozen=True)
class Overall:
    verdicts: tuple[VerdictTally, ...]
    metrics: tuple[MetricSummary, ...]
    seeds: int
    agreed: int  # seeds whose runs agree


def overall(seeds: Sequence[SeedComparison], tolerance: float) -> Overall:
    """Every seed at once: each verdict's passes on each side, each measure's medians."""
    failures: dict[str, list[int]] = {}  # text: sim's failures, real's, disagreements
    for each in seeds:
        for text in dict.fromkeys(pair.text for pair in each.verdicts):
            same = [pair for pair in each.verdicts if pair.text == text]
            counts = failures.setdefault(text, [0, 0, 0])
            counts[0] += any(pair.sim is False for pair in same)
            counts[1] += any(pair.real is False for pair in same)
            counts[2] += not all(pair.agree for pair in same)
    n = len(seeds)  # a verdict a seed did not report passed there, in both runs
    verdicts = tuple(VerdictTally(t, n - s, n - r, n - d, n) for t, (s, r, d) in failures.items())
    names = sorted({m.name for each in seeds for m in each.metrics}, key=measure_order)
    metrics = []
    for name in names:
        measured = [m for each in seeds for m in each.metrics if m.name == name]
        sim = median([m.sim for m in measured])
        real = median([m.real for m in measured])
        agreed = sum(m.agree for m in measured) + len(seeds) - len(measured)  # none in both
        metrics.append(
            MetricSummary(name, sim, real, within(name, sim, real, tolerance), agreed, len(seeds))
        )
    return Overall(verdicts, tuple(metrics), len(seeds), sum(s.agree for s in seeds))


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(present) if present else None


def all_agree(seeds: Sequence[SeedComparison], tolerance: float = DEFAULT_TOLERANCE) -> bool:
    """The command's answer (the module's rules): one seed's verdicts and convergence
    time; over several, every seed's verdicts and the medians' convergence time."""
    if len(seeds) <= 1:
        return all(each.agree for each in seeds)
    medians = overall(seeds, tolerance).metrics
    return all(each.verdicts_agree for each in seeds) and all(
        m.agree for m in medians if m.name == DECIDES
    )
