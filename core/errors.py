"""The one error tree of shoal's core.

Expected conditions (a bad spec, an illegal transition a caller asked for, a write
against a stale version) raise a subclass of :class:`ShoalError` whose message names
the problem and, where there is one, the fix. Broken invariants raise
:class:`InvariantViolation`, which nothing catches: in simulation the run crashes and
prints its seed.
"""

from __future__ import annotations


class Rebuildable(BaseException):
    """An exception whose ``args`` are its constructor's arguments, whatever message
    the constructor composed from them, so that ``type(e)(*e.args)`` rebuilds it:
    SimPy re-raises a failed process's exception that way, and copy and pickle do
    too. Subclasses build their message and pass it up; construct them positionally.
    """

    def __init__(self, *message: object) -> None:
        # BaseException.__new__ has set ``args`` to the constructor's own arguments.
        # Keep them, and remember the composed message for __str__.
        constructor_args = self.args
        super().__init__(*message)
        self._text = super().__str__()
        self.args = constructor_args

    def __str__(self) -> str:
        return self._text


class ShoalError(Rebuildable, Exception):
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


class InvariantViolation(Rebuildable, AssertionError):
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
