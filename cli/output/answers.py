"""How the docker CLI prints a manager's answer to a listing, an ``inspect``,
``service logs`` or ``network rm`` (with the command's ``--format``, ``-q``,
``--filter``...), in one place for every front end (the shell, scenario files)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cli.output.logs import service_logs
from cli.output.networks import network_inspect, network_ls
from cli.output.objects import object_ls, object_pretty
from cli.output.views import (
    Context,
    filtered,
    inspect,
    inspect_json,
    node_ls,
    service_ls,
    service_pretty,
    service_ps,
)

#: What the rows of each listing are, for ``--filter``.
KINDS = {"node ls": "node", "service ls": "service", "service ps": "task", "node ps": "task"}


def unlock_banner(key: str) -> str:
    """The docker CLI's ``printUnlockCommand``."""
    return (
        "To unlock a swarm manager after it restarts, run the `docker swarm unlock`\n"
        "command and provide the following key:\n\n"
        f"    {key}\n\n"
        "Remember to store this key in a password manager, since without it you\n"
        "will not be able to restart the manager."
    )


def swarm_updated(value: Any) -> str:
    """``swarm update``: the key follows when the update turned autolock on."""
    if isinstance(value, Mapping) and value.get("autolock_turned_on"):
        return "Swarm updated.\n" + unlock_banner(str(value["unlock_key"]))
    return "Swarm updated."


def render(
    show: str, view: Mapping[str, Any], params: Mapping[str, Any], value: Any, ctx: Context
) -> str | None:
    """The text for a call shown as ``show`` that answered ``value``; None for the
    calls whose printing is the front end's own (``swarm init``, ``promoted``...)."""
    fmt = view.get("format")
    quiet = bool(view.get("quiet", False))
    if show == "none":  # a step of a command whose answer is not printed
        return ""
    if show == "service inspect --pretty":
        return service_pretty(value, ctx.now, ctx.networks)
    if show == "network inspect":
        return network_inspect([value], fmt)
    if show == "network ls":
        filters = view.get("filters", ())
        no_trunc = bool(view.get("no_trunc", False))
        return network_ls(value or (), filters, fmt=fmt, quiet=quiet, no_trunc=no_trunc)
    if show == "network rm":  # the network as the user named it
        return str(params["network"])
    if show == "unlock-key":  # SwarmUnlockKey's key, or SwarmUpdate's (--rotate)
        key = str(value["unlock_key"] if isinstance(value, Mapping) else value)
        if quiet:
            return key
        rotated = "Successfully rotated manager unlock key.\n" if view.get("rotated") else ""
        return rotated + unlock_banner(key)
    if show == "ca":  # ``swarm ca``: the root, as TLSInfo shows it
        return str(value.tls_info.trust_root).strip()
    kind, _, verb = show.partition(" ")
    if kind in ("secret", "config"):
        if verb == "ls":
            return object_ls(kind, value or (), ctx.now, fmt=fmt, quiet=quiet)
        if verb == "inspect --pretty":
            return object_pretty([value])
        if verb == "inspect":
            return inspect_json([value.to_json()], fmt)
        return str(params[kind])  # rm: as the user named it
    if show in ("service inspect", "node inspect", "node inspect --pretty"):
        return inspect([value], fmt)
    if show == "logs":
        return service_logs(
            value or {},
            ctx,
            str(params.get("service", "")),
            timestamps=bool(view.get("timestamps", False)),
            task_ids=bool(view.get("task_ids", True)),
            no_trunc=bool(view.get("no_trunc", False)),
            resolve=bool(view.get("resolve", True)),
        )
    if show not in KINDS:
        return None
    rows = filtered(KINDS[show], list(value or ()), view.get("filters", ()), ctx)
    if show == "node ls":
        return node_ls(rows, ctx, fmt=fmt, quiet=quiet)
    if show == "service ls":
        return service_ls(rows, ctx, fmt=fmt, quiet=quiet)
    return service_ps(rows, ctx, fmt=fmt, quiet=quiet, no_trunc=bool(view.get("no_trunc")))
