"""Carrying commands out against a manager, as the docker CLI does: a service
update reads the service, edits its spec and sends it back at the version it read
(so a concurrent change is refused, not lost); ``self`` is the node spoken to.

``send(method, params)`` is the transport: a simulated swarm's request, or a real
daemon's API. The outcome keeps what came back, for the printing to show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cli.commands.common import Call, Change
from cli.commands.language import Command
from core.manager.requests import ClientReply
from core.model.service import Service

Send = Callable[[str, dict[str, Any]], ClientReply]


@dataclass(frozen=True)
class Outcome:
    command: Command
    ok: bool
    value: Any = None
    error: str = ""
    code: str = ""  # the error's gRPC code name (NotFound...)


def execute(command: Command, send: Send, self_name: str) -> Outcome:
    if isinstance(command, Change):
        return _change(command, send)
    params = {
        key: (self_name if key == "node" and value == "self" else value)
        for key, value in command.params.items()
    }
    reply = send(command.method, params)
    return Outcome(command, reply.ok, reply.value, reply.message, reply.code)


def _change(change: Change, send: Send) -> Outcome:
    read = send("ServiceInspect", {"service": change.service})
    if not read.ok:
        return Outcome(change, False, error=read.message, code=read.code)
    current = read.value
    assert isinstance(current, Service)
    params: dict[str, Any] = {"service": current.id, "version": current.version.index}
    if change.rollback:
        params["rollback"] = True
    else:
        params["spec"] = change.edit(current.spec)
        params["force"] = change.force
    reply = send("ServiceUpdate", params)
    return Outcome(change, reply.ok, current.id if reply.ok else None, reply.message, reply.code)


__all__ = ["Call", "Change", "Outcome", "Send", "execute"]
