"""ShoalSwarm's waiting, without hosts: a wait that gives up says what it saw last."""

from __future__ import annotations

import subprocess
from typing import Any, cast

import pytest

from real.testhosts import swarm as swarm_module
from real.testhosts.hosts import TestHosts
from real.testhosts.swarm import ShoalSwarm, SwarmError


def test_until_gives_up_showing_the_last_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(swarm_module, "PATIENCE", 0.0)
    swarm = ShoalSwarm(cast(TestHosts, []))

    def shoal(_name: Any, *words: str, timeout: float = 0) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(list(words), 0, "the table shown", "")

    monkeypatch.setattr(swarm, "shoal", shoal)
    with pytest.raises(SwarmError, match="to show what is wanted:\nthe table shown"):
        swarm.until("h1", ("node", "ls"), lambda out: False)
