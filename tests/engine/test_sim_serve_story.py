"""The docker-py story the real-mode tests tell a 3-host shoal cluster, told to
``shoal sim serve`` with a socket per simulated host: the same calls, the same
answers, without Docker."""

from __future__ import annotations

from pathlib import Path

import docker

from tests.engine import docker_py_story
from tests.engine.support import sim_serve_process

ROOT = Path(__file__).resolve().parents[2]
HOSTS = ("manager-1", "manager-2", "worker-1")


def test_docker_py_tells_the_same_story_to_a_simulated_swarm(tmp_path: Path) -> None:
    args = ("--socket", str(tmp_path / "api.sock"), "--host-sockets", str(tmp_path),
            "--managers", "2", "--workers", "1", "--speed", "10")  # fmt: skip
    with sim_serve_process(tmp_path, *args) as proc:
        urls = {name: f"unix://{tmp_path / name}.sock" for name in HOSTS}
        clients = {
            name: docker.APIClient(base_url=url, version="auto") for name, url in urls.items()
        }
        try:
            docker_py_story.tell(clients, lambda name: name, urls, ("busybox:1", "busybox:2"))
        finally:
            for client in clients.values():
                client.close()
    assert proc.returncode == 0, (tmp_path / "serve.log").read_text()
    assert not any(tmp_path.glob("*.sock"))  # every socket removed
