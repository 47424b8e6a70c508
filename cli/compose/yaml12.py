"""YAML read as the docker CLI's Go YAML library reads it (YAML 1.2's core
schema), not as PyYAML's YAML 1.1 does: ``81:8000`` and ``22:22`` stay strings
(1.1 makes base-60 integers of some), ``yes``/``no``/``on``/``off`` stay
strings, and a key given twice in one mapping is an error."""

from __future__ import annotations

import re
from typing import Any

import yaml

from cli.compose import ComposeError

_MERGE = "tag:yaml.org,2002:merge"
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|0b[01]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)


class _Loader(yaml.SafeLoader):
    """SafeLoader with the core schema's implicit types only."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue  # merged keys may be overridden; only explicit ones may not repeat
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # left for the mapping's own error
            if key in seen:
                raise ComposeError(
                    f"yaml: line {key_node.start_mark.line + 1}: mapping key {_quoted(key)} "
                    f"already defined at line {seen[key]}"
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)

    def construct_go_int(self, node: yaml.ScalarNode) -> int | float:
        """Go's ``strconv.ParseInt(text, 0, 64)``, as the Go library reads an
        integer: a leading ``0`` is octal (``mode: 0440``); a number it cannot
        read so (``09``) is a float."""
        text = str(self.construct_scalar(node))
        sign, digits = (text[0], text[1:]) if text[:1] in "+-" else ("", text)
        bases = {"0o": 8, "0x": 16, "0b": 2}
        if digits[:2] in bases:
            return int(sign + digits[2:], bases[digits[:2]])
        if len(digits) > 1 and digits.startswith("0"):
            try:
                return int(sign + digits[1:], 8)
            except ValueError:
                return float(text)
        return int(text)


def _quoted(key: Any) -> str:
    return f'"{key}"' if isinstance(key, str) else str(key)


_Loader.yaml_implicit_resolvers = {}  # none of YAML 1.1's: only those below
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("tTfF"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""])
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))
_Loader.add_implicit_resolver(_MERGE, re.compile(r"^<<$"), ["<"])
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_go_int)


def parse(text: str) -> Any:
    """The document's value; a syntax error in the Go library's form
    (``yaml: line 3: ...``)."""
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise ComposeError(f"yaml: {line}{error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise ComposeError(f"yaml: {error}") from None
    except (RecursionError, ValueError, OverflowError) as error:
        raise ComposeError(f"yaml: {error}") from None
