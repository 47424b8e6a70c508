"""Runtime layer of the rule-1 guard: clocks, sleeps, global randomness and sockets raise when
core code calls them.

The AST guard sees names; this trap sees calls, so it also catches what static analysis cannot,
such as a clock function handed to core as an argument. It looks only at the *immediate* caller
(``sys._getframe(1)``): a module whose ``__name__`` equals a prefix or starts with prefix + "."
gets ``RuntimeError("rule 1: <what> called from core module <name>")``; every other caller
(pytest, hypothesis, sim/, real/, the stdlib) gets the original behaviour. Core calling
``asyncio.sleep`` is therefore not caught here (asyncio is the caller of the clock); the AST
layer catches that.

Trapped: every public function of ``time``; ``datetime.datetime.now/utcnow/today``; every public
``random`` function bound to the hidden global generator (found by inspecting the module, so new
Python versions are covered); ``os.urandom`` and ``os.getrandom``; ``socket.socket`` and
``socket.create_connection``.

Install before any core module is imported. A core module that ran ``from time import
monotonic`` or ``from datetime import datetime`` before install() holds the original objects
and escapes this layer; install(strict=True) refuses to run once a core module is imported.

``datetime.datetime`` is a C type whose attributes cannot be set, so install() puts a facade
subclass in its place in the ``datetime`` module. The facade builds real ``datetime`` objects,
answers isinstance/issubclass for the real class, and a copyreg entry keeps pickles of real
datetimes byte-identical (except that fold=1 survives pickle protocols below 4). One difference
remains while installed: ``type(d) is datetime.datetime`` is False for real datetimes.
``socket.socket`` is a Python class, so its ``__init__`` is wrapped in place instead of being
subclassed: type identity holds and an early ``from socket import socket`` is covered too.

Wrappers read the installed prefixes at call time, so a wrapper captured while installed is
inert after uninstall().
"""

from __future__ import annotations

import contextlib
import copyreg
import datetime
import functools
import os
import random
import socket
import sys
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_PREFIXES: Final = ("core",)

_prefixes: tuple[str, ...] = ()  # empty while not installed
_package_prefixes: tuple[str, ...] = ()  # the same, each followed by "."
_saved: list[tuple[Any, object, object]] = []  # (owner, key, value before install)
_MISSING: Final = object()


def _refuse_core_caller(what: str, frame: types.FrameType) -> None:
    """Raise if ``frame`` runs in a trapped module; called first thing by every wrapper."""
    module = frame.f_globals.get("__name__")
    if not _prefixes or not isinstance(module, str):
        return
    if module in _prefixes or module.startswith(_package_prefixes):
        raise RuntimeError(f"rule 1: {what} called from core module {module}")


def _guarded(what: str, original: Callable[P, R]) -> Callable[P, R]:
    """Wrap ``original`` so that a core caller gets RuntimeError before it runs."""

    @functools.wraps(original)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        _refuse_core_caller(what, sys._getframe(1))
        return original(*args, **kwargs)

    return guarded


_REAL_DATETIME: Final[type[datetime.datetime]] = datetime.datetime


class _FacadeMeta(type):
    """Makes the facade answer type checks for the real class: hypothesis, pydantic and friends
    check ``isinstance(value, datetime.datetime)`` against datetimes made before install."""

    def __instancecheck__(cls, instance: object) -> bool:
        if cls is _DatetimeFacade:
            return isinstance(instance, _REAL_DATETIME)
        return super().__instancecheck__(instance)

    def __subclasscheck__(cls, subclass: type) -> bool:
        if cls is _DatetimeFacade:
            return issubclass(subclass, _REAL_DATETIME)
        return super().__subclasscheck__(subclass)


