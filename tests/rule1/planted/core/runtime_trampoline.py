"""Planted AST-clean module: calls whatever it is handed, so the runtime layer sees a core
caller that static analysis cannot see (a clock function passed in as an argument)."""

from collections.abc import Callable
from typing import Any


def call(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    return function(*args, **kwargs)
