"""``shoal fidelity``'s comparison rules on hand-made reports: verdicts paired by
text (one only a run reports passed in the other), times within the tolerance of the
real figure or 1.0 s (both edges agree), counts within one, a measure one run lacks
disagrees, and only the verdicts and converged_s decide a seed; medians over seeds."""

from __future__ import annotations

from typing import Any

import pytest

from cli.fidelity.compare import (
    SeedComparison,
    all_agree,
    compare,
    overall,
    pair_metrics,
    within,
)
from cli.sweep.record import MEASURES
from tests.cli.fidelity_support import report

SAFETY = ("always: raft safety", True)
BY = "by 8s: service web running 2/2"


def test_the_same_run_twice_agrees_on_everything() -> None:
    seed = compare(report([SAFETY, (BY, True)]), report([SAFETY, (BY, True)]))
    assert seed.agree and seed.verdicts_agree and seed.decided_agree
    assert [(v.text, v.sim, v.real, v.agree) for v in seed.verdicts] == [
        ("always: raft safety", True, True, True),
        (BY, True, True, True),
    ]
    assert all(m.agree for m in seed.metrics)
    assert [m.name for m in seed.metrics] == [*MEASURES, "downtime_s.web", "max_outage_s.web"]


def test_a_verdict_that_passes_in_one_run_and_fails_in_the_other_disagrees() -> None:
    seed = compare(report([SAFETY, (BY, True)]), report([SAFETY, (BY, False)]))
    assert not seed.agree and not seed.verdicts_agree
    assert [v.agree for v in seed.verdicts] == [True, False]
    both_fail = compare(report([(BY, False)]), report([(BY, False)]))
    assert both_fail.agree  # the same verdict, though a failing one


def test_a_verdict_only_one_run_reports_passed_in_the_other() -> None:
    step = "step: service scale web=3"  # a step is reported only when it fails
    seed = compare(report([SAFETY]), report([SAFETY, (step, False)]))
    assert [(v.text, v.sim, v.real, v.agree) for v in seed.verdicts][1] == (
        step,
        None,
        False,
        False,
    )
    assert not seed.agree
    fails_as_expected = ("step: service scale web=9 (fails)", True)
    assert compare(report([SAFETY]), report([SAFETY, fails_as_expected])).agree


def test_a_text_given_twice_is_paired_by_its_occurrences() -> None:
    twice = "fault: crash leader"
    seed = compare(report([(twice, False), (twice, True)]), report([(twice, False)]))
    assert [(v.sim, v.real, v.agree) for v in seed.verdicts] == [
        (False, False, True),
        (True, None, True),
    ]


@pytest.mark.parametrize(
    ("sim", "real", "agree"),
    [
        (13.0, 10.0, True),  # exactly +30%
        (7.0, 10.0, True),  # exactly -30%
        (13.01, 10.0, False),
        (6.99, 10.0, False),
        (130.0, 100.0, True),
        (130.5, 100.0, False),
    ],
)
def test_a_time_agrees_within_the_tolerance_of_the_real_figure_edges_included(
    sim: float, real: float, agree: bool
) -> None:
    assert within("converged_s", sim, real, 0.3) is agree


@pytest.mark.parametrize(
    ("sim", "real", "agree"),
    [
        (2.0, 1.0, True),  # +100%, but 1.0 s: two looks
        (0.0, 1.0, True),
        (2.01, 1.0, False),
        (1.0, 0.0, True),  # real 0: the floor only
        (1.5, 0.0, False),
        (4.0, 3.0, True),  # 30% of 3 s is 0.9 s: the floor is wider
        (4.1, 3.0, False),
    ],
)
def test_small_times_agree_within_one_second(sim: float, real: float, agree: bool) -> None:
    assert within("leaderless_s", sim, real, 0.3) is agree


def test_the_tolerance_is_the_commands() -> None:
    assert within("downtime_s.web", 15.0, 10.0, 0.5)
    assert not within("downtime_s.web", 15.0, 10.0, 0.3)
    assert within("downtime_s.web", 10.9, 10.0, 0.0)  # still the floor


@pytest.mark.parametrize(
    ("sim", "real", "agree"),
    [(2, 2, True), (3, 2, True), (1, 2, True), (4, 2, False), (0, 2, False), (13, 10, False)],
)
def test_counts_agree_within_one_whatever_the_tolerance(sim: int, real: int, agree: bool) -> None:
    assert within("elections", sim, real, 0.3) is agree
    assert within("leader_changes", sim, real, 0.3) is agree