class _DatetimeFacade(datetime.datetime, metaclass=_FacadeMeta):
    """Stands in for ``datetime.datetime`` while installed: its clock reads check the caller,
    everything else (constructors included) yields real datetimes."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is _DatetimeFacade:
            return _REAL_DATETIME(*args, **kwargs)
        return super().__new__(cls, *args, **kwargs)

    @classmethod
    def now(cls, tz: datetime.tzinfo | None = None) -> Any:
        _refuse_core_caller("datetime.datetime.now", sys._getframe(1))
        return _REAL_DATETIME.now(tz) if cls is _DatetimeFacade else super().now(tz)

    @classmethod
    def utcnow(cls) -> Any:
        _refuse_core_caller("datetime.datetime.utcnow", sys._getframe(1))
        return _REAL_DATETIME.utcnow() if cls is _DatetimeFacade else super().utcnow()

    @classmethod
    def today(cls) -> Any:
        _refuse_core_caller("datetime.datetime.today", sys._getframe(1))
        return _REAL_DATETIME.today() if cls is _DatetimeFacade else super().today()


# Same spelling as the real class, so that reprs match and pickle finds it as datetime.datetime.
# The qualname is a separate string object: pickle memoizes strings by identity, and the real
# class's module and qualname are two objects, so this keeps pickles byte-identical.
_DatetimeFacade.__module__ = "datetime"
_DatetimeFacade.__name__ = _DatetimeFacade.__qualname__ = "".join(("date", "time"))


def _reduce_real_datetime(value: datetime.datetime) -> tuple[object, tuple[Any, ...]]:
    """Pickle real datetimes under the name ``datetime.datetime``, which is the facade while
    installed (pickle refuses a class that its module name does not resolve to)."""
    reduced: Any = value.__reduce_ex__(4)
    return _DatetimeFacade, reduced[1]


@dataclass(frozen=True)
class _Patch:
    """One replacement: ``owner`` is an object (attribute ``key``) or a dict (item ``key``)."""

    owner: Any
    key: object
    replacement: object
    traps: tuple[str, ...]  # dotted names it makes refuse core callers, as reported


def _function_patches(module: types.ModuleType, names: list[str]) -> list[_Patch]:
    patches = []
    for name in names:
        dotted = f"{module.__name__}.{name}"
        patches.append(_Patch(module, name, _guarded(dotted, getattr(module, name)), (dotted,)))
    return patches


def _time_functions() -> list[str]:
    """All of them: the core has no business with any function of ``time``."""
    return sorted(
        name
        for name, value in vars(time).items()
        if not name.startswith("_") and isinstance(value, types.BuiltinFunctionType)
    )


def _global_random_functions() -> list[str]:
    """Public ``random`` functions that are methods of the hidden module-level generator."""
    hidden_generator = random._inst
    return sorted(
        name
        for name, value in vars(random).items()
        if not name.startswith("_") and getattr(value, "__self__", None) is hidden_generator
    )


def _build_patches() -> tuple[_Patch, ...]:
    datetime_reads = (
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
    )
    real_socket_init = vars(socket.socket)["__init__"]
    entropy = [name for name in ("urandom", "getrandom") if hasattr(os, name)]
    return (
        *_function_patches(time, _time_functions()),
        _Patch(datetime, "datetime", _DatetimeFacade, datetime_reads),
        _Patch(copyreg.dispatch_table, _REAL_DATETIME, _reduce_real_datetime, ()),
        *_function_patches(random, _global_random_functions()),
        *_function_patches(os, entropy),
        _Patch(
            socket.socket,
            "__init__",
            _guarded("socket.socket", real_socket_init),
            ("socket.socket",),
        ),
        *_function_patches(socket, ["create_connection"]),
    )


_PATCHES: Final = _build_patches()


def trapped_names() -> tuple[str, ...]:
    """Dotted names of everything a core caller may not call while installed."""
    return tuple(name for patch in _PATCHES for name in patch.traps)


def installed_prefixes() -> tuple[str, ...]:
    """The prefixes in force, or () when the trap is not installed."""
    return _prefixes


def is_installed() -> bool:
    return bool(_saved)


def install(prefixes: tuple[str, ...] = DEFAULT_PREFIXES, *, strict: bool = False) -> None:
    """Trap calls from modules under ``prefixes``. Idempotent: installing again only replaces
    the prefixes. ``strict`` refuses when a module under them is already imported, because such
    a module may hold originals bound by ``from ... import``."""
    global _prefixes, _package_prefixes
    if not prefixes or any(not prefix or prefix.endswith(".") for prefix in prefixes):
        raise ValueError(f"rule 1 trap: bad module prefixes {prefixes!r}")
    if strict:
        _refuse_imported(prefixes)
    if not _saved:
        for patch in _PATCHES:
            _saved.append((patch.owner, patch.key, _read(patch.owner, patch.key)))
            _write(patch.owner, patch.key, patch.replacement)
    _prefixes = tuple(prefixes)
    _package_prefixes = tuple(f"{prefix}." for prefix in prefixes)


def uninstall() -> None:
    """Put back exactly what install() replaced; a no-op when not installed."""
    global _prefixes, _package_prefixes
    while _saved:
        owner, key, value = _saved.pop()
        _write(owner, key, value)
    _prefixes = _package_prefixes = ()


@contextlib.contextmanager
def trapped(prefixes: tuple[str, ...] = DEFAULT_PREFIXES) -> Iterator[None]:
    """Install for the duration of a block, then restore the previous state (installed or not)."""
    previous = installed_prefixes()
    install(prefixes)
    try:
        yield
    finally:
        if previous:
            install(previous)
        else:
            uninstall()


def _refuse_imported(prefixes: tuple[str, ...]) -> None:
    imported = sorted(
        name
        for name in sys.modules
        if any(name == prefix or name.startswith(f"{prefix}.") for prefix in prefixes)
    )
    if imported:
        raise RuntimeError(
            f"rule 1 trap installed too late: {', '.join(imported)} already imported; "
            "install it first (tests/conftest.py)"
        )


def _read(owner: Any, key: Any) -> object:
    if isinstance(owner, dict):
        return owner.get(key, _MISSING)
    return vars(owner).get(key, _MISSING)


def _write(owner: Any, key: Any, value: object) -> None:
    if isinstance(owner, dict):
        if value is _MISSING:
            owner.pop(key, None)
        else:
            owner[key] = value
    elif value is _MISSING:
        delattr(owner, key)
    else:
        setattr(owner, key, value)
