"""``docker swarm init|join|join-token|leave|update``: requests for the node the
command runs on (init, join and leave are that node's own) or for its manager."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cli.commands.common import Call
from cli.commands.flags import UINT, CommandParser, UsageError
from cli.commands.values import DURATION
from core.manager.requests import INFO
from core.model.cluster import Cluster

#: Docker's swarm port, the one a ``swarm join`` remote may leave out.
SWARM_PORT = 2377


def addresses(flags: argparse.Namespace) -> dict[str, str]:
    """``--advertise-addr``/``--listen-addr`` as given: a real daemon refuses ones that
    are not its own (real/addresses.py); the simulator's nodes, being names, ignore them."""
    given = {"advertise_addr": flags.advertise_addr, "listen_addr": flags.listen_addr}
    return {name: value for name, value in given.items() if value}


def init(argv: Sequence[str]) -> Call:
    parser = CommandParser("swarm init", most=0)
    parser.add_argument("--force-new-cluster", action="store_true")
    parser.add_argument("--autolock", action="store_true")
    parser.add_argument("--advertise-addr")
    parser.add_argument("--listen-addr")
    flags, _ = parser.parse(argv)
    params: dict[str, object] = {"force_new_cluster": True} if flags.force_new_cluster else {}
    if flags.autolock:
        params["autolock"] = True
    view = {"autolock": flags.autolock}
    return Call("SwarmInit", {**params, **addresses(flags)}, show="swarm init", view=view)


def join(argv: Sequence[str]) -> Call:
    parser = CommandParser("swarm join", least=1, most=1)
    parser.add_argument("--token", required=False)
    parser.add_argument("--advertise-addr")
    parser.add_argument("--listen-addr")
    flags, (remote,) = parser.parse(argv)
    if not flags.token:
        raise UsageError("--token is required", parser.command)
    # Docker's port goes without saying: the simulator's hosts are names
    # ("manager-1:2377" is "manager-1"), and the real daemon puts it back
    # (real/driver.py ``with_port``); any other port is the remote's, kept.
    host = remote.removesuffix(":" + str(SWARM_PORT))
    params = {"remote": host, "token": flags.token, **addresses(flags)}
    return Call("SwarmJoin", params, show="swarm join")


def join_token(argv: Sequence[str]) -> list[Call]:
    """``docker swarm join-token [-q] [--rotate] (worker|manager)``."""
    parser = CommandParser("swarm join-token", least=1, most=1)
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("--rotate", action="store_true")
    flags, (role,) = parser.parse(argv)
    if role not in ("worker", "manager"):
        raise UsageError("unknown role " + role)
    view = {"role": role, "quiet": flags.quiet, "rotated": flags.rotate}
    calls = []
    if flags.rotate:
        calls.append(Call("SwarmUpdate", {f"rotate_{role}_token": True}, show="none"))
    return [*calls, Call("SwarmInspect", show="join-token", view=view)]


def leave(argv: Sequence[str]) -> Call:
    parser = CommandParser("swarm leave", most=0)
    parser.add_argument("-f", "--force", action="store_true")
    flags, _ = parser.parse(argv)
    return Call("SwarmLeave", {"force": flags.force}, show="value")


def update(argv: Sequence[str]) -> Call:
    parser = CommandParser("swarm update", most=0)
    parser.add_argument("--task-history-limit", type=UINT)
    parser.add_argument("--dispatcher-heartbeat", type=DURATION)
    parser.add_argument("--cert-expiry", type=DURATION)
    parser.add_argument("--autolock", action="store_true")
    flags, _ = parser.parse(argv)
    params = {
        "task_history_limit": flags.task_history_limit,
        "dispatcher_heartbeat_ns": flags.dispatcher_heartbeat,
        "node_cert_expiry_ns": flags.cert_expiry,
        "autolock": _autolock_given(argv),
    }
    return Call("SwarmUpdate", params, show="swarm updated")


def _autolock_given(argv: Sequence[str]) -> bool | None:
    """``--autolock``, ``--autolock=true|false`` (the last one given wins, as in pflag),
    or None when absent: the parser has refused any other value already."""
    given = None
    for word in argv:
        name, sep, value = word.partition("=")
        if name == "--autolock":
            given = not sep or value.lower() in ("true", "1", "t")
    return given


def unlock_key(argv: Sequence[str]) -> Call:
    """``docker swarm unlock-key [-q] [--rotate]``: the key, and a new one first with
    ``--rotate`` (refused by the CLI itself when autolock is off)."""
    parser = CommandParser("swarm unlock-key", most=0)
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("--rotate", action="store_true")
    flags, _ = parser.parse(argv)
    view = {"quiet": flags.quiet, "rotated": flags.rotate}
    if flags.rotate:
        return Call(
            "SwarmUpdate",
            {"rotate_manager_unlock_key": True},
            show="unlock-key",
            view=view,
            before=("SwarmInspect", _autolock_required),
            refuse=lambda value: _no_key(value["unlock_key"]),
        )
    return Call(
        "SwarmUnlockKey",
        show="unlock-key",
        view=view,
        refuse=_no_key,
        error_prefix="could not fetch unlock key: ",
    )


def _autolock_required(cluster: Cluster) -> str | None:
    if cluster.spec.encryption_config.auto_lock_managers:
        return None
    return "cannot rotate because autolock is not turned on"


def _no_key(key: str) -> str | None:
    return None if key else "no unlock key is set"


def unlock(argv: Sequence[str], read_key: Callable[[], str]) -> Call:
    """``docker swarm unlock``: the docker CLI first asks the daemon's ``Info`` whether
    it is locked at all, and only then reads the key from standard input (prompted
    for on a terminal)."""
    parser = CommandParser("swarm unlock", most=0)
    parser.parse(argv)
    return Call(
        "SwarmUnlock",
        before=(INFO, _unlockable),
        resolved=lambda _found: {"key": read_key().strip()},
    )


def _unlockable(info: Mapping[str, Any]) -> str | None:
    """docker/cli's check of ``Info.Swarm.LocalNodeState``."""
    if info.get("locked"):
        return None
    if not info.get("node_id"):
        return "Error: This node is not part of a swarm"
    return "Error: swarm is not locked"
