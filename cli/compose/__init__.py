"""Compose files for ``docker stack deploy``: read (``yaml12``), interpolated
(``interpolate``), validated against the 3.x format (``schema``), merged and
checked for Swarm (``load``), and converted into the specs a manager takes
(``convert``). Every module is pure: files arrive as text through a reader, the
environment as a mapping, so the same file converts the same way in a simulated
swarm, a scenario and real mode."""

from __future__ import annotations


class ComposeError(Exception):
    """A compose file the docker CLI would refuse, in its words."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)
