"""Go templates for ``--format``, as the docker CLI runs them (``text/template`` with
the CLI's functions), small enough to read in one sitting.

Supported: text and ``{{ }}`` actions with ``{{-``/``-}}`` trimming and ``{{/* */}}``
comments; ``.``, ``.Field.Path``, ``$``, ``$var`` (``{{$x := ...}}``); string,
number and boolean literals; ``(pipelines)``; ``a | f b``; ``if``/``else if``/
``else``/``end``, ``range`` (``$i, $e :=``, ``else``), ``with``; the CLI's ``json``,
``split``, ``join``, ``title``, ``lower``, ``upper``, ``pad``, ``truncate`` and Go's
``index``, ``len``, ``printf``, ``print``, ``println``, ``eq``, ``ne``, ``lt``, ``le``,
``gt``, ``ge``, ``and``, ``or``, ``not``.

Data is what Docker's template sees: an inspected object as its JSON (a missing key
prints ``<no value>``, as Go's maps do), a listing row as a :class:`Fields` (an
unknown field is an error, as on the CLI's row types). A template Go would refuse
raises :class:`TemplateError` in Go's words (``template: :1: function "foo" not
defined``), never another exception.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cli.commands.flags import UsageError
from cli.output.tables import tabwrite


class TemplateError(UsageError):
    """A template Go would refuse to parse or to run, with Go's message."""


