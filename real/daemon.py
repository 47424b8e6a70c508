"""``shoal daemon``: one host's swarm daemon, the :class:`~real.driver.Driver` behind
Docker's Engine API (real/engine) on ``<data dir>/shoal.sock`` (0660, group root, as
dockerd's socket; shoal's own commands use it too, see :mod:`real.control`), and on
TCP with ``-H tcp://ADDR:PORT`` where clients must present a certificate from
``--tlscacert``.

The data directory holds the WAL, the API socket and a lock file: one daemon per
data directory (a second one is refused rather than let two processes write one
log). Everything in it is created private (umask 077): the WAL holds the node's key.
SIGTERM or SIGINT stops the daemon cleanly; a failed WAL stops it with status 1, and
kill -9 at any time is survived by recovering from the WAL at the next start.

As dockerd's swarm: ``--listen-addr`` (``0.0.0.0:2377`` by default) is where the
transport binds, ``--advertise-addr`` the node's address to its peers (its name on
the transport, the address join commands print), required when the listen address
is a wildcard; see :mod:`real.addresses`. Both are fixed when the daemon starts:
``swarm init``/``join`` naming others are refused.

``--allow-test-faults`` (shoal's test hosts pass it, nothing else should) lets the
control socket's test-only requests delay the daemon's messages, step its wall clock
and stall its WAL (real/testfaults.py); without it they are refused, naming the flag.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from core.errors import ShoalError
from core.manager.requests import ClientReply, ClientRequest
from real.addresses import (
    ADVERTISE_PARAM,
    DEFAULT_PORT,
    LISTEN_PARAM,
    Addresses,
    check_bindable,
    daemon_addresses,
    refusal,
)
from real.control import DEFAULT_DATA_DIR, SOCKET_NAME
from real.engine.app import build_app
from real.engine.listen import EngineListener, ListenError, TLSFiles, parse_tcp, server_tls
from real.files import OsFiles
from real.stallfiles import StallingFiles
from real.testfaults import FLAG, TEST_FAULT, TestFaults, test_faults_off

if TYPE_CHECKING:
    from real.driver import Driver

log = logging.getLogger(__name__)

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
LOCK_NAME = "shoal.lock"
DEFAULT_LISTEN = f"0.0.0.0:{DEFAULT_PORT}"
DEFAULT_NETNS_PREFIX = "shoal-"


class DaemonError(ShoalError):
    """The daemon cannot start as asked (a bad address, a data directory in use)."""


#: The requests that carry the node's own addresses (``swarm init``/``join`` flags).
ADDRESSED_METHODS = ("SwarmInit", "SwarmJoin")


def address_refusal(addresses: Addresses, request: ClientRequest) -> ClientReply | None:
    """A ``swarm init``/``join`` whose address flags name other addresses than the
    daemon's, refused (None: nothing to refuse)."""
    if request.method not in ADDRESSED_METHODS:
        return None
    for flag in (ADVERTISE_PARAM, LISTEN_PARAM):
        asked = request.params.get(flag)
        why = refusal(addresses, flag, str(asked)) if asked else None
        if why is not None:
            return ClientReply(request.id, False, error=why, code="InvalidArgument")
    return None


