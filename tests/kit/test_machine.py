"""The whole-swarm state machine: shoal as built passes it; a planted manager bug is
found and shrunk to a scenario of a few steps that fails the same way under
``shoal sim run`` (and passes there without the bug)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, run_state_machine_as_test

from cli.main import main
from shoal.testing import SwarmFailure, SwarmMachine

NIGHTLY = settings.default.max_examples > 200


def test_shoal_as_built_passes_the_whole_swarm_machine() -> None:
    run_state_machine_as_test(
        SwarmMachine,
        settings=settings(
            max_examples=500 if NIGHTLY else 25,
            stateful_step_count=40 if NIGHTLY else 15,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


class PlantedScheduler(SwarmMachine):
    """The scheduler places tasks on drained and down nodes.

    Every schedule starts with a service to place, so that any drain can reach the
    bug: left to draw one, whether 100 derandomized examples did depended on the
    code loaded, for Hypothesis mines the constants of every local module into its
    generation (a CLI change elsewhere made all 400 of a full collection's miss)."""

    mutations = ("schedule_on_unavailable_nodes",)
    seeds = st.just(1)  # one simulation seed: the shrink works on the schedule alone

    @initialize(data=st.data())
    def form(self, data: st.DataObject) -> None:
        super().form(data)
        self.create_service("web", 6, "nginx:1.25", 1)


@pytest.mark.slow
def test_a_planted_bug_is_found_and_shrunk_to_a_few_steps_that_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SwarmFailure) as raised:
        run_state_machine_as_test(
            PlantedScheduler,
            settings=settings(
                max_examples=100,
                stateful_step_count=8,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
                # no explain phase: it reruns the shrunk case under a line tracer,
                # over the whole simulated swarm many times slower than the shrink
                phases=[Phase.generate, Phase.shrink],
            ),
        )
    failure = raised.value
    assert "decisions read a ready node" in failure.problem
    document = yaml.safe_load(failure.scenario)
    assert document["mutations"] == ["schedule_on_unavailable_nodes"]
    assert 2 <= len(document["steps"]) <= 4, document["steps"]
    assert any("drain" in step.get("run", "") for step in document["steps"])
    capsys.readouterr()

    planted = tmp_path / "shrunk.yml"
    planted.write_text(failure.scenario)
    assert main(["sim", "run", str(planted), "--no-progress"]) == 2
    out = capsys.readouterr().out
    assert "FAIL" in out and "decisions read a ready node" in out

    del document["mutations"]  # the same schedule without the bug passes
    healthy = tmp_path / "healthy.yml"
    healthy.write_text(yaml.safe_dump(document))
    assert main(["sim", "run", str(healthy), "--no-progress"]) == 0