class _Missing:
    """Go's ``<no value>``: a key a map does not have."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()


class Fields(dict[str, Any]):
    """A listing row (docker/cli's ``serviceContext``, ``taskContext``...): its
    fields, and the Go type named when a template asks for another."""

    def __init__(self, kind: str, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self.kind = kind


# -- syntax ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Where:
    line: int
    column: int
    text: str  # the operand or command, as written (Go's ``at <...>``)


@dataclass(frozen=True)
class _Literal:
    value: Any
    where: _Where


@dataclass(frozen=True)
class _Field:
    """``.A.B`` (on dot), ``$x.A`` (on a variable), ``(pipe).A``."""

    base: Any  # None: dot; str: a variable; _Pipeline: a parenthesised pipeline
    path: tuple[str, ...]
    where: _Where


@dataclass(frozen=True)
class _Function:
    name: str
    where: _Where


_Operand = _Literal | _Field | _Function


@dataclass(frozen=True)
class _Command:
    words: tuple[_Operand, ...]
    where: _Where


@dataclass(frozen=True)
class _Pipeline:
    declare: tuple[str, ...]
    commands: tuple[_Command, ...]
    where: _Where


@dataclass
class _Text:
    text: str


@dataclass
class _Action:
    pipeline: _Pipeline


@dataclass
class _Block:
    """``if``, ``range`` or ``with``: ``branches`` (for ``if``: each ``else if``),
    then ``otherwise`` (``else``)."""

    kind: str
    branches: list[tuple[_Pipeline, list[_Node]]]
    otherwise: list[_Node] | None = None


_Node = _Text | _Action | _Block

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:\\.|[^"\\])*")
  | (?P<raw>`[^`]*`)
  | (?P<declare>:=)
  | (?P<assign>=)
  | (?P<pipe>\|)
  | (?P<open>\()
  | (?P<close>\))
  | (?P<comma>,)
  | (?P<number>[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
  | (?P<variable>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"if", "else", "end", "range", "with"}
MAX_DEPTH = 100


def _fail(line: int, message: str) -> TemplateError:
    return TemplateError(f"template: :{line}: {message}")


def _split(text: str) -> Iterator[tuple[str, str, int, int]]:
    """The template's pieces: ("text", text, line, col) and ("action", inside, line,
    col), trimmed as ``{{-`` and ``-}}`` ask."""
    position = 0
    trim_next = False
    while True:
        start = text.find("{{", position)
        chunk = text[position:] if start < 0 else text[position:start]
        if trim_next:
            chunk = chunk.lstrip(" \t\r\n")
        if start < 0:
            if chunk:
                yield ("text", chunk, 0, 0)
            return
        inner_start = start + 2
        after_dash = text[inner_start + 1 : inner_start + 2]
        trim_before = text.startswith("-", inner_start) and after_dash in (" ", "\t", "\r", "\n")
        if trim_before:
            chunk = chunk.rstrip(" \t\r\n")
            inner_start += 1
        if chunk:
            yield ("text", chunk, 0, 0)
        line = text.count("\n", 0, start) + 1
        end = _action_end(text, inner_start, line)
        inner = text[inner_start:end]
        trim_next = bool(re.search(r"\s-$", inner))
        if trim_next:
            inner = inner[:-1]
        column = start - (text.rfind("\n", 0, start) + 1)
        yield ("action", inner, line, column + (inner_start - start))
        position = end + 2


def _action_end(text: str, start: int, line: int) -> int:
    """Where the action opened before ``start`` closes (``}}`` outside strings)."""
    index = start
    while index < len(text):
        char = text[index]
        if text.startswith("}}", index):
            return index
        if char in '"`':
            close = _string_end(text, index)
            if close < 0:
                raise _fail(line, "unterminated quoted string")
            index = close + 1
            continue
        if text.startswith("/*", index):
            close = text.find("*/", index + 2)
            if close < 0:
                raise _fail(line, "unclosed comment")
            index = close + 2
            continue
        index += 1
    if "}" in text[start:]:
        raise _fail(line, 'unexpected "}" in operand')
    raise _fail(line, "unclosed action")


def _string_end(text: str, start: int) -> int:
    quote = text[start]
    index = start + 1
    while index < len(text):
        if text[index] == "\\" and quote == '"':
            index += 2
            continue
        if text[index] == "\n" and quote == '"':
            return -1
        if text[index] == quote:
            return index
        index += 1
    return -1


@dataclass
class _Tokens:
    items: list[tuple[str, str, int]]  # kind, text, column
    line: int
    index: int = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.items[self.index] if self.index < len(self.items) else None

    def take(self) -> tuple[str, str, int]:
        token = self.items[self.index]
        self.index += 1
        return token


def _tokens(inner: str, line: int, column: int) -> _Tokens:
    items: list[tuple[str, str, int]] = []
    position = 0
    while position < len(inner):
        match = _TOKEN.match(inner, position)
        if match is None:
            raise _fail(line, f"unexpected {json.dumps(inner[position])} in operand")
        kind = match.lastgroup or ""
        if kind != "space":
            items.append((kind, match.group(), column + position))
        position = match.end()
    return _Tokens(items, line)


class _Parser:
    def __init__(self, text: str, functions: Mapping[str, Callable[..., Any]]) -> None:
        self.functions = functions
        self.pieces = list(_split(text))
        self.index = 0
        self.last_line = text.count("\n") + 1
        self.depth = 0

    def parse(self) -> list[_Node]:
        nodes, ending = self._list(set())
        if ending is not None:
            raise _fail(ending[1], f"unexpected {{{{{ending[0]}}}}}")
        return nodes

    def _nested(self, line: int) -> None:
        """Python's stack is shallower than Go's: a bound on blocks and parentheses."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _fail(line, f"exceeded maximum template depth ({MAX_DEPTH})")

    def _list(self, stops: set[str]) -> tuple[list[_Node], tuple[str, int, _Tokens] | None]:
        """Nodes up to an ``{{end}}`` or ``{{else}}`` (returned, with its tokens)."""
        nodes: list[_Node] = []
        while self.index < len(self.pieces):
            kind, text, line, column = self.pieces[self.index]
            self.index += 1
            if kind == "text":
                nodes.append(_Text(text))
                continue
            if text.strip().startswith("/*"):
                if not text.strip().endswith("*/"):
                    raise _fail(line, "comment ends before closing delimiter")
                continue
            tokens = _tokens(text, line, column)
            first = tokens.peek()
            if first is not None and first[0] == "word" and first[1] in ("end", "else"):
                tokens.take()
                if first[1] not in stops:
                    raise _fail(line, f"unexpected {{{{{first[1]}}}}}")
                return nodes, (first[1], line, tokens)
            if first is not None and first[0] == "word" and first[1] in ("if", "range", "with"):
                tokens.take()
                self._nested(line)
                nodes.append(self._block(first[1], tokens))
                self.depth -= 1
                continue
            nodes.append(_Action(self._whole(tokens, "command")))
        if stops:
            raise _fail(self.last_line, "unexpected EOF")
        return nodes, None

    def _block(self, kind: str, tokens: _Tokens) -> _Block:
        block = _Block(kind, [])
        while True:
            condition = self._whole(tokens, kind)
            body, (ending, line, rest) = self._closing()
            block.branches.append((condition, body))
            if ending == "end":
                return block
            following = rest.peek()
            if kind == "if" and following is not None and following[:2] == ("word", "if"):
                rest.take()
                tokens = rest
                continue
            if following is not None:
                raise _fail(line, f"unexpected {following[1]!r} in else")
            otherwise, (ending, line, _) = self._closing()
            if ending != "end":
                raise _fail(line, "expected end; found {{else}}")
            block.otherwise = otherwise
            return block

    def _closing(self) -> tuple[list[_Node], tuple[str, int, _Tokens]]:
        nodes, ending = self._list({"end", "else"})
        assert ending is not None
        return nodes, ending

    def _whole(self, tokens: _Tokens, context: str) -> _Pipeline:
        """A pipeline that is all of its action (a stray ``)`` is refused)."""
        pipeline = self._pipeline(tokens, context)
        left = tokens.peek()
        if left is not None:
            raise _fail(tokens.line, f"unexpected {json.dumps(left[1])} in {context}")
        if len(pipeline.declare) > (2 if context == "range" else 1):
            raise _fail(tokens.line, f"too many declarations in {context}")
        return pipeline

    def _pipeline(self, tokens: _Tokens, context: str) -> _Pipeline:
        line = tokens.line
        declare: list[str] = []
        saved = tokens.index
        while (token := tokens.peek()) is not None and token[0] == "variable":
            tokens.take()
            declare.append(token[1])
            after = tokens.peek()
            if after is not None and after[0] == "comma":
                tokens.take()
                continue
            if after is not None and after[0] == "declare":
                tokens.take()
                break
            declare, tokens.index = [], saved
            break
        commands: list[_Command] = []
        start = tokens.peek()
        while True:
            words = self._words(tokens)
            if not words:
                raise _fail(line, f"missing value for {context}")
            first = words[0]
            commands.append(_Command(tuple(words), first.where))
            token = tokens.peek()
            if token is None or token[0] == "close":
                break
            if token[0] != "pipe":
                raise _fail(line, f"unexpected {json.dumps(token[1])} in {context}")
            tokens.take()
        column = start[2] if start else 0
        return _Pipeline(tuple(declare), tuple(commands), _Where(line, column, ""))

    def _words(self, tokens: _Tokens) -> list[_Operand]:
        words: list[_Operand] = []
        while (token := tokens.peek()) is not None and token[0] not in ("pipe", "close"):
            words.append(self._operand(tokens))
        return words

    def _operand(self, tokens: _Tokens) -> _Operand:
        kind, text, column = tokens.take()
        where = _Where(tokens.line, column, text)
        if kind == "field":
            return _Field(None, tuple(p for p in text.split(".") if p), where)
        if kind == "variable":
            name, *chain = text.split(".")
            return _Field(name, tuple(chain), where)
        if kind == "string":
            return _Literal(json.loads(text), where)
        if kind == "raw":
            return _Literal(text[1:-1], where)
        if kind == "number":
            number = float(text)
            return _Literal(
                int(number) if number.is_integer() and "." not in text else number, where
            )
        if kind == "word":
            if text in ("true", "false"):
                return _Literal(text == "true", where)
            if text == "nil":
                return _Literal(None, where)
            if text in _KEYWORDS or text not in self.functions:
                raise _fail(tokens.line, f'function "{text}" not defined')
            return _Function(text, where)
        if kind == "open":
            self._nested(tokens.line)
            inner = self._pipeline(tokens, "parenthesized pipeline")
            self.depth -= 1
            closing = tokens.peek()
            if closing is None or closing[0] != "close":
                raise _fail(tokens.line, "unclosed left paren")
            tokens.take()
            after = tokens.peek()
            path: tuple[str, ...] = ()
            if (
                after is not None
                and after[0] == "field"
                and after[2] == tokens.items[tokens.index - 1][2] + 1
            ):
                tokens.take()
                path = tuple(p for p in after[1].split(".") if p)
            return _Field(inner, path, _Where(tokens.line, column, "(...)"))
        raise _fail(tokens.line, f"unexpected {json.dumps(text)} in operand")


