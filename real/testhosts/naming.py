"""Run identifiers: every name a test-host run makes carries one.

A run id says which process made it (pid and that process's start time, so a reused pid
is not mistaken for the owner) plus a few random characters, so one process can hold
several runs and parallel pytest-xdist workers never collide. The sweeper reads the
owner back from a name to decide whether the run is dead and its leftovers fair game.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

#: Every namespace, temp dir and process tag a run makes starts with this.
PREFIX = "shoaltest-"
#: Environment variable set in every process a run spawns; the sweeper looks for it.
ENV_TAG = "SHOALTEST_RUN"

_RUN_RE = re.compile(rf"^{re.escape(PREFIX)}(\d+)-(\d+)-([0-9a-f]+)")


def start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])  # field 22 of proc(5), counted from field 3


@dataclass(frozen=True)
class RunId:
    """Who made a run: ``shoaltest-<pid>-<start ticks>-<random>``."""

    pid: int
    start: int
    nonce: str

    @classmethod
    def new(cls) -> RunId:
        pid = os.getpid()
        start = start_ticks(pid)
        assert start is not None  # our own process
        return cls(pid, start, secrets.token_hex(3))

    @classmethod
    def parse(cls, name: str) -> RunId | None:
        """The run a name belongs to, or None if it is not one of ours."""
        match = _RUN_RE.match(name)
        if match is None:
            return None
        return cls(int(match[1]), int(match[2]), match[3])

    def __str__(self) -> str:
        return f"{PREFIX}{self.pid}-{self.start}-{self.nonce}"

    def name(self, suffix: str) -> str:
        """A name that belongs to this run, e.g. the namespace of host ``h1``."""
        return f"{self}-{suffix}"

    def owns(self, name: str) -> bool:
        return name == str(self) or name.startswith(f"{self}-")

    def alive(self) -> bool:
        """Whether the process that made this run still runs."""
        return start_ticks(self.pid) == self.start