@contextlib.contextmanager
def locked(data_dir: Path) -> Iterator[None]:
    """Hold the data directory's lock for the daemon's life."""
    with open(data_dir / LOCK_NAME, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DaemonError(f"another shoal daemon is using {data_dir}") from None
        yield


class DaemonBackend:
    """The driver as the Engine API's backend: ``swarm init``/``join`` naming other
    addresses than the daemon's are refused before they reach the node, and the
    test-only requests (real/testfaults.py) unless ``test_faults`` is given."""

    def __init__(
        self, driver: Driver, addresses: Addresses, test_faults: TestFaults | None = None
    ) -> None:
        self.driver, self.addresses, self.test_faults = driver, addresses, test_faults

    async def call(self, method: str, params: dict[str, Any]) -> ClientReply:
        if method == TEST_FAULT:
            faults = self.test_faults
            return test_faults_off() if faults is None else faults.answer(params)
        if method in ADDRESSED_METHODS:
            # On a thread: an interface name is resolved over netlink (pyroute2 runs an
            # event loop of its own), and nothing blocking runs on this one.
            asked = ClientRequest("", method, params)
            refused = await asyncio.to_thread(address_refusal, self.addresses, asked)
            if refused is not None:
                return refused
            params = {k: v for k, v in params.items() if k not in (ADVERTISE_PARAM, LISTEN_PARAM)}
        return await self.driver.call(method, params)

    def info(self) -> dict[str, Any]:
        return self.driver.info()


async def serve(
    data_dir: Path,
    addresses: Addresses,
    docker_host: str,
    api_hosts: tuple[str, ...] = (),
    tls: TLSFiles | None = None,
    netns_prefix: str = DEFAULT_NETNS_PREFIX,
    allow_test_faults: bool = False,
) -> int:
    import docker  # only the daemon needs the SDK
    import requests.exceptions

    from real.agent.executor import CONNECTIONS
    from real.agent.sdk import docker_client
    from real.driver import Driver, DriverConfig

    try:
        client = docker_client(docker_host, connections=CONNECTIONS)
    except docker.errors.DockerException as error:
        raise DaemonError(f"cannot use dockerd at {docker_host}: {error}") from None
    config = DriverConfig(
        host=addresses.advertise,
        data_dir=data_dir,
        listen=addresses.listen,
        netns_prefix=netns_prefix,
    )
    files = StallingFiles(OsFiles())
    driver = Driver(config, client, files=files)
    test_faults = TestFaults(driver, files) if allow_test_faults else None
    listener = EngineListener(build_app(DaemonBackend(driver, addresses, test_faults)))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        try:
            await driver.start()
        except (docker.errors.DockerException, requests.exceptions.ConnectionError) as error:
            raise DaemonError(f"cannot use dockerd at {docker_host}: {error}") from None
        await listener.start()
        await listener.unix(data_dir / SOCKET_NAME)
        for host in api_hosts:
            await listener.tcp(host, tls)
        log.info(
            "shoal daemon listening on %s, advertising %s, API on unix://%s%s",
            addresses.listen_text,
            addresses.advertise,
            data_dir / SOCKET_NAME,
            "".join(f" and {h}" for h in api_hosts),
        )
        assert driver.failed is not None
        failed = driver.failed
        stopping = asyncio.ensure_future(stop.wait())
        failed.add_done_callback(lambda _: stop.set())
        await stopping
        if failed.done():
            print(f"shoal daemon: {failed.result()}", file=sys.stderr)
            return 1
        return 0
    except ListenError as error:
        raise DaemonError(str(error)) from None
    finally:
        if test_faults is not None:
            test_faults.end()
        await listener.close()
        await driver.close()
        client.close()


def run(args: Any, err: TextIO | None = None) -> int:
    """``shoal daemon --data-dir D [--listen-addr A:PORT] [--advertise-addr A[:PORT]]
    [--docker-host URL] [--netns-prefix P] [--allow-test-faults]``."""
    logging.basicConfig(
        stream=err or sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    addresses = daemon_addresses(args.listen_addr, args.advertise_addr or None)  # "": unset
    os.umask(0o077)
    data_dir = Path(args.data_dir).absolute()
    data_dir.mkdir(parents=True, exist_ok=True)
    docker_host = args.docker_host or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    api_hosts = tuple(args.api_host or ())
    tls = TLSFiles(args.tlscacert or "", args.tlscert or "", args.tlskey or "")
    try:
        for host in api_hosts:  # refused before anything starts
            parse_tcp(host)
            server_tls(tls)
    except ListenError as error:
        raise DaemonError(str(error)) from None
    with locked(data_dir):
        check_bindable(addresses.listen)
        prefix = args.netns_prefix
        allow = bool(args.allow_test_faults)
        return asyncio.run(serve(data_dir, addresses, docker_host, api_hosts, tls, prefix, allow))


def add_parser(commands: Any) -> None:
    daemon = commands.add_parser(
        "daemon",
        help="run this host's swarm daemon",
        description=__doc__,
    )
    daemon.add_argument(
        "--data-dir", default=DEFAULT_DATA_DIR, help=f"state directory (default {DEFAULT_DATA_DIR})"
    )
    daemon.add_argument(
        "--listen-addr",
        default=DEFAULT_LISTEN,
        help=f"ADDRESS|INTERFACE[:PORT] the swarm port binds to (default {DEFAULT_LISTEN})",
    )
    daemon.add_argument(
        "--advertise-addr",
        default=None,
        help="ADDRESS|INTERFACE[:PORT] peers reach this host at (the port defaults to the "
        "listen port; required when the listen address is a wildcard)",
    )
    daemon.add_argument(
        "--docker-host", default=None, help=f"dockerd to run containers on ({DEFAULT_DOCKER_HOST})"
    )
    daemon.add_argument(
        "--netns-prefix",
        default=DEFAULT_NETNS_PREFIX,
        help="the overlay networks' namespaces are named with it (default "
        f"{DEFAULT_NETNS_PREFIX!r}; hosts sharing one machine need distinct ones)",
    )
    daemon.add_argument(
        "-H",
        "--host",
        dest="api_host",
        action="append",
        metavar="tcp://ADDRESS:PORT",
        help="also serve the Engine API over TCP (TLS with client certificates; the unix "
        "socket <data dir>/shoal.sock is always served)",
    )
    daemon.add_argument(
        FLAG,
        dest="allow_test_faults",
        action="store_true",
        help="answer the test-only fault requests (delay, clock step, disk stall): for "
        "shoal's test hosts only, never in production",
    )
    for flag, what in (
        ("--tlscacert", "CA that client certificates must chain to"),
        ("--tlscert", "the API's TLS certificate"),
        ("--tlskey", "the API's TLS key"),
    ):
        daemon.add_argument(flag, default=None, help=what)
