"""The command language of the shoal CLI, scenario files and the shell: Docker's
``service``, ``node``, ``swarm``, ``network``, ``secret``, ``config`` and ``stack``
commands,
read from one line (``docker`` in front is optional), into the requests they stand
for.

``parse`` returns a list of :class:`~cli.commands.service.Call` (answered as they
are) and :class:`~cli.commands.service.Change` (a service update: the current spec
is read first, as the docker CLI does). A line Docker would refuse raises
:class:`~cli.commands.flags.UsageError` with Docker's message.
"""

from __future__ import annotations

import getpass
import os
import random
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from cli.commands import network, node, objects, service, stack, swarm, swarm_ca
from cli.commands.common import Call, Change, Script
from cli.commands.flags import UsageError
from cli.words import split

Command = Call | Change | Script
GROUPS = ("service", "node", "swarm", "network", "secret", "config", "stack")
ReadFile = Callable[[str], str]


def _read(path: str) -> str:
    """A file's text; ``-`` is standard input."""
    if path == "-":
        return sys.stdin.read()
    return Path(path).read_text(encoding="utf-8")


def _key_reader(read_file: ReadFile) -> Callable[[], str]:
    """``swarm unlock``'s key: typed unseen after ``Enter unlock key:`` on a terminal,
    else the first line of standard input (the docker CLI's ``readKey``)."""

    def read_key() -> str:
        if read_file is _read and sys.stdin.isatty():
            return getpass.getpass("Enter unlock key: ")
        try:
            return read_file("-").partition("\n")[0]
        except OSError:  # no standard input: an empty key, which the daemon refuses
            return ""

    return read_key


def parse(
    line: str | Sequence[str],
    rng: random.Random,
    read_file: ReadFile = _read,
    environ: Mapping[str, str] | None = None,
) -> list[Command]:
    """The requests ``line`` stands for. ``read_file`` reads the files it names
    (``-``: standard input); ``environ`` is what ``stack deploy`` substitutes
    into a compose file (the process's environment unless given)."""
    words = _words(line)
    if words and words[0] == "docker":
        words = words[1:]
    if not words:
        raise UsageError(_usage(""))
    if words[0] not in GROUPS:
        raise UsageError(f"docker: '{words[0]}' is not a docker command.\nSee 'docker --help'")
    if len(words) < 2:
        raise UsageError(_usage(words[0]))
    group, verb, rest = words[0], words[1], words[2:]
    if group == "service":
        return _service(verb, rest, rng, read_file)
    if group == "swarm":
        if verb == "ca":
            return list(swarm_ca.ca(rest, read_file))
        return _swarm(verb, rest, _key_reader(read_file))
    if group == "network":
        return _network(verb, rest)
    if group in ("secret", "config"):
        return _objects(group, verb, rest, read_file)
    if group == "stack":
        return list(stack.parse(verb, rest, read_file, os.environ if environ is None else environ))
    return _node(verb, rest)


def _words(line: str | Sequence[str]) -> list[str]:
    if not isinstance(line, str):
        return list(line)
    try:
        return split(line)
    except ValueError as error:  # an unclosed quote
        raise UsageError(f"cannot split the command line: {error}") from None


def _service(verb: str, rest: list[str], rng: random.Random, read_file: ReadFile) -> list[Command]:
    if verb == "create":
        return [service.create(rest, rng, read_file)]
    if verb == "update":
        return [service.update(rest)]
    if verb == "scale":
        return list(service.scale(rest))
    if verb == "rollback":
        return [service.rollback(rest)]
    if verb in ("rm", "remove"):
        return list(service.remove(rest))
    if verb in ("ls", "list"):
        return [service.listing(rest)]
    if verb == "ps":
        return list(service.tasks(rest))
    if verb == "inspect":
        return list(service.inspect(rest))
    if verb == "logs":
        return [service.logs(rest)]
    raise UsageError(_unknown("service", verb))


def _node(verb: str, rest: list[str]) -> list[Command]:
    if verb in ("ls", "list"):
        return [node.listing(rest)]
    if verb == "inspect":
        return list(node.inspect(rest))
    if verb == "update":
        return [node.update(rest)]
    if verb == "promote":
        return list(node.promote(rest))
    if verb == "demote":
        return list(node.demote(rest))
    if verb in ("rm", "remove"):
        return list(node.remove(rest))
    if verb == "ps":
        return list(node.tasks(rest))
    raise UsageError(_unknown("node", verb))


def _swarm(verb: str, rest: list[str], read_key: Callable[[], str]) -> list[Command]:
    if verb == "init":
        return [swarm.init(rest)]
    if verb == "join":
        return [swarm.join(rest)]
    if verb == "join-token":
        return list(swarm.join_token(rest))
    if verb == "leave":
        return [swarm.leave(rest)]
    if verb == "update":
        return [swarm.update(rest)]
    if verb == "unlock-key":
        return [swarm.unlock_key(rest)]
    if verb == "unlock":
        return [swarm.unlock(rest, read_key)]
    raise UsageError(_unknown("swarm", verb))


def _network(verb: str, rest: list[str]) -> list[Command]:
    if verb == "create":
        return [network.create(rest)]
    if verb in ("ls", "list"):
        return [network.listing(rest)]
    if verb == "inspect":
        return list(network.inspect(rest))
    if verb in ("rm", "remove"):
        return list(network.remove(rest))
    raise UsageError(_unknown("network", verb))


def _objects(kind: str, verb: str, rest: list[str], read_file: ReadFile) -> list[Command]:
    if verb == "create":
        return [objects.create(kind, rest, read_file)]
    if verb in ("ls", "list"):
        return [objects.listing(kind, rest)]
    if verb == "inspect":
        return list(objects.inspect(kind, rest))
    if verb in ("rm", "remove"):
        return list(objects.remove(kind, rest))
    raise UsageError(_unknown(kind, verb))


def _unknown(group: str, verb: str) -> str:
    return f'unknown command "{verb}" for "docker {group}"'


def _usage(group: str) -> str:
    if group in GROUPS:
        return f"\"docker {group}\" requires a subcommand.\nSee 'docker {group} --help'."
    return "docker: a command is needed: service, node, swarm, network, secret, config or stack"
