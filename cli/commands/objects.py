"""``docker secret|config create|ls|inspect|rm``: the docker CLI's flags and its
own errors, turned into requests for a manager.

``create`` reads the data from a file, or from standard input for ``-`` (as
``read_file("-")`` gives it), and refuses empty data before anything is sent, in
the CLI's words (v28: ``error reading from <file>: data is empty``; a config's
error is wrapped once more). ``ls`` filters by ``id``, ``label`` and ``name`` (a
prefix), and a secret also by ``names`` (exact), as dockerd does.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence

from cli.commands.common import Call, listing_flags
from cli.commands.flags import CommandParser, UsageError
from cli.commands.network import LABEL
from cli.commands.values import key_value
from cli.output.template import check
from core.model.common import Driver
from core.model.secret import ConfigSpec, SecretSpec
from core.model.wire import Labels

ReadFile = Callable[[str], str]
FILTERS = {"secret": ("id", "label", "name", "names"), "config": ("id", "label", "name")}


def _read(kind: str, source: str, read_file: ReadFile) -> str:
    """The data, base64 as the API carries it; empty data refused."""
    where = "STDIN" if source == "-" else source
    try:
        text = read_file(source)
    except OSError as error:
        problem = f"open {source}: {(error.strerror or str(error)).lower()}"
        raise UsageError(_wrapped(kind, source, f"error reading from {where}: {problem}")) from None
    if not text:
        raise UsageError(_wrapped(kind, source, f"error reading from {where}: data is empty"))
    return base64.b64encode(text.encode()).decode()


def _wrapped(kind: str, source: str, message: str) -> str:
    return f'error reading content from "{source}": {message}' if kind == "config" else message


def create(kind: str, argv: Sequence[str], read_file: ReadFile) -> Call:
    """``docker secret create [-l L] [-d DRIVER] SECRET [file|-]``; ``docker config
    create [-l L] CONFIG file|-``."""
    secret = kind == "secret"
    parser = CommandParser(f"{kind} create", least=1 if secret else 2, most=2)
    parser.add_argument("-l", "--label", action="append", default=[], type=LABEL)
    parser.add_argument("--template-driver", default="")
    if secret:
        parser.add_argument("-d", "--driver", default="")
    flags, arguments = parser.parse(argv)
    name, *source = arguments
    labels = Labels(dict(key_value(x) for x in flags.label))
    templating = Driver(name=flags.template_driver) if flags.template_driver else None
    driver = getattr(flags, "driver", "")
    if driver and source:
        raise UsageError("when using secret driver secret data must be empty")
    if not source and not driver:
        raise UsageError(f"{kind} file is required")
    data = _read(kind, source[0], read_file) if source else ""
    if secret:
        spec: SecretSpec | ConfigSpec = SecretSpec(
            name=name,
            labels=labels,
            data=data,
            driver=Driver(name=driver) if driver else None,
            templating=templating,
        )
    else:
        spec = ConfigSpec(name=name, labels=labels, data=data, templating=templating)
    return Call(f"{kind.capitalize()}Create", {"spec": spec}, show="id")


def listing(kind: str, argv: Sequence[str]) -> Call:
    """``docker secret|config ls [-q] [-f KEY=VALUE] [--format TEMPLATE]``."""
    view, _ = listing_flags(f"{kind} ls", FILTERS[kind], argv)
    params: dict[str, object] = {
        "names": [v for k, v in view["filters"] if k == "names"],
        "name_prefixes": [v for k, v in view["filters"] if k == "name"],
        "id_prefixes": [v for k, v in view["filters"] if k == "id"],
        "labels": dict(key_value(v) for k, v in view["filters"] if k == "label"),
    }
    return Call(f"{kind.capitalize()}List", params, show=f"{kind} ls", view=view)


def inspect(kind: str, argv: Sequence[str]) -> list[Call]:
    """``docker secret|config inspect [--pretty] [-f FORMAT] NAME [NAME...]``."""
    parser = CommandParser(f"{kind} inspect", least=1)
    parser.add_argument("--pretty", action="store_true")
    parser.add_argument("-f", "--format")
    flags, names = parser.parse(argv)
    if flags.pretty and flags.format:
        raise UsageError("cannot supply extra formatting options to the pretty template")
    check(flags.format, listing=False)
    show = f"{kind} inspect --pretty" if flags.pretty else f"{kind} inspect"
    method = f"{kind.capitalize()}Inspect"
    return [Call(method, {kind: name}, show=show, view={"format": flags.format}) for name in names]


def remove(kind: str, argv: Sequence[str]) -> list[Call]:
    """``docker secret|config rm NAME [NAME...]``: each prints as it was named."""
    _, names = CommandParser(f"{kind} rm", least=1).parse(argv)
    return [Call(f"{kind.capitalize()}Remove", {kind: n}, show=f"{kind} rm") for n in names]
