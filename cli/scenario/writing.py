"""A :class:`~cli.scenario.schema.Scenario` written back as a scenario file: what a
test built step by step (shoal.testing), or a failing schedule Hypothesis shrank,
becomes a file ``shoal sim run`` replays.

Times are written so that reading them back gives the same floats (whole
milliseconds at most, which the simulated clock's instants are kept to).
"""

from __future__ import annotations

from typing import Any

import yaml

from cli.scenario.schema import Expectation, Scenario, Step
from sim.executor import ImageBehaviour
from sim.network import LinkModel


def seconds(value: float) -> str:
    """``36.5`` as ``36.5s``: a duration :func:`core.model.duration.parse_duration`
    reads back to the same float."""
    millis = round(value * 1000)
    if value < 0 or abs(millis - value * 1000) > 1e-6:
        raise ValueError(f"{value!r} s is negative or finer than a millisecond")
    whole, part = divmod(millis, 1000)
    return f"{whole}s" if part == 0 else f"{whole}.{part:03d}".rstrip("0") + "s"


def dump(scenario: Scenario) -> str:
    """The scenario as YAML that :func:`cli.scenario.schema.parse` reads back equal
    (positions aside), its expectations grouped by kind as the format lists them."""
    document: dict[str, Any] = {"name": scenario.name, "seed": scenario.seed}
    document["cluster"] = _cluster(scenario)
    link = _changed(scenario.link, LinkModel())
    if link:
        document["network"] = link
    if scenario.files:
        document["files"] = dict(scenario.files)
    if scenario.mutations:
        document["mutations"] = list(scenario.mutations)
    document["steps"] = [_step(step) for step in scenario.steps]
    document["expect"] = _expect(scenario.expectations)
    document["duration"] = seconds(scenario.duration)
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=None, width=100)


def _cluster(scenario: Scenario) -> dict[str, Any]:
    cluster: dict[str, Any] = {"managers": scenario.managers, "workers": scenario.workers}
    default = [f"manager-{i}" for i in range(1, scenario.managers + 1)]
    default += [f"worker-{i}" for i in range(1, scenario.workers + 1)]
    names = {d: h for d, (h, _) in zip(default, scenario.hosts, strict=True) if d != h}
    if names:
        cluster["names"] = names
    if scenario.resources:
        cluster["resources"] = {
            host: {"cpus": cpus, "memory": str(memory)}
            for host, (cpus, memory) in scenario.resources.items()
        }
    if scenario.labels:
        cluster["labels"] = {host: dict(labels) for host, labels in scenario.labels.items()}
    if scenario.images:
        cluster["images"] = {
            image: _image(behaviour) for image, behaviour in scenario.images.items()
        }
    if scenario.spare:
        cluster["spare"] = list(scenario.spare)
    return cluster


def _image(behaviour: ImageBehaviour) -> dict[str, Any]:
    fields = _changed(behaviour, ImageBehaviour())
    fields.pop("output", None)  # what a container prints: not in the scenario format
    if "stop_signals" in fields:
        fields["stop_signals"] = list(fields["stop_signals"])
    if "missing" in fields:
        fields["missing"] = "true" if fields["missing"] else "false"
    return fields


def _changed(value: Any, default: Any) -> dict[str, Any]:
    """The dataclass fields of ``value`` that differ from ``default``'s."""
    return {
        name: getattr(value, name)
        for name in value.__dataclass_fields__
        if getattr(value, name) != getattr(default, name)
    }


def _step(step: Step) -> dict[str, Any]:
    out: dict[str, Any] = {"at": seconds(step.at)}
    if step.run:
        out["run"] = step.run
    else:
        out["fault"] = step.fault
    if step.duration is not None:
        out["for"] = seconds(step.duration)
    if step.on:
        out["on"] = step.on
    if step.fails:
        out["fails"] = True
    return out


def _expect(expectations: tuple[Expectation, ...]) -> dict[str, Any]:
    groups: dict[str, list[Any]] = {}
    for expectation in expectations:
        item: dict[str, Any] = {}
        if expectation.at is not None:
            item["at"] = seconds(expectation.at)
        item["check"] = expectation.check
        if expectation.start:
            item["from"] = seconds(expectation.start)
        if expectation.until is not None:
            item["until"] = seconds(expectation.until)
        plain = expectation.at is None and len(item) == 1  # always/never/measure, whole run
        groups.setdefault(expectation.kind, []).append(item["check"] if plain else item)
    return groups
