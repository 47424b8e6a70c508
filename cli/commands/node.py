"""``docker node ls|inspect|update|promote|demote|rm|ps``: Docker's flags, turned
into requests for a manager (``promote`` and ``demote`` are role updates, as the
CLI sends them)."""

from __future__ import annotations

from collections.abc import Sequence

from cli.commands.common import Call, inspecting, listing_flags
from cli.commands.flags import CommandParser, choice

NODE_FILTERS = ("id", "label", "membership", "name", "node.label", "role")


def listing(argv: Sequence[str]) -> Call:
    view, _ = listing_flags("node ls", NODE_FILTERS, argv)
    return Call("NodeList", show="node ls", view=view)


def inspect(argv: Sequence[str]) -> list[Call]:
    return inspecting("node", "NodeInspect", argv)


def update(argv: Sequence[str]) -> Call:
    """``docker node update [--availability A] [--label-add k=v] [--label-rm k]
    [--role R] NODE``."""
    parser = CommandParser("node update", least=1, most=1)
    parser.add_argument("--availability", type=choice("active", "pause", "drain"))
    parser.add_argument("--label-add", action="append", default=[])
    parser.add_argument("--label-rm", action="append", default=[])
    parser.add_argument("--role", type=choice("worker", "manager"))
    flags, (node,) = parser.parse(argv)
    labels = dict(item.partition("=")[::2] for item in flags.label_add)
    params = {
        "node": node,
        "availability": flags.availability,
        "label_add": labels,
        "label_rm": tuple(flags.label_rm),
        "role": flags.role,
    }
    return Call("NodeUpdate", params, show="name")


def promote(argv: Sequence[str]) -> list[Call]:
    _, nodes = CommandParser("node promote", least=1).parse(argv)
    return [Call("NodeUpdate", {"node": n, "role": "manager"}, show="promoted") for n in nodes]


def demote(argv: Sequence[str]) -> list[Call]:
    _, nodes = CommandParser("node demote", least=1).parse(argv)
    return [Call("NodeUpdate", {"node": n, "role": "worker"}, show="demoted") for n in nodes]


def remove(argv: Sequence[str]) -> list[Call]:
    parser = CommandParser("node rm", least=1)
    parser.add_argument("-f", "--force", action="store_true")
    flags, nodes = parser.parse(argv)
    return [Call("NodeRemove", {"node": n, "force": flags.force}, show="name") for n in nodes]


def tasks(argv: Sequence[str]) -> list[Call]:
    """``docker node ps [NODE...]`` (``self``, the node spoken to, by default)."""
    allowed = ("id", "name", "desired-state")
    view, nodes = listing_flags("node ps", allowed, argv, most=None)
    return [Call("TaskList", {"node": n}, show="node ps", view=view) for n in nodes or ["self"]]
