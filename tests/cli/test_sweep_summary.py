"""The sweep's parts that need no worker: records, their comparison, the plan of
chunks and the determinism sample, and the summary's tables on hand-built records."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from cli.scenario.judging import Report, Verdict
from cli.scenario.schema import parse
from cli.sweep import chunk as chunk_module
from cli.sweep import plan, summary
from cli.sweep.recheck import compare
from cli.sweep.record import CRASHED, Record, differences, flatten, record

TINY = """
name: tiny
cluster: {managers: 1}
steps:
  - {at: 0s, run: service create --name web --replicas 1 nginx}
expect:
  by: [{at: 5s, check: service web running 1/1}]
duration: 6s
"""


def rec(seed: int, passed: bool = True, **measures: Any) -> Record:
    verdicts = {"always: raft safety": True, "by 30s: update web completed": passed}
    return {
        "seed": seed,
        "passed": passed,
        "trace_hash": f"{seed:064x}",
        "failed": [] if passed else [{"expectation": "by 30s: update web completed", "seen": "x"}],
        "verdicts": verdicts,
        **measures,
        "error": None,
        "wall_s": 0.1 * seed,
    }


# -- records --------------------------------------------------------------------------


def test_a_record_flattens_the_measures_in_the_documented_order() -> None:
    report = Report(parse(TINY, "tiny.yml"), 7)
    report.verdicts = [Verdict("by 5s: a", True), Verdict("at 9s: b", False, 9.0, "seen b")]
    report.trace_hash = "ab" * 32
    made = record(report, 0.123456)
    assert list(made)[:5] == ["seed", "passed", "trace_hash", "failed", "verdicts"]
    assert list(made)[-2:] == ["error", "wall_s"]
    assert made["failed"] == [{"expectation": "at 9s: b", "seen": "seen b"}]
    assert made["verdicts"] == {"by 5s: a": True, "at 9s: b": False}
    assert made["passed"] is False and made["wall_s"] == 0.1235
    metrics = {
        "elections": 2,
        "leader_changes": 1,
        "leaderless_s": 3.5,
        "downtime_s": {"web": 1.0, "db": 0.5},
        "max_outage_s": {"web": 1.0, "db": 0.5},
        "converged_s": None,
    }
    assert list(flatten(metrics)) == [
        "converged_s",
        "elections",
        "leader_changes",
        "leaderless_s",
        "downtime_s.db",
        "downtime_s.web",
        "max_outage_s.db",
        "max_outage_s.web",
    ]


def test_two_runs_of_a_seed_differ_in_anything_but_their_wall_time() -> None:
    first = rec(3, elections=1)
    assert differences(first, {**first, "wall_s": 99.0}) == []
    changed = {**first, "trace_hash": "f" * 64, "verdicts": {"always: raft safety": False}}
    found = differences(first, changed)
    assert found[0] == f'trace_hash: "{first["trace_hash"]}" then "{"f" * 64}"'
    assert found[1].startswith("verdicts: ")
    assert differences(first, {**first, "elections": 2}) == ["elections: 1 then 2"]
    assert differences(first, {k: v for k, v in first.items() if k != "elections"}) == [
        "elections: 1 then null"
    ]


def test_the_determinism_check_names_each_seed_whose_runs_differ() -> None:
    first = {s: rec(s, elections=1) for s in (1, 2, 3)}
    second = {1: dict(first[1]), 3: {**first[3], "trace_hash": "e" * 64}}
    check = compare(0.5, first, second)
    assert check.seeds == (1, 3) and not check.held
    (mismatch,) = check.mismatches
    assert (mismatch.seed, mismatch.first_hash, mismatch.second_hash) == (3, f"{3:064x}", "e" * 64)
    assert compare(0.5, first, {2: dict(first[2])}).held


def test_a_chunk_parses_its_scenario_once_per_process_and_records_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chunk_module.scenario.cache_clear()
    real_run = chunk_module.run

    def run(scenario: Any, seed: int, **options: Any) -> Report:
        if seed == 2:
            raise KeyError("boom")
        return real_run(scenario, seed, **options)

    monkeypatch.setattr(chunk_module, "run", run)
    records = chunk_module.run_chunk(plan.Chunk(TINY, "tiny.yml", (1, 2, 3)))
    records += chunk_module.run_chunk(plan.Chunk(TINY, "tiny.yml", (4,)))
    assert chunk_module.scenario.cache_info().misses == 1
    assert [r["seed"] for r in records] == [1, 2, 3, 4]
    assert [r["passed"] for r in records] == [True, False, True, True]
    crash = records[1]
    assert crash["error"] == "KeyError: 'boom'" and crash["trace_hash"] == ""
    assert crash["failed"] == [{"expectation": CRASHED, "seen": "KeyError: 'boom'"}]


# -- the plan -------------------------------------------------------------------------


def test_chunks_are_about_sixteen_per_worker_of_at_most_twenty_seeds() -> None:
    assert plan.chunk_size(1, 2) == 1
    assert plan.chunk_size(400, 2) == 13
    assert plan.chunk_size(400, 1) == 20
    assert plan.chunk_size(100_000, 64) == 20
    made = plan.chunks("text", "f.yml", range(1, 11), 4)
    assert [c.seeds for c in made] == [(1, 2, 3, 4), (5, 6, 7, 8), (9, 10)]
    assert not any(c.second for c in made)


def test_the_sample_is_the_same_for_a_range_whatever_the_global_generator_did() -> None:
    seeds = range(1, 1001)
    random.seed(1)
    one = plan.sample(seeds, 0.05)
    random.seed(2)
    random.random()
    assert plan.sample(seeds, 0.05) == one
    assert len(one) == 50 and one == sorted(set(one)) and set(one) <= set(seeds)
    assert plan.sample(range(2, 1002), 0.05) != one
    assert plan.sample(seeds, 0) == []
    assert len(plan.sample(range(1, 4), 0.01)) == 1  # at least one seed
    assert plan.sample(range(1, 4), 1.0) == [1, 2, 3]


def test_re_runs_are_spread_among_the_first_runs() -> None:
    first = plan.chunks("t", "f", range(1, 9), 1)
    again = plan.chunks("t", "f", [7, 2], 1, second=True)
    order = plan.interleave(first, again)
    assert [(c.seeds[0], c.second) for c in order] == [
        (1, False),
        (2, False),
        (3, False),
        (4, False),
        (7, True),
        (5, False),
        (6, False),
        (7, False),
        (8, False),
        (2, True),
    ]
    assert plan.interleave(first, []) == first


# -- the summary ----------------------------------------------------------------------

RECORDS = [
    rec(1, True, converged_s=2.0, elections=1, **{"downtime_s.web": 0.5}),
    rec(2, False, converged_s=None, elections=3, **{"downtime_s.web": 4.0}),
    rec(3, True, converged_s=1.0, elections=1),
    rec(4, True, converged_s=7.5, elections=2, **{"downtime_s.web": 0.0}),
    {
        "seed": 5,
        "passed": False,
        "trace_hash": "",
        "failed": [{"expectation": CRASHED, "seen": "KeyError: 'x'"}],
        "verdicts": {CRASHED: False},
        "error": "KeyError: 'x'",
        "wall_s": 0.1,
    },
]


def test_nearest_rank_percentiles_are_values_some_run_had() -> None:
    values = [float(v) for v in range(1, 11)]
    assert [summary.percentile(values, p) for p in (50, 90, 99, 100)] == [5.0, 9.0, 10.0, 10.0]
    assert summary.percentile([3.0], 50) == 3.0
    assert summary.percentile([1.0, 2.0], 50) == 1.0


def test_pass_rates_count_each_expectation_over_the_runs_that_judged_it() -> None:
    rates = summary.expectations(RECORDS)
    assert [(r["expectation"], r["passed"], r["failed"]) for r in rates] == [
        ("always: raft safety", 4, 0),
        ("by 30s: update web completed", 3, 1),
        (CRASHED, 4, 1),
    ]
    assert rates[1]["pass_rate"] == 0.75


def test_distributions_skip_the_runs_without_a_value_and_count_them() -> None:
    rows = {row["measure"]: row for row in summary.distributions(RECORDS)}
    assert list(rows) == ["converged_s", "elections", "downtime_s.web"]
    converged = rows["converged_s"]
    assert (converged["runs"], converged["none"]) == (3, 2)  # one never settled, one crashed
    assert [converged[k] for k in ("min", "p50", "p90", "p99", "max")] == [1.0, 2.0, 7.5, 7.5, 7.5]
    assert converged["mean"] == pytest.approx(3.5)
    assert rows["elections"]["none"] == 1 and rows["elections"]["p50"] == 1.0
    assert rows["downtime_s.web"]["none"] == 2 and rows["downtime_s.web"]["max"] == 4.0
    only_missing = summary.distributions([{**RECORDS[0], "converged_s": None}])
    assert only_missing[0]["measure"] == "converged_s" and only_missing[0]["p50"] is None


def test_the_summary_text_has_the_tables_failing_seeds_and_check() -> None:
    result = summary.summarize(
        scenario="s",
        path="my scenarios/s.yml",
        seeds=range(1, 6),
        records=RECORDS,
        determinism=compare(0.4, {1: RECORDS[0]}, {1: dict(RECORDS[0])}),
        results="out.jsonl",
    )
    text = summary.text(result).splitlines()
    assert text[0] == "s (my scenarios/s.yml), seeds 1..5: 5 runs, 3 passed, 2 failed"
    assert text[2].split() == ["EXPECTATION", "PASSED", "FAILED", "PASS", "RATE"]
    assert text[4].split()[-3:] == ["3", "1", "75%"]
    (converged,) = [line for line in text if line.startswith("converged_s")]
    assert converged.split() == ["converged_s", "1", "2", "7.5", "7.5", "7.5", "3.5", "2"]
    replays = [line.strip() for line in text if "--seed" in line]
    assert replays == [
        "shoal sim run 'my scenarios/s.yml' --seed 2 --trace run.jsonl   "
        "# by 30s: update web completed",
        f"shoal sim run 'my scenarios/s.yml' --seed 5 --trace run.jsonl   # {CRASHED}",
    ]
    assert text[-2].startswith("determinism: 1 seeds (40%) run again")
    assert text[-1] == "results: out.jsonl (5 lines, one per seed)"


def test_the_summary_shows_twenty_failing_seeds_and_counts_the_rest() -> None:
    records = [rec(s, passed=False) for s in range(1, 31)]
    result = summary.summarize(
        scenario="s",
        path="s.yml",
        seeds=range(1, 31),
        records=records,
        determinism=compare(0.0, {}, {}),
        results="r.jsonl",
    )
    text = summary.text(result)
    assert "30 failing seeds" in text
    assert text.count("--trace run.jsonl") == 20 and "--seed 20 " in text
    assert "--seed 21 " not in text
    assert "... and 10 more (all in r.jsonl)" in text
    assert len(result["failing"]) == 30
    assert "determinism: not checked (--determinism 0)" in text


def test_a_broken_determinism_check_is_loud() -> None:
    first = {4: rec(4, elections=1)}
    second = {4: {**first[4], "trace_hash": "d" * 64, "elections": 2}}
    result = summary.summarize(
        scenario="s",
        path="s.yml",
        seeds=range(4, 5),
        records=[first[4]],
        determinism=compare(1.0, first, second),
        results=None,
    )
    text = summary.text(result)
    assert "DETERMINISM BROKEN: 1 of 1 seeds run twice gave different runs:" in text
    assert f"seed 4: trace hash {4:064x} then {'d' * 64}" in text
    assert "elections: 1 then 2" in text


def test_pass_rates_read_100_or_0_only_when_they_are() -> None:
    assert summary.rate(10, 0) == "100%"
    assert summary.rate(99_999, 1) == ">99.99%"
    assert summary.rate(1, 99_999) == "<0.01%"
    assert summary.rate(0, 3) == "0%"
    assert summary.rate(2, 1) == "66.67%"


def test_the_plot_draws_a_histogram_per_measure_and_the_pass_rates(tmp_path: Path) -> None:
    from cli.sweep.plot import draw, figure

    result = summary.summarize(
        scenario="s",
        path="s.yml",
        seeds=range(1, 6),
        records=RECORDS,
        determinism=compare(0.0, {}, {}),
        results=None,
    )
    titles = [axes.get_title() for axes in figure("s", RECORDS, result).axes]
    assert titles == [
        "pass rate per expectation",
        "converged_s (2 without)",
        "elections (1 without)",
        "downtime_s.web (2 without)",
    ]
    draw("s", RECORDS, result, str(tmp_path / "sweep.png"))
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
