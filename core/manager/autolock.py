"""Autolock: the managers' unlock key, in SwarmKit's and dockerd's words.

With ``--autolock`` the cluster holds a key-encryption key (KEK) that every manager
wraps its data key (the one its log is encrypted with) and its TLS key under; the
key never reaches a disk unwrapped, so a restarted manager cannot read its own
state until a person gives the key back (``docker swarm unlock``). The key lives in
the cluster object, replicated by Raft like the rest (encrypted at rest), and is
shown to users as ``SWMKEY-1-`` and the raw 32 bytes in unpadded standard base64,
43 characters (SwarmKit's ``HumanReadableKey``).

Workers are never locked: autolock protects the managers' keys, as in Docker.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Final

from core.manager.requests import (
    ALREADY_IN_SWARM,
    ApiError,
    ClientReply,
    ClientRequest,
    DaemonError,
)

PREFIX: Final = "SWMKEY-1-"
KEY_BYTES: Final = 32

#: dockerd's errSwarmLocked: any swarm request to a manager that has not been unlocked.
LOCKED: Final = (
    'Swarm is encrypted and needs to be unlocked before it can be used. Please use "docker '
    'swarm unlock" to unlock it.'
)
#: dockerd's invalidUnlockKey: the key does not open the manager's data key.
INVALID_KEY: Final = "swarm could not be unlocked: invalid key provided"
#: SwarmKit's ParseHumanReadableKey, for a string that is not a key at all.
NOT_A_KEY: Final = "invalid key string"
#: dockerd's notLockedError: ``swarm unlock`` on a manager that runs.
NOT_LOCKED: Final = "swarm is not locked"
#: dockerd's refusal of ``swarm leave`` without ``--force`` on a locked manager.
LEAVE_LOCKED: Final = (
    "Swarm is encrypted and locked. Please unlock it first or use `--force` to ignore this message."
)


def human_key(raw: bytes) -> str:
    """``SWMKEY-1-`` and ``raw`` in unpadded standard base64."""
    return PREFIX + base64.b64encode(raw).decode().rstrip("=")


def parse_key(text: str) -> bytes:
    """The raw key of ``SWMKEY-1-...``; ``invalid key string`` for anything else (Go's
    RawStdEncoding, not strict: no padding, the last character's spare bits ignored).
    A key of the wrong length parses, and then opens nothing."""
    if not text.startswith(PREFIX):
        raise DaemonError("InvalidArgument", NOT_A_KEY)
    body = text[len(PREFIX) :]
    if "=" in body or len(body) % 4 == 1:
        raise DaemonError("InvalidArgument", NOT_A_KEY)
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise DaemonError("InvalidArgument", NOT_A_KEY) from None


def new_unlock_key(entropy: Callable[[int], bytes] | None) -> str:
    """A fresh key from the driver's entropy (the core has none of its own)."""
    if entropy is None:
        raise ApiError("Internal", "no entropy to make an unlock key with")
    return human_key(entropy(KEY_BYTES))


def locked_error() -> DaemonError:
    return DaemonError("Unavailable", LOCKED)


def not_locked_error() -> DaemonError:
    """dockerd's notLockedError is a conflict (409)."""
    return DaemonError("Conflict", NOT_LOCKED)


def invalid_key_error() -> DaemonError:
    """dockerd's invalidUnlockKey is unauthorized (401)."""
    return DaemonError("Unauthenticated", INVALID_KEY)


def next_unlock_key(
    current: str, autolock: bool, rotate: bool, entropy: Callable[[int], bytes] | None
) -> str:
    """The cluster's key after an update (SwarmKit's controlapi): a new one when autolock
    is turned on or a rotation is asked for while it is on, none when it is off."""
    if not autolock:
        return ""
    if rotate or not current:
        return new_unlock_key(entropy)
    return current


def locked_answer(request: ClientRequest, opens: Callable[[bytes], bool]) -> ClientReply | None:
    """What a locked manager answers ``request``, or None when its driver is to carry
    it out: an unlock whose key ``opens`` the data key (the driver boots the node), or
    ``swarm leave --force`` (it forgets the swarm). Drivers share it, so the simulated
    and the real daemon refuse alike."""
    if request.method == "SwarmLeave":
        if request.params.get("force"):
            return None
        return ClientReply.failed(request.id, DaemonError("Unavailable", LEAVE_LOCKED))
    if request.method in ("SwarmInit", "SwarmJoin"):  # dockerd: it has a node, locked
        return ClientReply.failed(request.id, DaemonError("Unavailable", ALREADY_IN_SWARM))
    if request.method != "SwarmUnlock":
        return ClientReply.failed(request.id, locked_error())
    try:
        raw = parse_key(str(request.params.get("key") or ""))
    except DaemonError as error:
        return ClientReply.failed(request.id, error)
    if not opens(raw):
        return ClientReply.failed(request.id, invalid_key_error())
    return None
