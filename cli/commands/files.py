"""``--secret`` and ``--config`` on ``service create``, and their ``-add``/``-rm``
forms on ``service update``: the docker CLI's ``SecretOpt``/``ConfigOpt`` parsing
and its ``ParseSecrets``/``ParseConfigs`` lookups, in its words.

A value is one CSV record: a bare name (the source, and the target too), or
``source=|src=, target=, uid=, gid=, mode=`` (keys in any case; ``mode`` in Go's
base-0 syntax, so ``0400`` is octal and ``400`` decimal). The CLI sends references
by ID: the names are looked up first (one list of the kind), and a name not found,
or two references with one target, is refused before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cli.commands.flags import UsageError, go_value
from core.model import replace
from core.model.service import (
    ConfigReference,
    ContainerSpec,
    FileTarget,
    SecretReference,
    ServiceSpec,
)


@dataclass(frozen=True)
class FileRef:
    """One ``--secret``/``--config`` value, its source still a name."""

    kind: str  # "secret" or "config"
    source: str
    target: str
    uid: str = "0"
    gid: str = "0"
    mode: int = 0o444


_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _underscores_ok(text: str) -> bool:
    """Go's ``underscoreOK``: an underscore only between digits, or between a base
    prefix and a digit."""
    saw, i = "^", 0
    hexadecimal = False
    if len(text) >= 2 and text[0] == "0" and text[1].lower() in "box":
        i, saw, hexadecimal = 2, "0", text[1].lower() == "x"
    for char in text[i:]:
        if char.isdigit() or (hexadecimal and char.lower() in "abcdef"):
            saw = "0"
        elif char == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


def _go_uint(text: str) -> int:
    """Go's ``strconv.ParseUint(text, 0, 32)``: ``0x``/``0o``/``0b`` prefixes, a
    leading ``0`` for octal, underscores between digits."""
    syntax = ValueError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    if not text or not text.isascii() or not _underscores_ok(text):
        raise syntax
    digits, base = text.replace("_", ""), 10
    if len(digits) >= 2 and digits[0] == "0" and digits[1].lower() in "box":
        base, digits = {"b": 2, "o": 8, "x": 16}[digits[1].lower()], digits[2:]
    elif len(digits) > 1 and digits[0] == "0":
        base, digits = 8, digits[1:]
    if not digits or any(c.lower() not in _DIGITS[:base] for c in digits):
        raise syntax
    value = int(digits, base)
    if value >= 2**32:
        raise ValueError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return value


def _go_csv_record(text: str) -> list[str]:
    """One record as Go's ``encoding/csv`` reads it (no lazy quotes): a ``"`` inside
    an unquoted field, or one that does not end a quoted field, is refused in its
    words; nothing at all is ``EOF``."""
    if not text:
        raise ValueError("EOF")
    fields: list[str] = []
    i = 0
    while True:
        if i < len(text) and text[i] == '"':
            value, i = [], i + 1
            while True:
                if i >= len(text):
                    column = len(text) + 1
                    raise ValueError(
                        f'parse error on line 1, column {column}: extraneous or missing " in '
                        "quoted-field"
                    )
                if text[i] != '"':
                    value.append(text[i])
                    i += 1
                elif i + 1 < len(text) and text[i + 1] == '"':
                    value.append('"')
                    i += 2
                elif i + 1 == len(text) or text[i + 1] == ",":
                    i += 1
                    break
                else:
                    raise ValueError(
                        f'parse error on line 1, column {i + 1}: extraneous or missing " in '
                        "quoted-field"
                    )
            fields.append("".join(value))
        else:
            end = text.find(",", i)
            end = len(text) if end < 0 else end
            field = text[i:end]
            if '"' in field:
                column = i + field.index('"') + 1
                raise ValueError(
                    f'parse error on line 1, column {column}: bare " in non-quoted-field'
                )
            fields.append(field)
            i = end
        if i >= len(text):
            return fields
        i += 1  # the comma
        if i == len(text):
            fields.append("")
            return fields


def _parser(kind: str) -> Callable[[str], FileRef]:
    def parse(text: str) -> FileRef:
        fields = _go_csv_record(text)
        if len(fields) == 1 and "=" not in fields[0]:
            return FileRef(kind, fields[0], fields[0])
        values = {"source": "", "target": "", "uid": "0", "gid": "0"}
        mode = 0o444
        for field in fields:
            key, sep, value = field.partition("=")
            if not sep or not key:
                raise ValueError(f"invalid field '{field}' must be a key=value pair")
            lowered = key.lower()
            if lowered in ("source", "src"):
                values["source"] = value
            elif lowered in ("target", "uid", "gid"):
                values[lowered] = value
            elif lowered == "mode":
                try:
                    mode = _go_uint(value)
                except ValueError as error:
                    raise ValueError(f"invalid mode specified: {error}") from None
            else:
                raise ValueError(f"invalid field in {kind} request: {key}")
        if not values["source"]:
            raise ValueError("source is required")
        target = values["target"] or values["source"]
        return FileRef(kind, values["source"], target, values["uid"], values["gid"], mode)

    return parse


def _reason(kind: str) -> Callable[[str], str]:
    def reason(text: str) -> str:
        try:
            _parser(kind)(text)
        except ValueError as error:
            return str(error)
        return "invalid value"

    return reason


SECRET = go_value(_parser("secret"), _reason("secret"))
CONFIG = go_value(_parser("config"), _reason("config"))


def check_targets(refs: Sequence[FileRef]) -> None:
    """``ParseSecrets``' own check, among the references given: one target each."""
    seen: set[str] = set()
    for ref in refs:
        if ref.target in seen:
            raise UsageError(f"duplicate {ref.kind} target for {ref.source} not allowed")
        seen.add(ref.target)


def names(refs: Sequence[FileRef]) -> tuple[str, ...]:
    """The sources to look up, each once, in the order given."""
    return tuple(dict.fromkeys(ref.source for ref in refs))


def _reference(ref: FileRef, ids: Mapping[str, str]) -> SecretReference | ConfigReference:
    file = FileTarget(name=ref.target, uid=ref.uid, gid=ref.gid, mode=ref.mode)
    if ref.kind == "secret":
        return SecretReference(secret_id=ids[ref.source], secret_name=ref.source, file=file)
    return ConfigReference(config_id=ids[ref.source], config_name=ref.source, file=file)


def with_files(
    spec: ServiceSpec,
    kind: str,
    added: Sequence[FileRef],
    removed: Sequence[str],
    ids: Mapping[str, str],
) -> ServiceSpec:
    """The spec's references of ``kind`` less those whose source is in ``removed``
    (by name, as the CLI matches them), then ``added`` (a target already taken is
    left for the manager to refuse, as the CLI leaves it)."""
    if not added and not removed:
        return spec
    template = spec.task_template
    container = template.container_spec or ContainerSpec()
    made = [_reference(ref, ids) for ref in added]
    if kind == "secret":
        secrets = [r for r in container.secrets if r.secret_name not in removed]
        secrets += [r for r in made if isinstance(r, SecretReference)]
        container = replace(container, secrets=tuple(secrets))
    else:  # a credential spec's config (a runtime target) is not the flags' to remove
        configs = [
            r for r in container.configs if r.runtime is not None or r.config_name not in removed
        ]
        configs += [r for r in made if isinstance(r, ConfigReference)]
        container = replace(container, configs=tuple(configs))
    return replace(spec, task_template=replace(template, container_spec=container))
