"""``docker stack deploy|ls|services|ps|rm``: the docker CLI's flags and its own
refusals, each command a :class:`Script` (its conversation with the manager is
in :mod:`cli.commands.stack_run`).

A stack is no object of the swarm's: it is the label
``com.docker.stack.namespace=<stack>`` on the services, networks, secrets and
configs its deploys made, as in Docker. ``deploy`` reads and converts its
compose files before anything is sent, so a bad file is refused in Docker's
words with nothing made."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

from cli.commands import stack_run
from cli.commands.common import Script, listing_flags
from cli.commands.flags import CommandParser, UsageError, go_value
from cli.compose import ComposeError
from cli.compose.convert import convert
from cli.compose.load import load
from cli.output.template import check

ReadFile = Callable[[str], str]
RESOLVE_IMAGE = ("always", "changed", "never")
#: docker 26 on, to stderr, when ``--detach`` is left to its default.
DETACH_NOTICE = (
    "Since --detach=false was not specified, tasks will be created in the background.\n"
    "In a future release, --detach=false will become the default."
)


def parse(
    verb: str, rest: list[str], read_file: ReadFile, environ: Mapping[str, str]
) -> list[Script]:
    if verb in ("deploy", "up"):
        return [deploy(rest, read_file, environ)]
    if verb in ("ls", "list"):
        return [listing(rest)]
    if verb == "services":
        return [services(rest)]
    if verb == "ps":
        return [tasks(rest)]
    if verb in ("rm", "remove", "down"):
        return [remove(rest)]
    raise UsageError(f'unknown command "{verb}" for "docker stack"')


def check_name(name: str) -> str:
    """docker/cli's ``validateStackName``: not empty once quotes and blanks go."""
    if not name.strip(" \t\r\n\v\f\"'"):
        raise UsageError(f'invalid stack name: "{_go_escape(name)}"')
    return name


def _go_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")


def _files(text: str) -> list[str]:
    """pflag's string slice: one value may name several files, comma separated."""
    return [f.strip() for f in text.split(",")]


FILES = go_value(_files, lambda t: f'parse error on line 1: "{t}"')


def deploy(argv: Sequence[str], read_file: ReadFile, environ: Mapping[str, str]) -> Script:
    """``docker stack deploy -c FILE [-c FILE...] [--prune] [--resolve-image
    always|changed|never] [--with-registry-auth] [-d] [-q] STACK``."""
    parser = CommandParser("stack deploy", least=1, most=1)
    parser.add_argument("-c", "--compose-file", action="append", default=[], type=FILES)
    parser.add_argument("--prune", action="store_true")
    parser.add_argument("--resolve-image", default="always")
    parser.add_argument(
        "--with-registry-auth", action="store_true"
    )  # shoal pulls no private images
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("--orchestrator", default="")  # deprecated by Docker, ignored
    detach, argv = _detach(argv, parser)
    flags, (name,) = parser.parse(argv)
    check_name(name)
    files = [f for group in flags.compose_file for f in group]
    try:
        loaded = load(files, read_file, environ, _cwd(environ))
        stack = convert(name, loaded, read_file)
    except ComposeError as error:
        raise UsageError(error.message) from None
    if flags.resolve_image not in RESOLVE_IMAGE:
        raise UsageError(f"Invalid option {flags.resolve_image} for flag --resolve-image")
    notes = [*loaded.warnings]
    if detach is None:
        notes.append(DETACH_NOTICE)
    plan = stack_run.Deploy(
        namespace=name,
        stack=stack,
        prune=flags.prune,
        resolve_image=flags.resolve_image,
        detach=detach is not False,
        notes=tuple(n.rstrip("\n") + ("\n" if n.endswith("\n") else "") for n in notes),
    )
    return Script("stack deploy", plan.run)


def _cwd(environ: Mapping[str, str]) -> str:
    """Where relative compose paths start: the process's own directory when it reads
    its own environment (docker/cli's ``filepath.Abs``), else the given ``PWD``, else
    ``/`` (a scenario has no directory, and what it deploys must not depend on
    where it ran)."""
    if environ is os.environ:
        return os.getcwd()
    return environ.get("PWD") or "/"


def _detach(argv: Sequence[str], parser: CommandParser) -> tuple[bool | None, list[str]]:
    """``-d``/``--detach[=BOOL]`` (the last one given; None: not given, which a
    plain boolean flag cannot tell from ``--detach=false``), and the other words."""
    given: bool | None = None
    rest = []
    for word in argv:
        name, sep, value = word.partition("=")
        if name not in ("-d", "--detach"):
            rest.append(word)
            continue
        lowered = value.lower() if sep else "true"
        if lowered not in ("1", "t", "true", "0", "f", "false"):
            raise UsageError(
                f'invalid argument "{value}" for "-d, --detach" flag: strconv.ParseBool: '
                f'parsing "{value}": invalid syntax',
                parser.command,
            )
        given = lowered in ("1", "t", "true")
    return given, rest


def listing(argv: Sequence[str]) -> Script:
    """``docker stack ls [--format TEMPLATE]``."""
    parser = CommandParser("stack ls", least=0, most=0)
    parser.add_argument("--format")
    parser.add_argument("--orchestrator", default="")
    flags, _ = parser.parse(argv)
    check(flags.format, listing=True)
    return Script("stack ls", stack_run.Listing(flags.format).run)


def services(argv: Sequence[str]) -> Script:
    """``docker stack services [-q] [--format T] [-f K=V] STACK``."""
    view, (name,) = listing_flags("stack services", ("id", "label", "mode", "name"), argv, 1, 1)
    return Script("stack services", stack_run.OfStack(check_name(name), view, tasks=False).run)


def tasks(argv: Sequence[str]) -> Script:
    """``docker stack ps [--no-trunc] [--no-resolve] [-q] [--format T] [-f K=V] STACK``."""
    rest = [w for w in argv if w != "--no-resolve"]  # shoal always shows names
    view, (name,) = listing_flags("stack ps", stack_run.TASK_FILTERS, rest, 1, 1)
    return Script("stack ps", stack_run.OfStack(check_name(name), view, tasks=True).run)


def remove(argv: Sequence[str]) -> Script:
    """``docker stack rm STACK [STACK...]``."""
    parser = CommandParser("stack rm", least=1)
    _, argv = _detach(argv, parser)  # shoal's rm returns at once, as with the default
    _, names = parser.parse(argv)
    return Script("stack rm", stack_run.Removal(tuple(check_name(n) for n in names)).run)
