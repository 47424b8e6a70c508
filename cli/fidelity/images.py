"""The scenario's images mapped to the two that test hosts have, so that the simulated
and the real run are one scenario.

Test hosts have no registry: only ``local/busybox:1`` and ``local/busybox:2``
(real/agent/images.py). Every image the steps' commands name (``service create ...
IMAGE``, ``service update --image IMAGE``) that is not one of those two gets a free
one of them, in the order the images first appear (the steps in time order, ties in
file order): the first ``local/busybox:1``, the second ``local/busybox:2`` (a local
tag the scenario names itself is kept, and taken). An untagged name is the same
image as its ``:latest``. More than two distinct images cannot be mapped and are
refused by name.

Only image arguments are rewritten, each in the command's own words, and the line is
read back: if anything but the image changed in what the command parses to, it is
refused rather than run as another command. A command the language refuses is left
as it is (it is refused alike in both runs). A compose file's images are not
rewritten: a ``stack deploy`` whose services name another image is refused.
"""

from __future__ import annotations

import dataclasses
import random
import shlex
from collections.abc import Sequence
from typing import Any

from cli.commands import service
from cli.commands.common import Script
from cli.commands.flags import CommandParser, UsageError
from cli.commands.language import parse as parse_command
from cli.commands.stack_run import Deploy
from cli.scenario.schema import Scenario, ScenarioError, Step
from cli.words import split
from real.agent.images import IMAGE, SECOND_IMAGE

#: The images test hosts have, in the order they are handed out.
LOCAL = (IMAGE, SECOND_IMAGE)

Mapping = dict[str, str]  # image as written: the local image it becomes


def same_image(reference: str) -> str:
    """The image ``reference`` names, as a key: ``nginx`` is ``nginx:latest``."""
    if "@" in reference or ":" in reference.rpartition("/")[2]:
        return reference
    return f"{reference}:latest"


def map_images(scenario: Scenario) -> tuple[Scenario, Mapping]:
    """``scenario`` with its images replaced by local ones, and the replacements."""
    found = [(step, image) for step in scenario.steps for image in images_of(step, scenario)]
    keys = list(dict.fromkeys(same_image(image) for _, image in found))
    if len(keys) > len(LOCAL):
        step = next(s for s, i in found if same_image(i) == keys[len(LOCAL)])
        raise ScenarioError(
            scenario.path,
            step.line,
            "run",
            f"test hosts have two images ({', '.join(LOCAL)}): the scenario names "
            f"{len(keys)} ({', '.join(keys)})",
        )
    free = [image for image in LOCAL if image not in keys]
    by_key = {key: key if key in LOCAL else free.pop(0) for key in keys}
    mapping = {image: by_key[same_image(image)] for _, image in found}
    mapping = {image: local for image, local in mapping.items() if image != local}
    if not mapping:
        return scenario, {}
    steps = tuple(_mapped(step, mapping, scenario.path) for step in scenario.steps)
    return dataclasses.replace(scenario, steps=steps), mapping


def images_of(step: Step, scenario: Scenario) -> list[str]:
    """The images ``step``'s command names (none for a fault, or for a command the
    language refuses); a stack deploy's compose images other than the local ones are
    refused."""
    parsed = _parsed(step.run)
    if parsed is None:
        return []
    words, at, kind = parsed
    if kind == "stack":
        _refuse_compose_images(step, scenario, words)
        return []
    found = _image(kind, words[at:])
    return [found] if found is not None else []


def _parsed(line: str) -> tuple[list[str], int, str] | None:
    """The line's words, where the command's own words begin, and which command of
    those naming images it is ("create", "update", "stack"); None for any other."""
    if not line:
        return None
    try:
        words = split(line)
    except ValueError:
        return None
    start = 1 if words[:1] == ["docker"] else 0
    command = words[start : start + 2]
    if command == ["service", "create"]:
        return words, start + 2, "create"
    if command == ["service", "update"]:
        return words, start + 2, "update"
    if command in (["stack", "deploy"], ["stack", "up"]):
        return words, start + 2, "stack"
    return None


def _parser(kind: str) -> CommandParser:
    return service.create_parser() if kind == "create" else service.update_parser()


def _read(kind: str, rest: Sequence[str]) -> tuple[dict[str, Any], list[str]] | None:
    """What the command's words parse to (flags, arguments); None when refused."""
    try:
        flags, arguments = _parser(kind).parse(rest)
    except UsageError:
        return None
    return vars(flags), arguments


def _image(kind: str, rest: Sequence[str]) -> str | None:
    read = _read(kind, rest)
    if read is None:
        return None
    flags, arguments = read
    image = arguments[0] if kind == "create" else flags["image"]
    return image if isinstance(image, str) else None


def _mapped(step: Step, mapping: Mapping, path: str) -> Step:
    parsed = _parsed(step.run)
    if parsed is None or parsed[2] == "stack":
        return step
    words, at, kind = parsed
    rest = words[at:]
    before = _read(kind, rest)
    image = _image(kind, rest)
    if before is None or image is None or image not in mapping:
        return step
    new = mapping[image]
    expected = _expected(kind, before, new)
    for changed in _replace(kind, rest, image, new):
        if _read(kind, changed) == expected:
            return dataclasses.replace(step, run=shlex.join([*words[:at], *changed]))
    raise ScenarioError(
        path, step.line, "run", f"{step.run!r}: cannot replace its image {image} by {new} safely"
    )


def _replace(kind: str, rest: list[str], image: str, new: str) -> list[list[str]]:
    """The words with the image's word(s) replaced, each way it may be: create's
    image is one of the words equal to it (its flags stop at the image: the one
    that reads back right), update's are the values of ``--image``, all of them."""
    if kind == "create":
        return [
            [*rest[:index], new, *rest[index + 1 :]]
            for index, word in enumerate(rest)
            if word == image
        ]
    out = list(rest)
    for index, word in enumerate(rest):
        if word == "--image" and index + 1 < len(rest) and rest[index + 1] == image:
            out[index + 1] = new
        elif word == f"--image={image}":
            out[index] = f"--image={new}"
    return [out]


def _expected(
    kind: str, before: tuple[dict[str, Any], list[str]], new: str
) -> tuple[dict[str, Any], list[str]]:
    """What the rewritten command must parse to: the same, but for the image."""
    flags, arguments = before
    if kind == "create":
        return flags, [new, *arguments[1:]]
    return {**flags, "image": new}, arguments


def _refuse_compose_images(step: Step, scenario: Scenario, words: list[str]) -> None:
    """A stack deploy's services must name local images: their files are not rewritten."""

    def read_file(name: str) -> str:
        if name not in scenario.files:
            raise FileNotFoundError(2, "No such file or directory", name)
        return scenario.files[name]

    try:
        commands = parse_command(words, random.Random(0), read_file, environ={})
    except UsageError:
        return  # refused alike in both runs
    # a deploy is a Script running its plan's bound method; the plan holds the stack
    # as converted from the files (variables substituted, files merged)
    plans = [getattr(c.run, "__self__", None) for c in commands if isinstance(c, Script)]
    seen = [
        spec.task_template.container_spec.image
        for plan in plans
        if isinstance(plan, Deploy)
        for spec in plan.stack.services
        if spec.task_template.container_spec is not None
    ]
    others = sorted({image for image in seen if image not in LOCAL})
    if others:
        raise ScenarioError(
            scenario.path,
            step.line,
            "run",
            f"{step.run!r}: its compose file names {', '.join(others)}, which test hosts "
            f"do not have (only {', '.join(LOCAL)}); compose files are not rewritten",
        )
