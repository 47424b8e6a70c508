"""Where the Engine API listens: a unix socket for root and root's group only, and TCP
only with TLS that demands a client certificate from the configured CA."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from core.model.enums import NodeRole
from real.engine.app import build_app
from real.engine.listen import EngineListener, ListenError, TLSFiles, parse_tcp, server_tls
from tests.ca.support import make_root, node_cert
from tests.engine.support import StepBackend, world

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_pki(directory: Path, seed: int) -> tuple[TLSFiles, Path, Path]:
    """A CA, a server certificate and key, and a client certificate and key."""
    now = time.time()
    root = make_root(seed, wall=now)
    ca = directory / f"ca-{seed}.pem"
    ca.write_bytes(root.cert_pem)
    files = []
    for name, node_seed in (("server", seed + 1), ("client", seed + 2)):
        cert, key = node_cert(root, NodeRole.MANAGER, seed=node_seed, wall=now)
        (directory / f"{name}-{seed}.pem").write_bytes(cert)
        (directory / f"{name}-{seed}-key.pem").write_bytes(key)
        files.append(directory / f"{name}-{seed}")
    server, client = files
    return (
        TLSFiles(str(ca), f"{server}.pem", f"{server}-key.pem"),
        Path(f"{client}.pem"),
        Path(f"{client}-key.pem"),
    )


def client_context(ca: str, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca)
    context.check_hostname = False  # node certificates name nodes, not the test's address
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


def test_tcp_needs_a_client_certificate_from_the_ca(tmp_path: Path) -> None:
    tls, cert, key = write_pki(tmp_path, 10)
    _, stranger_cert, stranger_key = write_pki(tmp_path, 20)  # another CA's client
    port = free_port()

    async def scenario() -> list[object]:
        listener = EngineListener(build_app(StepBackend(world(1, 0), "manager-1")))
        await listener.start()
        await listener.tcp(f"tcp://127.0.0.1:{port}", tls)
        seen: list[object] = []
        try:
            for context in (
                client_context(tls.ca, cert, key),
                client_context(tls.ca),
                client_context(tls.ca, stranger_cert, stranger_key),
            ):
                try:
                    async with (
                        aiohttp.ClientSession() as session,
                        session.get(f"https://127.0.0.1:{port}/_ping", ssl=context) as answer,
                    ):
                        seen.append((answer.status, await answer.text()))
                except (aiohttp.ClientError, ssl.SSLError, ConnectionError) as error:
                    seen.append(type(error).__name__)
        finally:
            await listener.close()
        return seen

    ok, anonymous, stranger = asyncio.run(scenario())
    assert ok == (200, "OK")
    assert isinstance(anonymous, str) and isinstance(stranger, str)  # refused in the handshake


def test_the_unix_socket_is_for_root_and_roots_group(tmp_path: Path) -> None:
    path = tmp_path / "shoal.sock"
    path.write_text("left by a daemon killed -9")

    async def scenario() -> os.stat_result:
        listener = EngineListener(build_app(StepBackend(world(1, 0), "manager-1")))
        await listener.start()
        await listener.unix(path)
        try:
            return path.stat()
        finally:
            await listener.close()

    seen = asyncio.run(scenario())
    assert stat.S_ISSOCK(seen.st_mode) and stat.S_IMODE(seen.st_mode) == 0o660
    if os.geteuid() == 0:
        assert seen.st_gid == 0
    assert not path.exists()  # removed on close


def test_tcp_listeners_are_refused_without_certificates(tmp_path: Path) -> None:
    with pytest.raises(ListenError, match="needs --tlscacert, --tlscert and --tlskey"):
        server_tls(None)
    with pytest.raises(ListenError, match="needs --tlscacert"):
        server_tls(TLSFiles("ca.pem", "", "key.pem"))
    with pytest.raises(ListenError, match="cannot load"):
        tls, _, _ = write_pki(tmp_path, 30)
        server_tls(TLSFiles(tls.ca, tls.key, tls.key))
    assert parse_tcp("tcp://10.0.0.1:2376") == ("10.0.0.1", 2376)
    assert parse_tcp("tcp://:2376") == ("0.0.0.0", 2376)
    for bad in ("unix:///x", "tcp://10.0.0.1", "tcp://10.0.0.1:0", "tcp://h:port"):
        with pytest.raises(ListenError):
            parse_tcp(bad)
    daemon = subprocess.run(
        [sys.executable, "-m", "cli.main", "daemon", "--data-dir", str(tmp_path / "d"),
         "--listen-addr", "127.0.0.1:2377", "-H", "tcp://127.0.0.1:2376"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert daemon.returncode == 1
    assert "clients must present a certificate" in daemon.stderr
    assert "Traceback" not in daemon.stderr
