"""What of a scenario real hosts cannot do, refused when the file is read, by name
and line, before any host is built (a ScenarioError: exit status 1, as the file's
other mistakes).

The simulator's knobs have no real counterpart: ``cluster.images`` (simulated image
behaviour), ``network`` (the link model), ``mutations`` (planted bugs),
``cluster.resources`` and ``cluster.labels`` (a host's CPUs, memory and engine
labels are the machine's), ``cluster.spare`` and the faults ``join``,
``force-new-cluster`` and ``pull-fails``. Of the rest, a fault the carrier has no way
to strike (an inventory without that command) is refused too.
"""

from __future__ import annotations

from cli.scenario.schema import Scenario, ScenarioError
from real.scenario.carrier import REAL_FAULTS, Carrier
from sim.network import LinkModel

#: What undoes a fault that lasts ``for`` a while (the faults with an amount undo
#: themselves with 0; a partition's end is a heal and cuts).
UNDO = {"crash": "boot", "isolate": "heal", "pause": "resume"}
WHY = {
    "join": "a spare host joining is not built for real hosts yet",
    "force-new-cluster": "the real client cannot run swarm init --force-new-cluster yet",
    "pull-fails": "there is no registry: images are loaded on each host",
}


def refuse_unsupported(scenario: Scenario, carrier: Carrier, who: str) -> None:
    """Raise the first thing of ``scenario`` that ``carrier`` (called ``who`` in the
    message) cannot do."""
    path = scenario.path
    knobs = (
        ("cluster.images", bool(scenario.images), "simulated image behaviour"),
        ("network", scenario.link != LinkModel(), "a simulated link model"),
        ("mutations", bool(scenario.mutations), "planted bugs of the simulator"),
        ("cluster.resources", bool(scenario.resources), "a real host's resources are its own"),
        ("cluster.labels", bool(scenario.labels), "a real host's engine labels are its own"),
        ("cluster.spare", bool(scenario.spare), WHY["join"]),
    )
    for field, given, why in knobs:
        if given:
            raise ScenarioError(path, None, field, f"{who} cannot run this: {why}")
    for step in scenario.steps:
        if not step.fault:
            continue
        verb, _, target = step.fault.partition(" ")
        if verb not in REAL_FAULTS:
            why = WHY.get(verb, "not a fault real hosts have")
            raise ScenarioError(path, step.line, "fault", f"{verb}: {who} cannot do it ({why})")
        host = _host_of(verb, target)
        needed = [verb] + ([UNDO[verb]] if step.duration is not None and verb in UNDO else [])
        for each in needed:
            problem = carrier.refusal(each, host)
            if problem:
                raise ScenarioError(path, step.line, "fault", f"{step.fault}: {problem}")


def _host_of(verb: str, target: str) -> str:
    """The host a fault names; "" for every host (``heal``, ``partition``, and ``kill
    web.2``, whose host is known only when it strikes)."""
    if verb in ("heal", "kill", "partition"):
        return ""
    if verb in ("loss", "duplicate", "delay", "skew"):
        return target.rpartition(" ")[0]  # before the amount
    return target
