"""Where the Engine API listens: a unix socket only root (and root's group) may
use, as dockerd's ``docker.sock``; and, when asked, TCP with TLS that demands a
client certificate signed by the given CA (dockerd's ``--tlsverify``), since
whoever reaches the API commands the swarm."""

from __future__ import annotations

import contextlib
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from core.errors import ShoalError

SOCKET_MODE = 0o660
ROOT_GID = 0
SHUTDOWN_SECONDS = 2.0


class ListenError(ShoalError):
    """The API cannot listen as asked (a bad address, missing certificates)."""


@dataclass(frozen=True)
class TLSFiles:
    ca: str
    cert: str
    key: str


def parse_tcp(host: str) -> tuple[str, int]:
    """``tcp://ADDR:PORT`` as ``-H`` takes it."""
    if not host.startswith("tcp://"):
        raise ListenError(f"invalid -H {host!r}: only tcp://ADDRESS:PORT is served over TCP")
    address, sep, port = host[len("tcp://") :].rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ListenError(f"invalid -H {host!r}: a port (1-65535) is required")
    return address.strip("[]") or "0.0.0.0", int(port)


def server_tls(files: TLSFiles | None) -> ssl.SSLContext:
    """TLS that refuses a client without a certificate from ``files.ca``."""
    if files is None or not (files.ca and files.cert and files.key):
        raise ListenError(
            "a TCP listener needs --tlscacert, --tlscert and --tlskey: clients must present "
            "a certificate"
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=files.ca)
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(files.cert, files.key)
    except (OSError, ssl.SSLError) as error:
        raise ListenError(f"cannot load the TLS certificate {files.cert}: {error}") from None
    return context


class EngineListener:
    """The app's sockets: one unix socket, and TCP ones when asked."""

    def __init__(self, app: web.Application) -> None:
        # open streams (logs followed) get this long to end once the server stops
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
        self.paths: list[Path] = []

    async def start(self) -> None:
        await self.runner.setup()

    async def unix(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # left by a daemon killed -9 (its lock says none runs)
        await web.UnixSite(self.runner, str(path)).start()
        os.chmod(path, SOCKET_MODE)
        if os.geteuid() == 0:  # only root may hand a file to root's group
            os.chown(path, -1, ROOT_GID)
        self.paths.append(path)

    async def tcp(self, host: str, tls: TLSFiles | None) -> None:
        address, port = parse_tcp(host)
        context = server_tls(tls)
        try:
            await web.TCPSite(self.runner, address, port, ssl_context=context).start()
        except OSError as error:
            raise ListenError(f"cannot listen on {host}: {error.strerror or error}") from None

    async def close(self) -> None:
        await self.runner.cleanup()
        for path in self.paths:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
