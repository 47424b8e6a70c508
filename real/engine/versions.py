"""API versions as dockerd negotiates them: a path may start with ``/v1.xx``; a
client asking for more than :data:`API_VERSION` or less than
:data:`MIN_API_VERSION` is refused with dockerd's words; every answer says the
server's version in ``Api-Version`` and ``Server`` headers."""

from __future__ import annotations

import re

from real.engine.errors import EngineError

API_VERSION = "1.41"
MIN_API_VERSION = "1.12"
ENGINE_VERSION = "20.10.24"  # the dockerd release that speaks API 1.41
VERSIONED = re.compile(r"^/v(?P<version>[0-9]+\.[0-9]+)(?P<rest>/.*)$")


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def split_path(path: str) -> tuple[str | None, str]:
    """The client's version (None when unversioned) and the path without it."""
    found = VERSIONED.match(path)
    if found is None:
        return None, path
    return found["version"], found["rest"]


def check(version: str | None) -> None:
    """dockerd's version middleware: a version outside what it speaks is refused."""
    if version is None:
        return
    if _key(version) > _key(API_VERSION):
        raise EngineError(
            400,
            f"client version {version} is too new. Maximum supported API version is {API_VERSION}",
        )
    if _key(version) < _key(MIN_API_VERSION):
        raise EngineError(
            400,
            f"client version {version} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version",
        )


def at_least(version: str | None, wanted: str) -> bool:
    """Whether a request speaks ``wanted`` or later (unversioned: the latest)."""
    return version is None or _key(version) >= _key(wanted)
