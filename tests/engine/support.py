"""Serving the Engine API over a simulated swarm in tests: the world steps only
while a call waits for its reply, and the server runs on a thread of its own so a
blocking client (docker-py, the docker CLI) can talk to it from the test."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
from aiohttp import web

from core.manager.requests import ClientReply
from real.engine.app import Routes, build_app
from sim.cluster import ClusterConfig, ClusterWorld, standard_hosts
from sim.serve import host_info

ROOT = Path(__file__).resolve().parents[2]


class StepBackend:
    """A simulated host as the backend: each call runs the world until its reply."""

    def __init__(self, world: ClusterWorld, host: str) -> None:
        self.world, self.host = world, host

    async def call(self, method: str, params: dict[str, Any]) -> ClientReply:
        return self.world.call(self.host, method, **params)

    def info(self) -> Mapping[str, Any]:
        return host_info(self.world, self.host)


def world(managers: int = 3, workers: int = 2, seed: int = 1, formed: bool = True) -> ClusterWorld:
    """A simulated swarm (formed), or its hosts booted outside any swarm."""
    built = ClusterWorld(ClusterConfig(hosts=standard_hosts(managers, workers)), seed)
    if formed:
        built.form_swarm()
    else:
        built.boot_all()
    return built


@contextlib.contextmanager
def serving(backend: Any, *extra: Routes) -> Iterator[str]:
    """The Engine API over ``backend`` on a unix socket; yields its ``unix://`` URL."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner = web.AppRunner(build_app(backend, extra))
    with tempfile.TemporaryDirectory() as directory:
        path = str(Path(directory) / "engine.sock")

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.UnixSite(runner, path).start())
            started.set()
            loop.run_forever()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        started.wait(10)
        try:
            yield f"unix://{path}"
        finally:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()


@contextlib.contextmanager
def api_client(backend: Any, *extra: Routes) -> Iterator[docker.APIClient]:
    """docker-py's low-level client, version negotiated as ``version='auto'`` does."""
    with serving(backend, *extra) as url:
        client = docker.APIClient(base_url=url, version="auto", timeout=60)
        try:
            yield client
        finally:
            client.close()


@contextlib.contextmanager
def sim_serve_process(directory: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``shoal sim serve ARGS`` as a process, once it says it serves (its sockets
    then listen); stopped with SIGTERM at the end (its log: ``directory/serve.log``)."""
    log_path = directory / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "sim", "serve", *args],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while "serving" not in log_path.read_text():
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "shoal sim serve did not start serving"
                time.sleep(0.1)
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
