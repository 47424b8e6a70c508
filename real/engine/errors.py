"""Docker's HTTP errors: a status code and ``{"message": ...}``.

dockerd turns a SwarmKit gRPC error into a status by its code (moby's
``httpstatus``); the message is the gRPC error's text, ``rpc error: code = ... desc
= ...``, except for errors dockerd raises itself (not a manager, not in a swarm),
which carry their own words.
"""

from __future__ import annotations

from core.manager.requests import ClientReply

#: gRPC code names to HTTP status (moby's statusCodeFromGRPCError).
STATUS_OF_CODE = {
    "InvalidArgument": 400,
    "FailedPrecondition": 400,
    "OutOfRange": 400,
    "Unauthenticated": 401,
    "PermissionDenied": 403,
    "NotFound": 404,
    "AlreadyExists": 409,
    "Unimplemented": 501,
    "Unavailable": 503,
    "Conflict": 409,  # not gRPC's: dockerd's own errdefs.Conflict (swarm is not locked)
}


class EngineError(Exception):
    """An answer other than success: the status and Docker's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> EngineError:
    return EngineError(400, message)


def not_found(message: str) -> EngineError:
    return EngineError(404, message)


def from_reply(reply: ClientReply) -> EngineError:
    """The error a failed control API reply answers with."""
    return EngineError(STATUS_OF_CODE.get(reply.code, 500), reply.message)
