"""Hand-made scenario reports for the ``shoal fidelity`` tests: verdicts as given, and
a timeline whose measures come out as asked."""

from __future__ import annotations

from collections.abc import Sequence

from cli.scenario.judging import Report, Verdict
from cli.scenario.schema import Scenario, parse
from cli.timeline import Timeline

HEALED = 20.0  # the hand-made run's one fault ends here
END = 100.0

SCENARIO = parse("name: hand-made\ncluster: {managers: 1, workers: 1}\n", "hand.yml")


def report(
    verdicts: Sequence[tuple[str, bool]] = (("always: raft safety", True),),
    converged: float | None = 4.0,
    elections: int = 0,
    leaderless: float = 0.0,
    seed: int = 1,
    scenario: Scenario = SCENARIO,
) -> Report:
    """A run whose service web settles ``converged`` s after its fault ends (None:
    never), whose looks see ``elections`` leaderships won after the first (each a
    change of leader), and that ends without a leader for its last ``leaderless`` s."""
    timeline = Timeline("hand-made", simulated=END)
    timeline.faults.append((10.0, HEALED, "crash worker-1"))
    running = [(0.0, 2), (HEALED, 1)]
    if converged is not None:
        running.append((HEALED + converged, 2))
    timeline.running["web"] = running
    timeline.desired["web"] = [(when, 2) for when, _ in running]
    timeline.looks = [(0.0, "manager-1")]
    timeline.looks += [
        (float(i), "manager-2" if i % 2 else "manager-1") for i in range(1, 1 + elections)
    ]
    if leaderless:
        timeline.looks.append((END - leaderless, ""))
    made = Report(scenario, seed, timeline=timeline)
    made.verdicts = [Verdict(text, passed) for text, passed in verdicts]
    return made
