"""What every command turns into, and the flags several commands share."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cli.commands.flags import CommandParser, UsageError
from cli.output.template import check
from core.manager.requests import ClientReply
from core.model.service import ServiceSpec

#: How a command reaches a manager: a method and its params, the manager's reply.
Send = Callable[[str, dict[str, Any]], ClientReply]


@dataclass(frozen=True)
class Found:
    """What the docker CLI looked a command's names up as, before it sent it: each
    network (``resolveNetworkID``: a NetworkInspect each), by the name or ID given,
    to its ID; each secret and config (``ParseSecrets``/``ParseConfigs``: one list
    of the kind), by name, to its ID."""

    networks: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    configs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """One request for a manager (``params`` as the API takes them); ``show`` names
    how the answer is printed, ``view`` holds the printing's own options (filters,
    ``--format``, ``--quiet``).

    ``networks``, ``secrets`` and ``configs`` are names the docker CLI looks up
    before it sends anything (``service create --network``, ``--secret``);
    ``resolved`` then gives the params to send, with what was found."""

    method: str
    params: dict[str, Any] = field(default_factory=dict)
    show: str = "none"
    view: dict[str, Any] = field(default_factory=dict)
    networks: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    configs: tuple[str, ...] = ()
    resolved: Callable[[Found], dict[str, Any]] | None = None
    # the docker CLI's own checks: ``before`` (a method and what of its answer refuses
    # the command before it is sent) and ``refuse`` (what of the answer fails it)
    before: tuple[str, Callable[[Any], str | None]] | None = None
    refuse: Callable[[Any], str | None] | None = None
    error_prefix: str = ""  # the docker CLI's wrapping of the daemon's refusal


@dataclass(frozen=True)
class Change:
    """``docker service update``: ``edit`` applied to the current spec, with the
    ``networks``, ``secrets`` and ``configs`` it names looked up (after the service
    is read, as the docker CLI does)."""

    service: str
    edit: Callable[[ServiceSpec, Found], ServiceSpec]
    networks: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    configs: tuple[str, ...] = ()
    force: bool = False
    rollback: bool = False
    detach: bool = False
    quiet: bool = False
    said: str = ""  # what the CLI prints once it is done (the service's name by default)


@dataclass(frozen=True)
class Printed:
    """What a :class:`Script` printed, in order: ``(stream, text)`` lines, the
    stream ``out`` or ``err``; whether it succeeded (the CLI's exit status 0); the
    services the CLI then waits for (``stack deploy --detach=false``)."""

    lines: tuple[tuple[str, str], ...] = ()
    ok: bool = True
    wait: tuple[str, ...] = ()

    def text(self, stream: str) -> str:
        return "\n".join(text for where, text in self.lines if where == stream)

    @property
    def error(self) -> str:
        """The last thing said on ``err`` (a failure's reason)."""
        said = [text for where, text in self.lines if where == "err"]
        return said[-1] if said else ""


@dataclass(frozen=True)
class Script:
    """A command the docker CLI carries out as a conversation of its own
    (``stack deploy``: look up, create, update, each answer deciding the next):
    ``run(send, now)`` has it with a manager (``now``: the front end's wall clock,
    for ages) and says what it printed."""

    name: str
    run: Callable[[Send, float], Printed]


def inspecting(kind: str, method: str, argv: Sequence[str]) -> list[Call]:
    """``docker service|node inspect [--pretty] [-f FORMAT] NAME [NAME...]``."""
    parser = CommandParser(f"{kind} inspect", least=1)
    parser.add_argument("--pretty", action="store_true")
    parser.add_argument("-f", "--format")
    flags, names = parser.parse(argv)
    check(flags.format, listing=False)
    show = f"{kind} inspect --pretty" if flags.pretty else f"{kind} inspect"
    view = {"format": flags.format}
    return [Call(method, {kind: name}, show=show, view=view) for name in names]


def filter_of(text: str, allowed: tuple[str, ...], parser: CommandParser) -> tuple[str, str]:
    """``--filter key=value``, for one of the ``allowed`` keys."""
    key, sep, value = text.partition("=")
    if not sep:
        raise UsageError("bad format of filter (expected name=value)", parser.command)
    if key not in allowed:
        raise UsageError(f"invalid filter '{key}'")
    return key, value


def listing_flags(
    command: str,
    filters: tuple[str, ...],
    argv: Sequence[str],
    least: int = 0,
    most: int | None = 0,
) -> tuple[dict[str, Any], list[str]]:
    """The flags of every listing (``-f/--filter k=v``, ``--format``, ``-q``): the
    printing's options, and the command's arguments."""
    parser = CommandParser(command, least=least, most=most)
    parser.add_argument("-f", "--filter", action="append", default=[])
    parser.add_argument("--format")
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("--no-trunc", action="store_true")
    flags, arguments = parser.parse(argv)
    check(flags.format, listing=True)
    chosen = [filter_of(f, filters, parser) for f in flags.filter]
    view = {
        "filters": chosen,
        "format": flags.format,
        "quiet": flags.quiet,
        "no_trunc": flags.no_trunc,
    }
    return view, arguments
