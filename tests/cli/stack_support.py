"""Running ``docker stack`` command lines against a simulated swarm for the tests,
with the files they read in a mapping, and reading back what they printed."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cli.commands.common import Printed
from cli.commands.flags import UsageError
from cli.commands.language import parse
from cli.commands.run import execute
from core.model.network import Network
from core.model.secret import Config, Secret
from core.model.service import Service
from sim.cluster import ClusterWorld

DATA = Path(__file__).resolve().parent / "stacks"


@dataclass
class Said:
    out: str
    err: str
    ok: bool


class Files:
    """The files a command line may read, by name; a real-world file by its name in
    tests/cli/stacks/."""

    def __init__(self, files: Mapping[str, str] | None = None) -> None:
        self.files = dict(files or {})

    def __call__(self, path: str) -> str:
        if path in self.files:
            return self.files[path]
        if path.startswith("stacks/") and (DATA / path[len("stacks/") :]).is_file():
            return (DATA / path[len("stacks/") :]).read_text(encoding="utf-8")
        raise FileNotFoundError(2, "No such file or directory", path)


def stack(
    world: ClusterWorld,
    line: str,
    files: Files | Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Said:
    """``line`` carried out on manager-1 (all its commands): stdout, stderr, success."""
    read = files if isinstance(files, Files) else Files(files)

    def send(method: str, params: dict[str, Any]) -> Any:
        return world.call("manager-1", method, **params)

    out: list[str] = []
    err: list[str] = []
    ok = True
    now = world.hosts["manager-1"].clock.wall(world.env.now)
    for command in parse(line, random.Random(3), read, environ or {}):
        outcome = execute(command, send, "manager-1", now)
        ok = ok and outcome.ok
        if not isinstance(outcome.value, Printed):  # another group's command
            assert outcome.ok, outcome.error or outcome.said
            continue
        out += [t for w, t in outcome.value.lines if w == "out"]
        err += [t for w, t in outcome.value.lines if w == "err"]
    return Said("\n".join(out), "\n".join(err), ok)


def refused(
    line: str, files: Mapping[str, str] | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """The docker CLI's refusal of ``line`` before it sends anything."""
    with pytest.raises(UsageError) as caught:
        parse(line, random.Random(3), Files(files), environ or {})
    return caught.value.message


def services(world: ClusterWorld) -> dict[str, Service]:
    store = world.leader_store()
    assert store is not None
    return {s.spec.name: s for s in store.tables["services"].values() if isinstance(s, Service)}


def named(world: ClusterWorld, table: str) -> list[str]:
    store = world.leader_store()
    assert store is not None
    kinds = {"networks": Network, "secrets": Secret, "configs": Config}
    return sorted(o.spec.name for o in store.tables[table].values() if isinstance(o, kinds[table]))