# -- values as Go prints them ---------------------------------------------------------------


def go_string(value: Any) -> str:
    """``fmt.Sprint`` of a value decoded from JSON."""
    if value is MISSING:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{go_string(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_string(v) for v in value) + "]"
    return str(value)


def _go_float(value: float) -> str:
    """Go's ``%v`` of a float64: the shortest digits, an exponent past 1e21."""
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa}e{int(exponent):+03d}"
    return text


def _truthy(value: Any) -> bool:
    if value is MISSING or value is None:
        return False
    if isinstance(value, (bool, int, float, str, list, tuple, dict)):
        return bool(value)
    return True


# -- functions ------------------------------------------------------------------------------


def _json(value: Any) -> str:
    return json.dumps(
        None if value is MISSING else value, ensure_ascii=False, separators=(",", ":")
    )


def _title(text: str) -> str:
    """Go's ``strings.Title``: each letter after a separator upper-cased."""
    out, previous = [], " "
    for char in text:
        separator = not (previous.isalnum() or previous == "_")
        out.append(char.upper() if separator else char)
        previous = char
    return "".join(out)


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(item, Mapping):
            item = item.get(key, MISSING)
        elif isinstance(item, (list, tuple, str)) and isinstance(key, int):
            if not 0 <= key < len(item):
                raise ValueError(f"error calling index: index out of range: {key}")
            item = item[key]
        else:
            raise ValueError(
                f"error calling index: cannot index slice/array with type {_go_type(key)}"
            )
    return item


