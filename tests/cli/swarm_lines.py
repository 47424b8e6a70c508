"""Carrying command lines out against a simulated swarm, and printing the answers
as every front end prints them, for the command tests."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from cli.commands.common import Call
from cli.commands.language import parse
from cli.commands.run import Outcome, execute
from cli.output.answers import render
from cli.output.views import Context
from sim.cluster import ClusterWorld

ReadFile = Callable[[str], str]


def _no_files(path: str) -> str:
    raise FileNotFoundError(2, "No such file or directory", path)


def run(world: ClusterWorld, line: str, read_file: ReadFile = _no_files) -> list[Outcome]:
    def send(method: str, params: dict[str, Any]) -> Any:
        return world.call("manager-1", method, **params)

    return [execute(c, send, "manager-1") for c in parse(line, random.Random(7), read_file)]


def printed(world: ClusterWorld, line: str, read_file: ReadFile = _no_files) -> str:
    """``line`` carried out, printed as every front end prints an answer."""
    texts = []
    for outcome in run(world, line, read_file):
        assert outcome.ok, outcome.error or outcome.said
        command = outcome.command
        assert isinstance(command, Call)
        if command.show in ("id", "created", "name"):  # the front ends' own
            texts.append(str(outcome.value))
            continue
        text = render(command.show, command.view, command.params, outcome.value, Context(now=0))
        assert text is not None
        texts.append(text)
    return "\n".join(texts)
