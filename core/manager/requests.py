"""Client requests and replies: the API as inputs and outputs (DESIGN.md's driver
contract). A request carries an id; its reply comes out later, after the write it
asked for is committed and applied, or with an error in Docker's words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import ShoalError

#: How long a write may wait for its commit before the caller is told it timed out
#: (dockerd's request timeout). The write may still commit afterwards.
REQUEST_TIMEOUT_SECONDS = 20.0


#: Beside the control API's methods every daemon answers this one itself: who its
#: node is (``docker info``'s Swarm section), whatever state the node is in.
INFO = "Info"

#: dockerd's own words (moby daemon/cluster) for a node that cannot answer.
NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
    "to connect this node to swarm and try again."
)
WORKER_NOT_MANAGER = (
    "This node is not a swarm manager. Worker nodes can't be used to view or modify "
    "cluster state. Please run this command on a manager node or promote the current "
    "node to a manager."
)
ALREADY_IN_SWARM = (
    'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm '
    "and join another one."
)
NOT_IN_SWARM = "This node is not part of a swarm"
#: A manager's answer to a join while it does not lead. With a leader to name the
#: joiner asks that one; without (an election under way) it asks again after
#: JOIN_RETRY_SECONDS, until the join's request times out, as swarmkit's node keeps
#: asking for its certificate until dockerd's join gives up.
NOT_THE_LEADER = "this manager is not the leader"
JOIN_RETRY_SECONDS = 1.0


class ApiError(ShoalError):
    """An error as a manager answers it: a gRPC code name and Docker's message."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"rpc error: code = {code} desc = {message}")


class DaemonError(ApiError):
    """An error dockerd words itself (a lookup that finds nothing, say), shown
    without the gRPC prefix SwarmKit's errors carry."""

    def __str__(self) -> str:
        return self.message


def deadline_exceeded() -> ApiError:
    return ApiError("DeadlineExceeded", "context deadline exceeded")


def no_leader() -> ApiError:
    return ApiError(
        "Unknown",
        "The swarm does not have a leader. It's possible that too few managers are online. "
        "Make sure more than half of the managers are online.",
    )


@dataclass(frozen=True, slots=True)
class ClientRequest:
    """``method`` is the Engine API operation (``ServiceCreate``, ``NodeUpdate``...)."""

    id: str
    method: str
    params: Mapping[str, Any] = field(default_factory=dict)


#: Errors dockerd words itself (not in the store, not a manager, leaving): shown as
#: their message alone, where SwarmKit's errors keep their gRPC wrapping.
PLAIN_CODES = ("Unavailable",)


@dataclass(frozen=True, slots=True)
class ClientReply:
    id: str
    ok: bool
    value: Any = None
    error: str = ""
    code: str = ""

    @property
    def message(self) -> str:
        """The error as Docker shows it."""
        prefix = f"rpc error: code = {self.code} desc = "
        if self.code in PLAIN_CODES and self.error.startswith(prefix):
            return self.error[len(prefix) :]
        return self.error

    @classmethod
    def failed(cls, request_id: str, error: ShoalError) -> ClientReply:
        if not isinstance(error, ApiError):  # a core error: its own code and words, if any
            code = getattr(error, "api_code", "InvalidArgument")
            error = ApiError(code, getattr(error, "api_message", str(error)))
        return cls(request_id, False, error=str(error), code=error.code)
