"""The pytest plugin a user gets with shoal: the sim_swarm fixtures, a failing test's
report carrying the scenario that replays it; and the README's example test, run as
a user would run it (pytest on the file, nothing of this suite's set-up)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_example() -> str:
    """The README's example test file: the python block under 'Testing your own
    assumptions'."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Testing your own assumptions", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the README's example test is gone"
    return match.group(1)


def test_the_readme_example_test_passes_as_a_user_runs_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_my_assumptions=_readme_example())
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "--hypothesis-seed=0")
    result.assert_outcomes(passed=2)


def test_sim_swarm_fixtures_and_a_failure_carries_its_scenario(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_uses_fixtures="""
        import pytest

        @pytest.mark.swarm(managers=1, workers=2, seed=4)
        def test_marked(sim_swarm):
            names = ["manager-1", "worker-1", "worker-2"]
            assert [sim_swarm.seed, sim_swarm.world.names] == [4, names]

        def test_default(sim_swarm):
            assert sim_swarm.seed == 1 and len(sim_swarm.world.names) == 6

        def test_factory(sim_swarm_factory):
            one, two = sim_swarm_factory(managers=1, workers=0), sim_swarm_factory(seed=9)
            assert one.leader == "manager-1" and two.seed == 9

        def test_fails(sim_swarm):
            sim_swarm.docker("service create --name web --replicas 2 nginx")
            assert sim_swarm.running("web") == 5
        """
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    output = result.stdout.str()
    assert "shoal scenario" in output
    assert "run: service create --name web --replicas 2 nginx" in output
