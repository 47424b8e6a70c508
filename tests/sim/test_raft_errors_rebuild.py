"""Every exception the core or the simulator defines survives being rebuilt from its
``args``: SimPy re-raises a failed process's exception as ``type(e)(*e.args)``, and
copy and pickle rebuild it the same way. A checker's verdict that cannot be rebuilt
turned into a TypeError that hid the violation (issue 15, item 4)."""

from __future__ import annotations

import copy
import importlib
import inspect
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest

import core
from core.errors import InvariantViolation, ShoalError

_SAMPLES: dict[str, object] = {"int": 7, "NodeId": 7, "float": 1.5, "bool": True}


def _defined_exceptions() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    root = Path(core.__file__).parent.parent  # some subpackages have no __init__.py
    for package in ("core", "sim"):
        for path in sorted((root / package).rglob("*.py")):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            loaded = importlib.import_module(name.removesuffix(".__init__"))
            for _, cls in inspect.getmembers(loaded, inspect.isclass):
                if issubclass(cls, BaseException) and cls.__module__ == loaded.__name__:
                    found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return [found[name] for name in sorted(found)]


def _sample_args(cls: type[BaseException]) -> tuple[object, ...]:
    """Positional arguments for ``cls``: a value of each parameter's annotated type."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except ValueError:  # a builtin's constructor: takes a message
        return ("a message",)
    args: list[object] = []
    for position, parameter in enumerate(parameters):
        if parameter.kind is parameter.VAR_POSITIONAL:
            args.append("a message")
            continue
        if parameter.kind is parameter.VAR_KEYWORD or parameter.default is not parameter.empty:
            continue
        annotation = str(parameter.annotation)
        args.append(_SAMPLES.get(annotation, f"value{position}"))
    return tuple(args)


EXCEPTIONS = _defined_exceptions()
REBUILDS: dict[str, Callable[[BaseException], BaseException]] = {
    "simpy": lambda e: type(e)(*e.args),
    "copy": copy.copy,
    "pickle": lambda e: pickle.loads(pickle.dumps(e)),
}


def test_the_core_and_the_simulator_define_exceptions() -> None:
    names = {cls.__name__ for cls in EXCEPTIONS}
    assert {"SafetyViolation", "TaskViolation", "InvalidSpec", "NotLeader", "ApiError"} <= names


@pytest.mark.parametrize("how", sorted(REBUILDS))
@pytest.mark.parametrize("cls", EXCEPTIONS, ids=lambda cls: cls.__qualname__)
def test_exception_is_rebuilt_from_its_args(cls: type[BaseException], how: str) -> None:
    original = cls(*_sample_args(cls))
    rebuilt = REBUILDS[how](original)
    assert type(rebuilt) is cls
    assert str(rebuilt) == str(original)
    assert rebuilt.args == original.args


def test_the_message_is_the_composed_one_and_args_the_constructors() -> None:
    from sim.raft_checks import SafetyViolation

    violation = SafetyViolation("log matching", "nodes 1 and 2 differ")
    assert str(violation) == "log matching: nodes 1 and 2 differ"
    assert violation.args == ("log matching", "nodes 1 and 2 differ")
    assert isinstance(violation, InvariantViolation)
    assert str(ShoalError("plain")) == "plain" and str(ShoalError()) == ""
