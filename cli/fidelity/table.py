"""The comparison as ``shoal fidelity`` prints it: a table of verdicts and one of
measures per seed, the same over all seeds (passes and medians), and the answer; or
the same data as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TextIO

from cli.fidelity.compare import (
    DECIDES,
    FLOOR_S,
    MetricPair,
    MetricSummary,
    Overall,
    SeedComparison,
    all_agree,
    is_count,
)
from cli.fidelity.images import Mapping
from cli.output.tables import table


def verdict_word(passed: bool | None) -> str:
    """pass, FAIL, or "-": not reported (such a verdict is reported only when it
    fails: it passed). JSON says null."""
    return "-" if passed is None else "pass" if passed else "FAIL"


def value(name: str, number: float | None) -> str:
    if number is None:
        return "none"
    return f"{number:g}" if is_count(name) else f"{number:.1f}"


def ratio(number: float | None) -> str:
    return "-" if number is None else f"{number:.2f}"


def yes(agree: bool) -> str:
    return "yes" if agree else "NO"


def print_table(
    title: str,
    seeds: Sequence[SeedComparison],
    total: Overall,
    mapping: Mapping,
    tolerance: float,
    out: TextIO,
) -> None:
    print(title, file=out)
    if mapping:
        shown = ", ".join(f"{image} -> {local}" for image, local in mapping.items())
        print(f"images (in both runs): {shown}", file=out)
    for each in seeds:
        print(f"\nseed {each.seed}", file=out)
        rows = [
            (v.text, verdict_word(v.sim), verdict_word(v.real), yes(v.agree)) for v in each.verdicts
        ]
        print(table(("EXPECTATION", "SIM", "REAL", "AGREE"), rows), file=out)
        print(file=out)
        print(
            table(("MEASURE", "SIM", "REAL", "SIM/REAL", "AGREE"), _metric_rows(each.metrics)),
            file=out,
        )
    if len(seeds) > 1:
        _overall(total, out)
    print(f"\n{answer(seeds, tolerance)}", file=out)


def _metric_rows(metrics: Sequence[MetricPair]) -> list[tuple[str, ...]]:
    return [
        (m.name, value(m.name, m.sim), value(m.name, m.real), ratio(m.ratio), yes(m.agree))
        for m in metrics
    ]


def _overall(total: Overall, out: TextIO) -> None:
    n = total.seeds
    print(f"\nall {n} seeds", file=out)
    rows = [
        (v.text, f"{v.sim_passed}/{n}", f"{v.real_passed}/{n}", f"{v.agreed}/{n}")
        for v in total.verdicts
    ]
    print(table(("EXPECTATION", "SIM PASSED", "REAL PASSED", "AGREE"), rows), file=out)
    print(file=out)
    header = ("MEASURE", "SIM MEDIAN", "REAL MEDIAN", "SIM/REAL", "AGREE", "SEEDS AGREE")
    print(table(header, [_summary_row(m) for m in total.metrics]), file=out)


def _summary_row(m: MetricSummary) -> tuple[str, ...]:
    return (
        m.name,
        value(m.name, m.sim),
        value(m.name, m.real),
        ratio(m.ratio),
        yes(m.agree),
        f"{m.agreed}/{m.seeds}",
    )


def answer(seeds: Sequence[SeedComparison], tolerance: float) -> str:
    """The last line: whether the runs agree, and on what they did not."""
    agreed = sum(each.agree for each in seeds)
    near = f"within ±{tolerance * 100:g}% of real or {FLOOR_S:g} s"
    if len(seeds) > 1:
        verdicts = sum(each.verdicts_agree for each in seeds)
        rule = f"verdicts in every seed, and the medians of {DECIDES} {near}"
        said = f"verdicts agree in {verdicts}/{len(seeds)} seeds, both agree in {agreed}"
        if all_agree(seeds, tolerance):
            return f"sim and real agree: {said} ({rule})"
        return f"sim and real DISAGREE: {said} ({rule})"
    rule = f"verdicts, and {DECIDES} {near}"
    if all_agree(seeds, tolerance):
        return f"sim and real agree in {agreed}/{len(seeds)} seeds ({rule})"
    return f"sim and real DISAGREE: {agreed}/{len(seeds)} seeds agree ({rule})"


def as_json(
    name: str,
    seeds: Sequence[SeedComparison],
    total: Overall,
    mapping: Mapping,
    tolerance: float,
) -> dict[str, Any]:
    return {
        "scenario": name,
        "tolerance": tolerance,
        "images": dict(mapping),
        "agree": all_agree(seeds, tolerance),
        "seeds": [
            {
                "seed": each.seed,
                "agree": each.agree,
                "verdicts": [
                    {"expectation": v.text, "sim": v.sim, "real": v.real, "agree": v.agree}
                    for v in each.verdicts
                ],
                "metrics": [
                    {
                        "measure": m.name,
                        "sim": m.sim,
                        "real": m.real,
                        "ratio": m.ratio,
                        "agree": m.agree,
                    }
                    for m in each.metrics
                ],
            }
            for each in seeds
        ],
        "overall": {
            "seeds": total.seeds,
            "agreed": total.agreed,
            "verdicts": [
                {
                    "expectation": v.text,
                    "sim_passed": v.sim_passed,
                    "real_passed": v.real_passed,
                    "agreed": v.agreed,
                }
                for v in total.verdicts
            ],
            "metrics": [
                {
                    "measure": m.name,
                    "sim_median": m.sim,
                    "real_median": m.real,
                    "ratio": m.ratio,
                    "agree": m.agree,
                    "agreed": m.agreed,
                }
                for m in total.metrics
            ],
        },
    }
