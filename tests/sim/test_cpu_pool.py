"""The shared cores: processor sharing, deterministic order, cancelled jobs."""

from __future__ import annotations

import pytest
import simpy

from sim.cpu import CpuPool


def finishes(cores: float, jobs: list[tuple[float, float]]) -> list[tuple[int, float]]:
    """(job index, finish time) for jobs given as (start time, work)."""
    env = simpy.Environment()
    pool = CpuPool(env, cores)
    done: list[tuple[int, float]] = []

    def give(index: int, at: float, work: float):  # type: ignore[no-untyped-def]
        yield env.timeout(at)
        pool.run(work, lambda: done.append((index, float(env.now))))

    for index, (at, work) in enumerate(jobs):
        env.process(give(index, at, work))
    env.run()
    return done


def test_a_job_alone_takes_its_work() -> None:
    assert finishes(2, [(0.0, 0.3)]) == [(0, pytest.approx(0.3))]


def test_jobs_within_the_cores_do_not_slow_each_other() -> None:
    done = finishes(2, [(0.0, 0.3), (0.0, 0.5)])
    assert done == [(0, pytest.approx(0.3)), (1, pytest.approx(0.5))]


def test_more_jobs_than_cores_share_them() -> None:
    # 6 jobs of 0.1 s on 2 cores: each runs at a third of a core, all end at 0.3 s
    done = finishes(2, [(0.0, 0.1)] * 6)
    assert [i for i, _ in done] == [0, 1, 2, 3, 4, 5]  # told in the order given
    assert all(t == pytest.approx(0.3) for _, t in done)


def test_a_late_job_slows_the_running_ones_from_when_it_comes() -> None:
    # one core: job 0 alone for 0.1 s (0.1 done), then half speed with job 1;
    # job 0's last 0.1 takes 0.2 s: ends at 0.3; job 1 did 0.1 by then, ends at 0.4
    done = finishes(1, [(0.0, 0.2), (0.1, 0.2)])
    assert done == [(0, pytest.approx(0.3)), (1, pytest.approx(0.4))]


def test_a_cancelled_job_is_never_told_and_frees_its_share() -> None:
    env = simpy.Environment()
    pool = CpuPool(env, 1)
    done: list[tuple[str, float]] = []
    victim = pool.run(1.0, lambda: done.append(("victim", float(env.now))))
    pool.run(0.2, lambda: done.append(("other", float(env.now))))

    def cancel():  # type: ignore[no-untyped-def]
        yield env.timeout(0.1)
        pool.cancel(victim)

    env.process(cancel())
    env.run()
    # 0.05 of "other" done at half speed by 0.1, then 0.15 alone
    assert done == [("other", pytest.approx(0.25))]


def test_busy_seconds_count_the_work_done() -> None:
    env = simpy.Environment()
    pool = CpuPool(env, 2)
    for _ in range(5):
        pool.run(0.2, lambda: None)
    env.run()
    assert pool.busy_seconds == pytest.approx(1.0)
    assert env.now == pytest.approx(0.5)


def test_a_pool_needs_cores() -> None:
    with pytest.raises(ValueError, match="needs cores"):
        CpuPool(simpy.Environment(), 0)


def test_a_job_may_keep_more_than_one_core_busy_up_to_its_cap() -> None:
    env = simpy.Environment()
    pool = CpuPool(env, 2, job_cores=1.5)
    done: list[float] = []
    pool.run(0.3, lambda: done.append(float(env.now)))
    env.run()
    assert done == [pytest.approx(0.2)]  # 0.3 s of work on 1.5 cores
    pool.run(0.3, lambda: done.append(float(env.now)))
    pool.run(0.3, lambda: done.append(float(env.now)))
    env.run()
    assert done[1:] == [pytest.approx(0.5)] * 2  # two jobs: a core each, not 1.5