def test_a_measure_one_run_lacks_disagrees_and_one_both_lack_agrees() -> None:
    assert not within("converged_s", None, 5.0, 0.3)
    assert not within("converged_s", 5.0, None, 0.3)
    assert within("converged_s", None, None, 0.3)
    pairs = pair_metrics({"elections": 1.0}, {"elections": 1.0, "downtime_s.db": 3.0}, 0.3)
    assert [(m.name, m.sim, m.real, m.agree, m.ratio) for m in pairs] == [
        ("elections", 1.0, 1.0, True, 1.0),
        ("downtime_s.db", None, 3.0, False, None),
    ]


def test_a_run_that_never_settles_disagrees_with_one_that_does() -> None:
    seed = compare(report(converged=None), report(converged=4.0))
    converged = seed.metrics[0]
    assert (converged.name, converged.sim, converged.real) == ("converged_s", None, 4.0)
    assert not converged.agree and not seed.agree
    assert compare(report(converged=None), report(converged=None)).agree


def test_only_verdicts_and_convergence_decide_a_seed() -> None:
    other_measures = compare(report(elections=5, leaderless=30.0), report(elections=1))
    assert not all(m.agree for m in other_measures.metrics)
    assert other_measures.agree
    slow = compare(report(converged=4.0), report(converged=9.5))
    assert not slow.agree and slow.verdicts_agree
    assert slow.metrics[0].ratio == pytest.approx(4.0 / 9.5)


def test_over_seeds_verdicts_are_tallied_and_measures_summarized_by_medians() -> None:
    seeds = [
        compare(report([(BY, True)], converged=4.0, seed=1), report([(BY, True)], 5.0, seed=1)),
        compare(report([(BY, True)], converged=6.0, seed=2), report([(BY, False)], 9.0, seed=2)),
        compare(report([(BY, True)], converged=None, seed=3), report([(BY, True)], 7.0, seed=3)),
    ]
    total = overall(seeds, 0.3)
    assert (total.seeds, total.agreed) == (3, 1)
    (tally,) = total.verdicts
    assert (tally.sim_passed, tally.real_passed, tally.agreed) == (3, 2, 2)
    converged = total.metrics[0]
    assert converged.name == "converged_s"
    assert (converged.sim, converged.real) == (5.0, 7.0)  # medians of 4, 6 and of 5, 9, 7
    assert converged.agreed == 1  # 6 is not within 30% of 9; none is not 7
    assert converged.agree  # 5 within 30% of 7
    assert converged.ratio == pytest.approx(5 / 7)


def test_a_seed_without_a_measure_in_either_run_agrees_on_it_and_medians_skip_none() -> None:
    def seed(number: int, sim: dict[str, float | None], real: dict[str, float | None]) -> Any:
        return SeedComparison(number, (), pair_metrics(sim, real, 0.3))

    seeds = [
        seed(1, {"downtime_s.db": 2.0}, {"downtime_s.db": 2.0}),
        seed(2, {}, {}),  # no db in this seed's runs
        seed(3, {"downtime_s.db": 1.0}, {"downtime_s.db": None}),
    ]
    (db,) = overall(seeds, 0.3).metrics
    assert (db.sim, db.real) == (1.5, 2.0)  # medians of 2 and 1, and of 2
    assert db.agreed == 2  # seed 1, and seed 2 (none in both)


def _seed(number: int, sim: float, real: float, real_passed: bool = True) -> SeedComparison:
    return compare(
        report([(BY, True)], converged=sim, seed=number),
        report([(BY, real_passed)], converged=real, seed=number),
    )


def test_one_seed_is_answered_by_its_own_pair() -> None:
    assert all_agree([_seed(1, 4.0, 5.0)])
    assert not all_agree([_seed(1, 4.0, 9.0)])


def test_over_seeds_the_medians_of_convergence_decide_not_each_pair() -> None:
    # chance-driven: the pairs of seeds 1 and 3 are far apart, the distributions are not
    seeds = [_seed(1, 24.0, 12.0), _seed(2, 26.0, 27.0), _seed(3, 12.0, 25.0)]
    assert sum(each.agree for each in seeds) == 1
    assert all_agree(seeds, 0.3)  # medians 24 and 25
    apart = [_seed(1, 4.0, 12.0), _seed(2, 5.0, 13.0), _seed(3, 6.0, 14.0)]
    assert not all_agree(apart, 0.3)  # medians 5 and 13
    assert all_agree(apart, 0.7)  # the command's tolerance is the one applied


def test_over_seeds_a_verdict_that_differs_in_any_seed_disagrees() -> None:
    seeds = [_seed(1, 5.0, 5.0), _seed(2, 5.0, 5.0, real_passed=False), _seed(3, 5.0, 5.0)]
    assert not all_agree(seeds)
