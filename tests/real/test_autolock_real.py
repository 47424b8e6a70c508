"""Encryption at rest and autolock on three real hosts, driven by the stock docker CLI:
a marker put in a secret, a service's env and its labels, and the unlock and data keys,
are nowhere in the clear under any host's data directory, its daemon's log or the
service's container layers; a restarted manager refuses everything until ``docker
swarm unlock`` gives it the current key (the rotated-away one no longer opens it); a
restarted worker is never locked."""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.manager import autolock
from real.agent import labels
from real.agent.images import IMAGE
from real.driver import WAL_DIRECTORY
from real.files import OsFiles
from real.testhosts.swarm import ShoalSwarm
from real.wal import KeyFile, WrongKey
from tests.engine.docker_py_story import until
from tests.real.swarm_support import api

KEY = re.compile(r"SWMKEY-1-[A-Za-z0-9+/]{43}")
MARKER = "marker-5b1e7d0c-never-in-the-clear"


def ok(swarm: ShoalSwarm, host: str, *words: str, stdin: str | None = None) -> str:
    done = swarm.docker(host, *words, stdin=stdin)
    assert done.returncode == 0, (
        f"docker {' '.join(words)} on {host}: {done.returncode}\n{done.stdout}{done.stderr}"
        f"\n{swarm.logs()}"
    )
    return done.stdout


def forms(secret: bytes) -> list[bytes]:
    """How a secret may be written down: as it is, in hex, in base64 (padded or not)."""
    encoded = base64.b64encode(secret)
    return [secret, secret.hex().encode(), encoded, encoded.rstrip(b"=")]


def files_under(root: Path) -> Iterator[Path]:
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            if path.is_file() and not path.is_symlink():
                yield path


def found_in(roots: list[Path], secrets: dict[str, bytes]) -> list[str]:
    """``what in path`` for every secret found in the clear under ``roots``."""
    found = []
    for root in roots:
        for path in files_under(root):
            data = path.read_bytes()
            for what, secret in secrets.items():
                if any(form in data for form in forms(secret)):
                    found.append(f"{what} in {path}")
    return found


def container_layers(swarm: ShoalSwarm, service: str) -> list[Path]:
    """The writable layer of each of the service's containers, on every host."""
    layers = []
    for host in swarm.hosts:
        client = api(host)
        for listed in client.containers(filters={"label": f"{labels.SERVICE_NAME}={service}"}):
            data = client.inspect_container(listed["Id"])["GraphDriver"]["Data"] or {}
            layer = data.get("UpperDir") or data.get("Dir")
            if layer:
                layers.append(Path(layer))
    return layers


def running(swarm: ShoalSwarm) -> list[str]:
    listed = ok(swarm, "h1", "service", "ps", "-q", "--filter", "desired-state=running", "app")
    return sorted(listed.split())