def _join(items: Any, separator: str) -> str:
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"wrong type for value; expected []string; got {_go_type(items)}")
    return separator.join(go_string(i) for i in items)


def _printf(pattern: str, *values: Any) -> str:
    """Go's ``fmt.Sprintf`` for the verbs scripts use: ``%s %v %d %q %t %x %%``
    with flags and widths."""
    remaining = list(values)

    def verb(match: re.Match[str]) -> str:
        flags, width, letter = match.group(1), match.group(2), match.group(3)
        if letter == "%":
            return "%"
        if not remaining:
            return f"%!{letter}(MISSING)"
        value = remaining.pop(0)
        if letter == "d" and isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
        elif letter == "q":
            text = json.dumps(go_string(value), ensure_ascii=False)
        elif letter == "x" and isinstance(value, int):
            text = format(value, "x")
        elif letter in "svtdx":
            text = go_string(value)
        else:
            text = f"%!{letter}({go_string(value)})"
        if width:
            size = int(width)
            text = text.ljust(size) if "-" in flags else text.rjust(size)
        return text

    return re.sub(r"%([-+# 0]*)(\d*)([a-zA-Z%])", verb, pattern)


def _compare(test: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def compare(first: Any, *others: Any) -> bool:
        if not others:
            raise ValueError("missing argument for comparison")
        return (
            any(test(first, other) for other in others)
            if test is _equal
            else all(test(first, other) for other in others)
        )

    return compare


def _equal(a: Any, b: Any) -> bool:
    return bool(a == b)


def _ordered(test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def check(a: Any, b: Any) -> bool:
        if type(a) is not type(b) and not (
            isinstance(a, (int, float)) and isinstance(b, (int, float))
        ):
            raise ValueError("error calling comparison: incompatible types for comparison")
        return test(a, b)

    return check


def _length(item: Any) -> int:
    if isinstance(item, (list, tuple, str, Mapping)):
        return len(item)
    raise ValueError(f"error calling len: len of type {_go_type(item)}")


def _go_type(value: Any) -> str:
    if value is None or value is MISSING:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Fields):
        return value.kind
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    return "[]interface {}"


FUNCTIONS: dict[str, Callable[..., Any]] = {
    # the docker CLI's (templates.basicFunctions)
    "json": _json,
    "split": lambda text, separator: text.split(separator) if separator else list(text),
    "join": _join,
    "title": lambda text: _title(go_string(text)),
    "lower": lambda text: go_string(text).lower(),
    "upper": lambda text: go_string(text).upper(),
    "pad": lambda text, before, after: f"{' ' * before}{text}{' ' * after}" if text else text,
    "truncate": lambda text, length: text if len(text) < length else text[:length],
    # Go's own
    "index": _index,
    "len": _length,
    "printf": _printf,
    "print": lambda *values: "".join(go_string(v) for v in values),
    "println": lambda *values: " ".join(go_string(v) for v in values) + "\n",
    "eq": _compare(_equal),
    "ne": lambda a, b: a != b,
    "lt": _compare(_ordered(lambda a, b: a < b)),
    "le": _compare(_ordered(lambda a, b: a <= b)),
    "gt": _compare(_ordered(lambda a, b: a > b)),
    "ge": _compare(_ordered(lambda a, b: a >= b)),
    "not": lambda value: not _truthy(value),
    "and": lambda *values: next(
        (v for v in values if not _truthy(v)), values[-1] if values else None
    ),
    "or": lambda *values: next((v for v in values if _truthy(v)), values[-1] if values else None),
}

#: What a table's header row is drawn with: the column names left as they are.
HEADER_FUNCTIONS: dict[str, Callable[..., Any]] = {
    **FUNCTIONS,
    **{
        name: (lambda value, *_: value)
        for name in ("json", "split", "join", "title", "lower", "upper", "truncate")
    },
}

_ARITY = {
    "json": (1, 1), "split": (2, 2), "join": (2, 2), "title": (1, 1), "lower": (1, 1),
    "upper": (1, 1), "pad": (3, 3), "truncate": (2, 2), "index": (1, None), "len": (1, 1),
    "printf": (1, None), "print": (0, None), "println": (0, None), "eq": (1, None),
    "ne": (2, 2), "lt": (2, 2), "le": (2, 2), "gt": (2, 2), "ge": (2, 2), "not": (1, 1),
    "and": (1, None), "or": (1, None),
}  # fmt: skip


# -- running ---------------------------------------------------------------------------------


@dataclass
class _State:
    functions: Mapping[str, Callable[..., Any]]
    scopes: list[dict[str, Any]] = field(default_factory=list)
    out: list[str] = field(default_factory=list)

    def variable(self, name: str, where: _Where) -> Any:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        raise _fail(where.line, f"undefined variable: {name}")


def _executing(where: _Where, message: str) -> TemplateError:
    return TemplateError(
        f'template: :{where.line}:{where.column}: executing "" at <{where.text}>: {message}'
    )


class Template:
    """A parsed template: :meth:`render` runs it on one value."""

    def __init__(self, text: str, functions: Mapping[str, Callable[..., Any]] = FUNCTIONS) -> None:
        self.text = text
        self.functions = functions
        self.nodes = _Parser(text, functions).parse()

    def render(self, data: Any) -> str:
        state = _State(self.functions, [{"$": data}])
        self._run(self.nodes, data, state)
        return "".join(state.out)

    def _run(self, nodes: Sequence[_Node], dot: Any, state: _State) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                state.out.append(node.text)
            elif isinstance(node, _Action):
                value = self._pipeline(node.pipeline, dot, state)
                if not node.pipeline.declare:
                    state.out.append(go_string(value))
            else:
                self._block(node, dot, state)

    def _block(self, block: _Block, dot: Any, state: _State) -> None:
        state.scopes.append({})
        try:
            if block.kind == "range":
                (pipeline, body), *_ = block.branches
                self._range(pipeline, body, block.otherwise, dot, state)
                return
            for pipeline, body in block.branches:
                value = self._pipeline(pipeline, dot, state)
                if _truthy(value):
                    self._run(body, value if block.kind == "with" else dot, state)
                    return
            if block.otherwise is not None:
                self._run(block.otherwise, dot, state)
        finally:
            state.scopes.pop()

    def _range(
        self,
        pipeline: _Pipeline,
        body: list[_Node],
        otherwise: list[_Node] | None,
        dot: Any,
        state: _State,
    ) -> None:
        value = self._pipeline(replace_declare(pipeline), dot, state)
        if isinstance(value, Mapping):
            items: list[tuple[Any, Any]] = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, (list, tuple)):
            items = list(enumerate(value))
        elif value is None or value is MISSING:
            items = []
        else:
            raise _executing(
                pipeline.commands[0].where, f"range can't iterate over {go_string(value)}"
            )
        if not items and otherwise is not None:
            self._run(otherwise, dot, state)
        for key, item in items:
            names = pipeline.declare
            if len(names) == 1:
                state.scopes[-1][names[0]] = item
            elif len(names) == 2:
                state.scopes[-1][names[0]] = key
                state.scopes[-1][names[1]] = item
            self._run(body, item, state)

    def _pipeline(self, pipeline: _Pipeline, dot: Any, state: _State) -> Any:
        value: Any = MISSING
        piped = False
        for command in pipeline.commands:
            value = self._command(command, dot, state, (value,) if piped else ())
            piped = True
        if pipeline.declare:
            state.scopes[-1][pipeline.declare[0]] = value
        return value

    def _command(self, command: _Command, dot: Any, state: _State, piped: tuple[Any, ...]) -> Any:
        first, *rest = command.words
        if isinstance(first, _Function):
            arguments = [self._operand(w, dot, state) for w in rest] + list(piped)
            return self._call(first, arguments)
        if rest or piped:
            raise _executing(first.where, f"can't give argument to non-function {first.where.text}")
        return self._operand(first, dot, state)

    def _call(self, function: _Function, arguments: list[Any]) -> Any:
        least, most = _ARITY.get(function.name, (0, None))
        count = len(arguments)
        if count < least or (most is not None and count > most):
            want = least if most == least else f"at least {least}"
            raise _executing(
                function.where, f"wrong number of args for {function.name}: want {want} got {count}"
            )
        try:
            return self.functions[function.name](*arguments)
        except ValueError as error:
            raise _executing(function.where, str(error)) from None
        except (TypeError, AttributeError, KeyError, IndexError, ArithmeticError):
            types = ", ".join(_go_type(a) for a in arguments)
            raise _executing(
                function.where, f"error calling {function.name}: wrong argument types ({types})"
            ) from None

    def _operand(self, operand: _Operand, dot: Any, state: _State) -> Any:
        if isinstance(operand, _Literal):
            return operand.value
        if isinstance(operand, _Function):
            return self._call(operand, [])
        if operand.base is None:
            value = dot
        elif isinstance(operand.base, str):
            value = state.variable(operand.base, operand.where)
        else:
            value = self._pipeline(operand.base, dot, state)
        for name in operand.path:
            value = _field(value, name, operand.where)
        return value


