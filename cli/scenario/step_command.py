"""A scenario step's command line, run through the command language of ``shoal sim
shell`` against a manager, and the step's verdict: a refusal fails the step, unless
the step says it ``fails``, when only success does. Both runners send it their own
way (``call``); ``unanswered`` are the exceptions by which a runner says the host
did not answer (paused, down, cut off). A step does not wait as Docker's CLI does
(a service converging, a root rotation: ``swarm ca --rotate`` with or without ``-d``):
scenarios say what must hold, and by when, in their expectations."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from cli.commands.flags import UsageError
from cli.commands.language import parse as parse_command
from cli.commands.run import execute
from cli.scenario.judging import Verdict
from cli.scenario.schema import Step
from cli.words import split
from core.manager.requests import ClientReply

Call = Callable[[str, dict[str, Any]], ClientReply]


def run_step(
    step: Step,
    now: float,
    rng: random.Random,
    call: Call,
    host: str,
    unanswered: tuple[type[Exception], ...],
    files: Mapping[str, str] | None = None,
) -> Verdict | None:
    """Run ``step.run`` on ``host``; its verdict, or None for a step that simply worked.
    A file the command reads is one of the scenario's ``files``; a compose file's
    variables come from its ``.env`` alone (not the runner's environment), so a
    scenario runs alike everywhere."""
    label = f"step: {step.run}" + (" (fails)" if step.fails else "")
    errors: list[str] = []
    carried = dict(files or {})

    def read_file(name: str) -> str:
        if name not in carried:
            raise FileNotFoundError(2, "No such file or directory", name)
        return carried[name]

    try:
        commands = parse_command(split(step.run), rng, read_file, environ={})
    except ValueError as error:  # an unclosed quote
        commands, errors = [], [f"cannot split the command line: {error}"]
    except UsageError as error:
        commands, errors = [], [error.message]
    for command in commands:
        try:
            outcome = execute(command, call, host)
        except UsageError as error:  # an edit the spec refuses (replicas of a global)
            errors.append(error.message)
            continue
        except unanswered as error:
            errors.append(str(error))
            continue
        if not outcome.ok:
            errors.append(outcome.error or outcome.said)
    if step.fails:
        seen = errors[0] if errors else "it was accepted"
        return Verdict(label, bool(errors), now, seen, step.line)
    if errors:
        return Verdict(label, False, now, errors[0], step.line)
    return None
