"""The docker-py story the real-mode tests tell a 3-host shoal cluster, told to
``shoal sim serve`` with a socket per simulated host: the same calls, the same
answers, without Docker."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker

from tests.engine import docker_py_story

ROOT = Path(__file__).resolve().parents[2]
HOSTS = ("manager-1", "manager-2", "worker-1")


def test_docker_py_tells_the_same_story_to_a_simulated_swarm(tmp_path: Path) -> None:
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "sim", "serve", "--socket", str(tmp_path / "api.sock"),
         "--host-sockets", str(tmp_path), "--managers", "2", "--workers", "1", "--speed", "10"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    clients: dict[str, docker.APIClient] = {}
    try:
        deadline = time.monotonic() + 60
        while "serving" not in (tmp_path / "serve.log").read_text():
            assert proc.poll() is None and time.monotonic() < deadline, (
                tmp_path / "serve.log"
            ).read_text()
            time.sleep(0.1)
        urls = {name: f"unix://{tmp_path / name}.sock" for name in HOSTS}
        clients = {
            name: docker.APIClient(base_url=url, version="auto") for name, url in urls.items()
        }
        docker_py_story.tell(clients, lambda name: name, urls, ("busybox:1", "busybox:2"))
    finally:
        for client in clients.values():
            client.close()
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(30)
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert proc.returncode == 0, (tmp_path / "serve.log").read_text()
    assert not any(tmp_path.glob("*.sock"))  # every socket removed