def replace_declare(pipeline: _Pipeline) -> _Pipeline:
    """A range's pipeline runs without its ``$i, $e :=`` (those are set per item)."""
    return _Pipeline((), pipeline.commands, pipeline.where)


def _field(value: Any, name: str, where: _Where) -> Any:
    if isinstance(value, Fields):
        if name not in value:
            raise _executing(where, f"can't evaluate field {name} in type {value.kind}")
        return value[name]
    if isinstance(value, Mapping):
        return value.get(name, MISSING)
    if value is None or value is MISSING:
        raise _executing(where, f"nil pointer evaluating interface {{}}.{name}")
    raise _executing(where, f"can't evaluate field {name} in type {_go_type(value)}")


# -- what the commands use --------------------------------------------------------------------


def parse(text: str) -> Template:
    """``text`` as the docker CLI's ``templates.Parse`` reads it, or Docker's
    ``template parsing error``."""
    try:
        return Template(text)
    except TemplateError as error:
        raise TemplateError(f"template parsing error: {error.message}") from None


def listing_format(fmt: str) -> tuple[bool, str]:
    """docker/cli's ``preFormat``: whether ``fmt`` is a table, and the template it
    stands for (``table`` dropped, ``json`` as ``{{json .}}``, ``\\t`` and ``\\n``
    written out)."""
    is_table = fmt.startswith("table")
    body = fmt[len("table") :] if is_table else "{{json .}}" if fmt == "json" else fmt
    body = body.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    return is_table, body


def check(fmt: str | None, *, listing: bool) -> None:
    """Refuse a template that does not parse, before anything is asked of a manager."""
    if not fmt or (not listing and fmt == "json"):
        return
    parse(listing_format(fmt)[1] if listing else fmt)


def render_listing(fmt: str, rows: Sequence[Fields], header: Fields) -> str:
    """Rows through ``fmt``: one line each; a ``table`` format also draws the header
    (each field as its column's name) and aligns the columns as Go's tabwriter."""
    is_table, body = listing_format(fmt)
    template = parse(body)
    lines = [_run(template, row) for row in rows]
    if not is_table:
        return "\n".join(lines)
    heading = Template(body, HEADER_FUNCTIONS)
    return tabwrite([_run(heading, header), *lines])


def render_each(fmt: str, objects: Sequence[Any]) -> str:
    """``inspect --format``: the template once per object, a line each."""
    template = parse(fmt)
    return "\n".join(_run(template, o) for o in objects)


def _run(template: Template, data: Any) -> str:
    try:
        return template.render(data)
    except TemplateError as error:
        raise TemplateError(f"template parsing error: {error.message}") from None
