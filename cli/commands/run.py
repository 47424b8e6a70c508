"""Carrying commands out against a manager, as the docker CLI does: a service
update reads the service, edits its spec and sends it back at the version it read
(so a concurrent change is refused, not lost); ``self`` is the node spoken to.
The networks, secrets and configs a command names are looked up first (the CLI's
``resolveNetworkID``, ``ParseSecrets``), so that a service's spec holds their IDs
and one not found is refused before anything is written.

``send(method, params)`` is the transport: a simulated swarm's request, or a real
daemon's API. The outcome keeps what came back, for the printing to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cli.commands.common import Call, Change, Found, Printed, Script, Send
from cli.commands.language import Command
from core.manager.requests import ClientReply
from core.model.network import Network
from core.model.service import Service

#: Requests whose 404 the Docker client library words itself (objectNotFoundError).
CLIENT_NOT_FOUND = {"NetworkInspect": "network", "NetworkRemove": "network"}


@dataclass(frozen=True)
class Outcome:
    command: Command
    ok: bool
    value: Any = None
    error: str = ""
    code: str = ""  # the error's gRPC code name (NotFound...)
    said: str = ""  # the client's own words for the error, printed as they are


def execute(command: Command, send: Send, self_name: str, now: float = 0.0) -> Outcome:
    """``command`` carried out; ``now`` (wall-clock seconds) dates what a script prints."""
    if isinstance(command, Script):
        printed = command.run(send, now)
        return Outcome(command, printed.ok, printed, printed.error if not printed.ok else "")
    if isinstance(command, Change):
        return _change(command, send)
    found, failed = _look_up(command, send)
    if failed is not None:
        return failed
    if command.before is not None:
        method, refuse = command.before
        asked = send(method, {})
        if not asked.ok:
            return _answered(command, asked, method, {})
        why = refuse(asked.value)
        if why is not None:
            return Outcome(command, False, error=why, said=why)
    chosen = command.resolved(found) if command.resolved is not None else command.params
    params = {
        key: (self_name if key == "node" and value == "self" else value)
        for key, value in chosen.items()
    }
    reply = send(command.method, params)
    if reply.ok and command.refuse is not None:
        why = command.refuse(reply.value)
        if why is not None:
            return Outcome(command, False, reply.value, error=why, said=why)
    if not reply.ok and command.error_prefix:
        said = f"{command.error_prefix}Error response from daemon: {reply.message}"
        return Outcome(command, False, None, reply.message, reply.code, said)
    return _answered(command, reply, command.method, params)


def failure(outcome: Outcome) -> tuple[str, str]:
    """What the docker CLI prints for a refused command: (stdout, stderr). An
    ``inspect`` of something missing prints an empty array first."""
    command = outcome.command
    if isinstance(outcome.value, Printed):  # a script says its own failure
        return outcome.value.text("out"), outcome.value.text("err")
    inspecting = isinstance(command, Call) and command.show.endswith("inspect")
    missing = inspecting and outcome.code == "NotFound"
    if outcome.said:
        return ("[]" if missing else ""), outcome.said
    if missing:
        assert isinstance(command, Call)
        kind, name = next(iter(command.params.items()))
        if kind in ("secret", "config"):  # the daemon's words (docker CLI 23 on)
            return "[]", f"Error response from daemon: {outcome.error}"
        return "[]", f"Error: no such {kind}: {name}"
    return "", f"Error response from daemon: {outcome.error}"


def _answered(command: Command, reply: ClientReply, method: str, params: dict[str, Any]) -> Outcome:
    said = ""
    if not reply.ok and reply.code == "NotFound" and method in CLIENT_NOT_FOUND:
        said = f"Error: No such {CLIENT_NOT_FOUND[method]}: {params['network']}"
    return Outcome(command, reply.ok, reply.value, reply.message, reply.code, said)


def _look_up(command: Call | Change, send: Send) -> tuple[Found, Outcome | None]:
    """Each network named, inspected for its ID (in the order named, each once),
    then the secrets and configs named, in one list of each kind; the outcome of
    the first lookup that failed, if one did."""
    ids: dict[str, str] = {}
    for ref in command.networks:
        if ref in ids:
            continue
        params = {"network": ref}
        reply = send("NetworkInspect", params)
        if not reply.ok:
            return Found(ids), _answered(command, reply, "NetworkInspect", params)
        assert isinstance(reply.value, Network)
        ids[ref] = reply.value.id
    by_kind: dict[str, dict[str, str]] = {}
    for kind, wanted in (("secret", command.secrets), ("config", command.configs)):
        by_kind[kind] = {}
        if not wanted:
            continue
        reply = send(f"{kind.capitalize()}List", {"names": list(wanted)})
        if not reply.ok:
            return Found(ids), _answered(command, reply, f"{kind.capitalize()}List", {})
        listed = {obj.spec.name: obj.id for obj in reply.value}
        for name in wanted:
            if name not in listed:  # the CLI's own error, printed as it is
                return Found(ids), Outcome(command, False, said=f"{kind} not found: {name}")
            by_kind[kind][name] = listed[name]
    return Found(ids, by_kind["secret"], by_kind["config"]), None


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
        found, failed = _look_up(change, send)
        if failed is not None:
            return failed
        params["spec"] = change.edit(current.spec, found)
        params["force"] = change.force
    reply = send("ServiceUpdate", params)
    return Outcome(change, reply.ok, current.id if reply.ok else None, reply.message, reply.code)


__all__ = ["Call", "Change", "Outcome", "Printed", "Script", "Send", "execute", "failure"]
