"""Reading what clients send as Go reads it: JSON (depth-limited, lone surrogate
escapes replaced) and unsigned integers (ASCII digits within 64 bits)."""

from __future__ import annotations

import json
import re
from typing import Any

from real.engine.errors import bad_request

ASCII_DIGITS = re.compile(r"[0-9]+")
UINT64_MAX = 2**64 - 1
MAX_DEPTH = 256  # JSON nesting a body or filter may have (Go allows 10,000)
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def go_uint(text: str) -> int | None:
    """Go's ``strconv.ParseUint(text, 10, 64)``: ASCII digits only, within 64 bits
    (Python's ``int()`` also takes ``²``, ``١٢``, spaces and underscores)."""
    if not ASCII_DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= UINT64_MAX else None


def load_json(raw: bytes | str, what: str) -> Any:
    """JSON as Go's decoder reads it: too deep is an error, and a lone surrogate
    escape becomes U+FFFD (Python would keep it, and it cannot be written out)."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise bad_request(f"{what}: exceeded max depth") from None
    except ValueError as error:
        raise bad_request(f"{what}: {error}") from None
    if _too_deep(value):
        raise bad_request(f"{what}: exceeded max depth")
    return _scrubbed(value)


def _too_deep(value: Any) -> bool:
    """Nested beyond :data:`MAX_DEPTH` (measured without recursion): nothing Docker
    takes is that deep, and deeper values would exhaust Python's stack later."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    if isinstance(value, dict):
        return {_scrubbed(k): _scrubbed(v) for k, v in value.items()}
    return value


def go_type(value: Any) -> str:
    """The JSON type as Go's ``UnmarshalTypeError`` names it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"
