"""The one error tree of shoal's core.

Expected conditions (a bad spec, an illegal transition a caller asked for, a write
against a stale version) raise a subclass of :class:`ShoalError` whose message names
the problem and, where there is one, the fix. Broken invariants raise
:class:`InvariantViolation`, which nothing catches: in simulation the run crashes and
prints its seed.
"""

from __future__ import annotations


class ShoalError(Exception):
    """Base of every expected error the core raises."""


class InvalidSpec(ShoalError):
    """A spec, a field of one, or a value on the wire is not acceptable.

    The message always has the shape ``invalid <Field.Path> <value>: <problem>`` so a
    user can find the field they got wrong.
    """

    def __init__(self, field: str, value: object, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"invalid {field} {format_value(value)}: {problem}")


class InvalidTransition(ShoalError):
    """A task state change that its owner may not make (or nobody may)."""


class InvariantViolation(AssertionError):
    """A broken invariant: a bug in shoal, never a user mistake. Never caught."""


def format_value(value: object) -> str:
    """Render a value the way Go's %v/%q would in Docker's messages."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    return str(value)