@pytest.mark.slow
def test_locked_swarm_keeps_nothing_in_the_clear_and_restarts_locked(swarm: ShoalSwarm) -> None:
    h1 = swarm.host("h1")
    init = ok(swarm, "h1", "swarm", "init", "--autolock", "--advertise-addr", h1.address)
    assert "To unlock a swarm manager after it restarts" in init, init
    (first_key,) = KEY.findall(init)
    manager_token = ok(swarm, "h1", "swarm", "join-token", "-q", "manager").strip()
    worker_token = ok(swarm, "h1", "swarm", "join-token", "-q", "worker").strip()
    ok(swarm, "h2", "swarm", "join", "--token", manager_token, swarm.address("h1"))
    ok(swarm, "h3", "swarm", "join", "--token", worker_token, swarm.address("h1"))
    secret_file = swarm.host("h1").dir / "secret.txt"
    secret_file.write_text(MARKER)
    ok(swarm, "h1", "secret", "create", "db_pw", str(secret_file))
    secret_file.unlink()
    ok(
        swarm, "h1", "service", "create", "--detach", "--name", "app", "--replicas", "3",
        "--secret", "db_pw", "--env", f"APP_MARKER={MARKER}", "--label", f"svc={MARKER}",
        "--container-label", f"ctr={MARKER}", IMAGE, "sleep", "3600",
    )  # fmt: skip
    tasks = until(lambda: r if len(r := running(swarm)) == 3 else [], "3 running tasks")
    mounted = ok(swarm, "h1", "service", "inspect", "-f", "{{json .Spec}}", "app")
    assert MARKER in mounted  # the API shows what it stores; the disk does not

    rotated = ok(swarm, "h1", "swarm", "unlock-key", "--rotate")
    assert rotated.startswith("Successfully rotated manager unlock key.\nTo unlock"), rotated
    (key,) = KEY.findall(rotated)
    assert key != first_key and ok(swarm, "h2", "swarm", "unlock-key", "-q").strip() == key

    def data_keys(host: str) -> dict[str, bytes]:
        """The manager's data keys, opened with the unlock key the test was told."""
        stored = KeyFile(OsFiles(), str(swarm.data_dir(host) / WAL_DIRECTORY)).load()
        assert stored is not None and stored.locked, f"{host}'s data keys are not locked"
        return {f"{host}'s data key": k for k in stored.open(autolock.parse_key(key)).keys.values()}

    until(lambda: all(_opens(swarm, h, key) for h in ("h1", "h2")), "both managers rewrapped")
    secrets = {
        "the marker": MARKER.encode(),
        "the first unlock key": first_key.encode(),
        "the unlock key": key.encode(),
        "the first raw unlock key": autolock.parse_key(first_key),
        "the raw unlock key": autolock.parse_key(key),
        **data_keys("h1"),
        **data_keys("h2"),
    }
    worker_keys = KeyFile(OsFiles(), str(swarm.data_dir("h3") / WAL_DIRECTORY)).load()
    assert worker_keys is not None and not worker_keys.locked  # workers are never locked
    layers = until(
        lambda: found if len(found := container_layers(swarm, "app")) == 3 else [],
        "the three containers' layers",
    )
    roots = [swarm.data_dir(h) for h in ("h1", "h2", "h3")] + layers
    assert found_in(roots, secrets) == []
    logs = swarm.logs().encode()
    assert not [what for what, s in secrets.items() if any(f in logs for f in forms(s))]

    # a restarted manager is locked until it is given the current key
    swarm.kill("h2")
    swarm.start_daemon("h2")
    info = json.loads(ok(swarm, "h2", "info", "--format", "{{json .Swarm}}"))
    assert (info["LocalNodeState"], info["NodeAddr"]) == ("locked", swarm.host("h2").address)
    refused = swarm.docker("h2", "node", "ls")
    assert refused.returncode == 1 and autolock.LOCKED in refused.stderr, refused.stderr
    wrong = swarm.docker("h2", "swarm", "unlock", stdin=first_key + "\n")
    assert wrong.returncode == 1 and autolock.INVALID_KEY in wrong.stderr, wrong.stderr
    ok(swarm, "h2", "swarm", "unlock", stdin=key + "\n")
    until(lambda: swarm.docker("h2", "node", "ls").returncode == 0, "h2 to answer, a leader found")
    again = swarm.docker("h2", "swarm", "unlock", stdin=key + "\n")
    assert again.returncode == 1 and "swarm is not locked" in again.stderr, again.stderr

    # a worker restarts unlocked; the tasks ran on throughout
    swarm.kill("h3")
    swarm.start_daemon("h3")
    assert (
        json.loads(ok(swarm, "h3", "info", "--format", "{{json .Swarm}}"))["LocalNodeState"]
        == "active"
    )
    assert running(swarm) == tasks

    # autolock off: the managers keep their data keys in the clear again
    assert ok(swarm, "h1", "swarm", "update", "--autolock=false").strip() == "Swarm updated."
    until(lambda: not _locked(swarm, "h1") and not _locked(swarm, "h2"), "keys unwrapped")


def _opens(swarm: ShoalSwarm, host: str, key: str) -> bool:
    stored = KeyFile(OsFiles(), str(swarm.data_dir(host) / WAL_DIRECTORY)).load()
    if stored is None or not stored.locked:
        return False
    try:
        stored.open(autolock.parse_key(key))
    except WrongKey:
        return False
    return len(stored.entries) == 1


def _locked(swarm: ShoalSwarm, host: str) -> bool:
    stored = KeyFile(OsFiles(), str(swarm.data_dir(host) / WAL_DIRECTORY)).load()
    return stored is not None and stored.locked
